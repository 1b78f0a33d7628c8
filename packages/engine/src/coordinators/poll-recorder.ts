import type { Logger } from "pino";
import type { Db } from "../db/database.ts";
import { workerRecordPoll } from "../store/workers.ts";

/**
 * Records which worker polls which queue (for step readiness) without a write on every poll: at
 * most one write per worker and queue per `intervalMs`. The write is not awaited, so a slow or
 * failing database never delays an acquire; a failed write is logged and simply tried again on
 * the next poll (readiness is advisory).
 */
export class PollRecorder {
  private readonly lastWrite = new Map<string, number>();
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly db: Db,
    private readonly intervalMs: number,
    private readonly logger: Pick<Logger, "warn">,
  ) {}

  record(workerId: string, queues: string[]): void {
    const now = Date.now();
    const due = [...new Set(queues)].filter((q) => now - (this.lastWrite.get(key(workerId, q)) ?? 0) >= this.intervalMs);
    if (due.length === 0) return;
    if (this.lastWrite.size > 100_000) this.forgetOlderThan(now - this.intervalMs);
    for (const q of due) this.lastWrite.set(key(workerId, q), now);
    const write = workerRecordPoll(this.db, workerId, due).then(
      () => undefined,
      (error: unknown) => {
        for (const q of due) this.lastWrite.delete(key(workerId, q));
        this.logger.warn({ err: error, workerId, queues: due }, "could not record a worker poll; trying again on its next poll");
      },
    );
    this.inFlight.add(write);
    void write.finally(() => this.inFlight.delete(write));
  }

  /** Resolves once the writes already started have finished (before the database is closed). */
  async settled(): Promise<void> {
    await Promise.all(this.inFlight);
  }

  private forgetOlderThan(cutoff: number): void {
    for (const [k, t] of this.lastWrite) if (t < cutoff) this.lastWrite.delete(k);
  }
}

const key = (workerId: string, queue: string) => `${workerId}\u0000${queue}`;
