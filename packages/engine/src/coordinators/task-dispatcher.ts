import type { AcquiredTask } from "@baton/contract";
import type { Logger } from "pino";
import type { Database } from "../db/database.ts";
import { parseQueueWake, type QueueWake, TASK_CHANNEL } from "../store/tasks.ts";
import type { LocalWakes } from "./local-wakes.ts";
import type { PollRecorder } from "./poll-recorder.ts";
import type { TaskCoordinator } from "./task-coordinator.ts";

export interface WaitingAcquire {
  queues: string[];
  workerId: string;
  max: number;
  /** How long to wait for tasks when none are available now; 0 answers at once. */
  waitMs: number;
  /** Aborting (e.g. the HTTP client went away) ends the wait with nothing handed out. */
  signal?: AbortSignal;
}

interface Waiter {
  queues: Set<string>;
  wake: () => void;
}

/**
 * Long-poll acquire: answers at once when tasks are there, else parks the caller in memory (no
 * database connection held) until a NOTIFY names one of its queues, the safety-net poll comes
 * round, or the wait ends. One LISTEN connection serves every waiter of the process. Every poll
 * is recorded (throttled) for step readiness, whichever transport it came through.
 */
export class TaskDispatcher {
  private readonly waiters = new Set<Waiter>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private unlisten: (() => Promise<void>) | undefined;

  constructor(
    private readonly database: Database,
    private readonly tasks: TaskCoordinator,
    private readonly polls: PollRecorder,
    private readonly pollIntervalMs: number,
    private readonly logger: Pick<Logger, "warn">,
    private readonly localWakes: LocalWakes,
  ) {
    localWakes.listen((wakes) => {
      for (const wake of wakes) this.wakeWhenDue(wake);
    });
  }

  async start(): Promise<void> {
    // After the LISTEN connection comes back, wake everyone: notifications sent meanwhile are lost.
    this.unlisten = await this.database.listen(TASK_CHANNEL, (payload) => this.onNotify(payload), {
      onReconnect: () => this.wake(null),
      onLost: (error) =>
        this.logger.warn({ err: error }, "task dispatcher: the LISTEN connection is down; reconnecting, waiting acquirers poll meanwhile"),
    });
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const w of this.waiters) w.wake();
    await this.unlisten?.();
    this.unlisten = undefined;
  }

  /** Number of callers currently parked. */
  get waiting(): number {
    return this.waiters.size;
  }

  async acquire(params: WaitingAcquire): Promise<AcquiredTask[]> {
    this.polls.record(params.workerId, params.queues);
    try {
      return await this.acquireWaiting(params);
    } finally {
      // Again after a long wait, so a worker that long-polls an idle queue stays "ready".
      this.polls.record(params.workerId, params.queues);
    }
  }

  private async acquireWaiting(params: WaitingAcquire): Promise<AcquiredTask[]> {
    const deadline = Date.now() + params.waitMs;
    for (;;) {
      if (params.signal?.aborted) return [];
      // Register before looking, so a NOTIFY that lands while the query runs is not missed.
      const woken = this.park(params.queues, params.signal);
      try {
        const tasks = await this.tasks.acquire(params);
        if (tasks.length > 0 || params.signal?.aborted) return tasks;
        const left = deadline - Date.now();
        if (left <= 0) return [];
        await woken.wait(Math.min(left, this.pollIntervalMs));
      } finally {
        woken.cancel();
      }
    }
  }

  private onNotify(payload: string): void {
    const { sender, ...wake } = parseQueueWake(payload);
    // This process's own commits woke its waiters already (LocalWakes).
    if (sender !== this.localWakes.id) this.wakeWhenDue(wake);
  }

  private wakeWhenDue({ queue, delayMs }: QueueWake): void {
    if (delayMs <= 0) {
      this.wake(queue);
      return;
    }
    // A retry after backoff: look again when it is due (a few ms late, so it is due by then).
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.wake(queue);
    }, delayMs + 10);
    timer.unref();
    this.timers.add(timer);
  }

  private wake(queue: string | null): void {
    for (const w of this.waiters) if (queue === null || w.queues.has(queue)) w.wake();
  }

  private park(queues: string[], signal: AbortSignal | undefined) {
    let notified = false;
    let resolve: (() => void) | undefined;
    const waiter: Waiter = {
      queues: new Set(queues),
      wake: () => {
        notified = true;
        resolve?.();
      },
    };
    this.waiters.add(waiter);
    const onAbort = () => waiter.wake();
    signal?.addEventListener("abort", onAbort, { once: true });
    let timer: NodeJS.Timeout | undefined;
    return {
      wait: (ms: number) =>
        new Promise<void>((r) => {
          if (notified) return r();
          resolve = r;
          timer = setTimeout(r, ms);
        }),
      cancel: () => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
        signal?.removeEventListener("abort", onAbort);
      },
    };
  }
}
