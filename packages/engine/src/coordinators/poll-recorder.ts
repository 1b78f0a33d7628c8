import type { Db } from "../db/database.ts";
import { workerRecordPoll } from "../store/workers.ts";

/**
 * Records which worker polls which queue (for step readiness) without a write on every poll: at
 * most one write per worker and queue per `intervalMs`. The write is not awaited, so a slow or
 * failing database never delays an acquire; a failed write is reported to `onError` and simply
 * tried again on the next poll (readiness is advisory).
 */
export class PollRecorder {
  private readonly lastWrite = new Map<string, number>();

  constructor(
    private readonly db: Db,
    private readonly intervalMs = 5000,
    private readonly onError: (error: unknown, workerId: string) => void = () => {},
  ) {}

  record(workerId: string, queues: string[]): void {
    const now = Date.now();
    const due = [...new Set(queues)].filter((q) => now - (this.lastWrite.get(key(workerId, q)) ?? 0) >= this.intervalMs);
    if (due.length === 0) return;
    if (this.lastWrite.size > 100_000) this.forgetOlderThan(now - this.intervalMs);
    for (const q of due) this.lastWrite.set(key(workerId, q), now);
    workerRecordPoll(this.db, workerId, due).catch((error: unknown) => {
      for (const q of due) this.lastWrite.delete(key(workerId, q));
      this.onError(error, workerId);
    });
  }

  private forgetOlderThan(cutoff: number): void {
    for (const [k, t] of this.lastWrite) if (t < cutoff) this.lastWrite.delete(k);
  }
}

const key = (workerId: string, queue: string) => `${workerId}\u0000${queue}`;
