import type { AcquiredTask } from "@baton/contract";
import type { Logger } from "pino";
import type { Database } from "../db/database.ts";
import { parseQueueWake, type QueueWake, TASK_CHANNEL } from "../store/tasks.ts";
import type { LocalHandoffs, ParkedPoll } from "./local-handoffs.ts";
import type { LocalWakes } from "./local-wakes.ts";
import type { PollRecorder } from "./poll-recorder.ts";
import { MAX_ACQUIRE, type TaskCoordinator } from "./task-coordinator.ts";

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
 *
 * A worker that was just handed fewer tasks than it asked for polls again at once. The queue was
 * drained by that look and nothing has woken it since, so the new poll parks without a query
 * (see `drained`): on a steady trickle that is one statement per task instead of two.
 */
export class TaskDispatcher {
  private readonly waiters = new Set<Waiter>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private unlisten: (() => Promise<void>) | undefined;
  /**
   * Queues the last look found drained (it handed out fewer tasks than asked for), with when, and
   * no wake for them since. Trusted for a poll interval at most, and only while LISTEN is up:
   * anything that becomes available without a wake is found by the same safety-net look that
   * finds it for parked waiters.
   */
  private readonly drained = new Map<string, number>();
  /** Counts wakes, so a look that a wake overtook does not mark its queues drained. */
  private wakeCount = 0;
  private listening = false;

  constructor(
    private readonly database: Database,
    private readonly tasks: TaskCoordinator,
    private readonly polls: PollRecorder,
    private readonly pollIntervalMs: number,
    private readonly logger: Pick<Logger, "warn">,
    private readonly localWakes: LocalWakes,
    private readonly handoffs: LocalHandoffs,
  ) {
    localWakes.listen((wakes) => {
      for (const wake of wakes) this.wakeWhenDue(wake);
    });
  }

  async start(): Promise<void> {
    // After the LISTEN connection comes back, wake everyone: notifications sent meanwhile are lost.
    this.unlisten = await this.database.listen(TASK_CHANNEL, (payload) => this.onNotify(payload), {
      onReconnect: () => {
        this.listening = true;
        this.wake(null);
      },
      onLost: (error) => {
        this.listening = false;
        this.logger.warn({ err: error }, "task dispatcher: the LISTEN connection is down; reconnecting, waiting acquirers poll meanwhile");
      },
    });
    this.listening = true;
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.listening = false;
    for (const w of this.waiters) w.wake();
    await this.unlisten?.();
    this.unlisten = undefined;
  }

  /** Number of callers currently parked. */
  get waiting(): number {
    return this.waiters.size;
  }

  /** Tasks a write of this process handed straight to a parked poll, so far (LocalHandoffs). */
  get handedOff(): number {
    return this.handoffs.handedOff;
  }

  /** Polls waiting now after a look that found nothing: those a write may hand tasks to. */
  get parkedPolls(): number {
    return this.handoffs.parkedCount;
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
    // Only a poll that may wait skips its first look: an immediate answer is always looked up.
    let skip = params.waitMs > 0 && this.knownDrained(params.queues);
    for (;;) {
      if (params.signal?.aborted) return [];
      // Register before looking, so a NOTIFY that lands while the query runs is not missed.
      const woken = this.park(params);
      try {
        const tasks = skip ? [] : await this.lookFor(params);
        if (tasks.length > 0 || params.signal?.aborted) return tasks;
        const left = deadline - Date.now();
        // A skipped look is made after the wait, also when the wait runs out.
        if (left <= 0 && !skip) return [];
        skip = false;
        // A start that handed this poll tasks while it waited answers it (also past an abort: the
        // caller releases what it cannot take, as for a look that was running). None: look again.
        const handed = await woken.wait(Math.min(Math.max(left, 0), this.pollIntervalMs));
        if (handed.length > 0) return handed;
      } finally {
        woken.cancel();
      }
    }
  }

  /** One acquire statement; when it hands out fewer than asked and no wake overtook it, its queues are drained. */
  private async lookFor(params: WaitingAcquire): Promise<AcquiredTask[]> {
    const wakesBefore = this.wakeCount;
    const tasks = await this.tasks.acquire(params);
    if (this.listening && tasks.length < Math.min(params.max, MAX_ACQUIRE) && this.wakeCount === wakesBefore) {
      const now = Date.now();
      for (const queue of params.queues) this.drained.set(queue, now);
    }
    return tasks;
  }

  /** Every queue was found drained less than a poll interval ago, and none was woken since. */
  private knownDrained(queues: string[]): boolean {
    if (!this.listening) return false;
    const since = Date.now() - this.pollIntervalMs;
    return queues.every((queue) => (this.drained.get(queue) ?? -Infinity) > since);
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
    this.wakeCount++;
    if (queue === null) this.drained.clear();
    else this.drained.delete(queue);
    for (const w of this.waiters) if (queue === null || w.queues.has(queue)) w.wake();
  }

  /**
   * Registers a waiter for wakes of its queues. While it waits, it is also a parked poll that a
   * start may hand tasks to: `wait` then resolves with them once that start's statement is done.
   */
  private park({ queues, workerId, max, signal }: WaitingAcquire) {
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
    let unpark: (() => void) | undefined;
    let handed: Promise<AcquiredTask[]> | undefined;
    const poll: ParkedPoll = {
      queues: waiter.queues,
      workerId,
      max: Math.min(max, MAX_ACQUIRE),
      claim: () => {
        let deliver: (tasks: AcquiredTask[]) => void = () => {};
        handed = new Promise((r) => {
          deliver = r;
        });
        waiter.wake();
        return deliver;
      },
    };
    const stopWaiting = () => {
      clearTimeout(timer);
      unpark?.();
    };
    return {
      wait: async (ms: number): Promise<AcquiredTask[]> => {
        if (!notified) {
          await new Promise<void>((r) => {
            resolve = r;
            timer = setTimeout(r, ms);
            unpark = this.handoffs.park(poll);
          });
          stopWaiting();
        }
        return handed ? await handed : [];
      },
      cancel: () => {
        stopWaiting();
        this.waiters.delete(waiter);
        signal?.removeEventListener("abort", onAbort);
      },
    };
  }
}
