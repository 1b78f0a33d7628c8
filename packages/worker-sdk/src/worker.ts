import { setMaxListeners } from "node:events";
import type { AcquiredTask } from "@baton/contract";
import type { Handlers, QueueRoute } from "./handler.ts";
import { routeHandlers } from "./handler.ts";
import { consoleLogger, type Logger } from "./logger.ts";
import { Reports } from "./report-batcher.ts";
import { backoffDelay, DEFAULT_RETRY_POLICY, type RetryPolicy, sleep, withRetry } from "./retry-policy.ts";
import { TaskLease } from "./task-lease.ts";
import { reportOutcome, runHandler, type TaskRunDeps } from "./task-run.ts";
import { type ConnectOptions, connect } from "./transport/connect.ts";
import type { Transport } from "./transport/transport.ts";
import type { WorkerEvent } from "./worker-events.ts";

export type WorkerOptions = ConnectOptions & {
  /** Handlers keyed by step name: a function (DO only) or `{ queue?, do, undo? }`. */
  handlers: Handlers;
  /** The workflow the steps belong to: names the default queues, `<workflow>.<step>`. */
  workflow?: string;
  /** Most tasks run at once (default 10). */
  concurrency?: number;
  /**
   * Most tasks leased ahead of free slots, held (and heartbeated) in a local queue so that a slot
   * that frees starts its next task at once instead of waiting for an acquire (default: equal to
   * `concurrency`; 0 to 1000; 0 leases only for free slots). Lower it when handlers are long and
   * several workers share a small backlog: a prefetched task waits here even if another worker is idle.
   */
  prefetch?: number;
  /** This worker's identity as lease holder (default: a random UUID, unique per process start). */
  workerId?: string;
  /** How long one acquire may wait on the server for work (default 20000 ms). */
  pollWaitMs?: number;
  /** Time between automatic heartbeats (default: a third of each task's lease). */
  heartbeatIntervalMs?: number;
  /**
   * How long a heartbeat, completion or failure waits for others of its kind to share one request
   * (default 2 ms; 0 to 100). 0 sends, on the event loop's next turn, whatever has gathered by then.
   */
  reportBatchMs?: number;
  /** How reporting outcomes (and polling) back off on transient failures. */
  retry?: Partial<RetryPolicy>;
  /** pino-shaped logger (default: warnings and errors on the console). */
  logger?: Logger;
  /** Called synchronously for every worker event; must not throw. */
  onEvent?: (event: WorkerEvent) => void;
};

export interface StopOptions {
  /** How long in-flight handlers may take to finish before they are abandoned (default 30000 ms). */
  deadlineMs?: number;
}

export interface Worker {
  readonly id: string;
  /** The queues this worker polls. */
  readonly queues: readonly string[];
  /** Handlers running right now (tasks waiting in the local queue and reports in flight not counted). */
  readonly inFlight: number;
  /**
   * Stops polling at once (nothing is acquired or started after this is called), hands back the
   * tasks waiting in the local queue, lets running handlers finish and report within `deadlineMs`,
   * then aborts the rest and leaves their attempts to their leases. Resolves when the worker has
   * let go of everything and every report has been answered or given up.
   */
  stop(options?: StopOptions): Promise<{ abandoned: number }>;
}

/**
 * Starts a worker: it long-polls Baton for the queues of its handlers, as many tasks as it has
 * free slots and room in its local queue (`prefetch`), runs each under its lease with automatic
 * heartbeats, and reports the outcome with the lease's fence token in the background, so a slot
 * takes its next task as soon as its handler returns.
 * @example
 * const worker = createWorker({
 *   url: "http://localhost:8080",
 *   workflow: "tenantCreation",
 *   handlers: {
 *     createRealm: { do: async ({ input }) => realms.create(input.tenant), undo: async ({ input }) => realms.delete(input.tenant) },
 *   },
 * });
 * process.on("SIGTERM", () => worker.stop({ deadlineMs: 10_000 }));
 */
export function createWorker(options: WorkerOptions): Worker {
  const concurrency = options.concurrency ?? 10;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 1000) {
    throw new TypeError(`concurrency: expected an integer from 1 to 1000, got ${options.concurrency}`);
  }
  const prefetch = options.prefetch ?? concurrency;
  if (!Number.isInteger(prefetch) || prefetch < 0 || prefetch > MAX_PREFETCH) {
    throw new TypeError(`prefetch: expected an integer from 0 to ${MAX_PREFETCH}, got ${options.prefetch}`);
  }
  const pollWaitMs = options.pollWaitMs ?? 20_000;
  if (!Number.isFinite(pollWaitMs) || pollWaitMs < 0 || pollWaitMs > 300_000) {
    throw new TypeError(`pollWaitMs: expected 0 to 300000 ms, got ${options.pollWaitMs}`);
  }
  if (options.heartbeatIntervalMs !== undefined && !(options.heartbeatIntervalMs > 0)) {
    throw new TypeError(`heartbeatIntervalMs: expected a positive number of ms, got ${options.heartbeatIntervalMs}`);
  }
  const reportBatchMs = options.reportBatchMs ?? DEFAULT_REPORT_BATCH_MS;
  if (!Number.isFinite(reportBatchMs) || reportBatchMs < 0 || reportBatchMs > MAX_REPORT_BATCH_MS) {
    throw new TypeError(`reportBatchMs: expected 0 to ${MAX_REPORT_BATCH_MS} ms, got ${options.reportBatchMs}`);
  }
  if (options.workerId !== undefined && (typeof options.workerId !== "string" || options.workerId.length === 0)) {
    throw new TypeError("workerId: expected a non-empty string");
  }
  const routes = routeHandlers(options.handlers, options.workflow);
  const worker = new PollingWorker(connect(options, "createWorker"), routes, {
    concurrency,
    prefetch,
    pollWaitMs,
    workerId: options.workerId ?? crypto.randomUUID(),
    heartbeatIntervalMs: options.heartbeatIntervalMs,
    reportBatchMs,
    retryPolicy: { ...DEFAULT_RETRY_POLICY, ...options.retry },
    logger: options.logger ?? consoleLogger,
    onEvent: options.onEvent,
  });
  worker.start();
  return worker;
}

const DEFAULT_REPORT_BATCH_MS = 2;
/** A report waits at most this long: the shortest lease a step may have (100 ms) must outlast it. */
const MAX_REPORT_BATCH_MS = 100;
const MAX_PREFETCH = 1000;
/** Reports (and releases) in flight at most, per task the worker may hold (concurrency + prefetch). */
const REPORTS_PER_TASK_HELD = 4;

interface Settings {
  concurrency: number;
  prefetch: number;
  pollWaitMs: number;
  workerId: string;
  heartbeatIntervalMs: number | undefined;
  reportBatchMs: number;
  retryPolicy: RetryPolicy;
  logger: Logger;
  onEvent: ((event: WorkerEvent) => void) | undefined;
}

class PollingWorker implements Worker {
  readonly id: string;
  readonly queues: readonly string[];
  /** Handlers running now, one per busy slot. */
  private readonly running = new Set<Promise<void>>();
  /** The local queue: tasks leased (and heartbeated) ahead of a free slot, oldest first. */
  private readonly waiting: TaskLease[] = [];
  /** Reports and releases not yet answered. The slots they came from are free already. */
  private readonly reporting = new Set<Promise<void>>();
  private readonly maxReporting: number;
  /** Aborts the long-poll in flight when stop begins. */
  private readonly polling = new AbortController();
  /** Aborts in-flight handlers and report retries when the stop deadline passes. */
  private readonly hardStop = new AbortController();
  private wakeLoop: (() => void) | undefined;
  private loop: Promise<void> = Promise.resolve();
  private stopping: Promise<{ abandoned: number }> | undefined;
  private readonly reports: Reports;
  private readonly deps: TaskRunDeps;

  constructor(
    private readonly transport: Transport,
    private readonly routes: Map<string, QueueRoute>,
    private readonly settings: Settings,
  ) {
    this.id = settings.workerId;
    this.queues = [...routes.keys()];
    this.maxReporting = REPORTS_PER_TASK_HELD * (settings.concurrency + settings.prefetch);
    // Every running handler and every report waiting out a retry listens for the hard stop.
    setMaxListeners(settings.concurrency + this.maxReporting + 10, this.hardStop.signal);
    this.reports = new Reports(transport, settings.reportBatchMs);
    this.deps = {
      reports: this.reports,
      workerId: settings.workerId,
      logger: settings.logger,
      retryPolicy: settings.retryPolicy,
      heartbeatIntervalMs: settings.heartbeatIntervalMs,
      emit: (event) => this.emit(event),
      hardStop: this.hardStop.signal,
    };
  }

  get inFlight(): number {
    return this.running.size;
  }

  start(): void {
    const { concurrency, prefetch, logger } = this.settings;
    logger.info({ workerId: this.id, queues: this.queues, concurrency, prefetch }, "worker started");
    this.loop = this.pollLoop();
  }

  stop(options: StopOptions = {}): Promise<{ abandoned: number }> {
    this.stopping ??= this.shutdown(options.deadlineMs ?? 30_000);
    return this.stopping;
  }

  private async shutdown(deadlineMs: number): Promise<{ abandoned: number }> {
    this.polling.abort();
    this.wake();
    // What is gathered goes out now rather than after its batch delay.
    this.reports.flush();
    // Tasks still waiting for a slot never started: hand them back now, so others run them at once.
    this.release(this.waiting.splice(0), "the worker is stopping");
    await this.loop;
    // The loop has ended and nothing starts any more: what runs and reports now is all there is.
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<"deadline">((resolve) => {
      timer = setTimeout(() => resolve("deadline"), deadlineMs);
    });
    const first = await Promise.race([this.settled(), deadline]);
    clearTimeout(timer);
    let abandoned = 0;
    if (first === "deadline") {
      abandoned = this.running.size;
      this.hardStop.abort();
    }
    // Reports still gathered or in flight (of tasks that finished as the deadline passed) are
    // answered before 'stopped'; one turn of the event loop lets their tasks take the answers.
    await this.settled();
    await this.reports.drain();
    await new Promise(setImmediate);
    this.settings.logger.info({ workerId: this.id, abandoned }, "worker stopped");
    this.emit({ type: "stopped" });
    return { abandoned };
  }

  /** Resolves once no handler runs and every report and release has been answered or given up. */
  private async settled(): Promise<void> {
    while (this.running.size > 0 || this.reporting.size > 0) await Promise.allSettled([...this.running, ...this.reporting]);
  }

  private async pollLoop(): Promise<void> {
    const { concurrency, prefetch, pollWaitMs, retryPolicy, logger } = this.settings;
    let failures = 0;
    while (!this.polling.signal.aborted) {
      const room = concurrency + prefetch - this.running.size - this.waiting.length;
      // Outcomes are reported in the background; bounding them keeps a server that hands out
      // tasks but does not answer reports from making them pile up here.
      if (room <= 0 || this.reporting.size >= this.maxReporting) {
        await new Promise<void>((resolve) => {
          this.wakeLoop = resolve;
        });
        continue;
      }
      let tasks: AcquiredTask[];
      try {
        tasks = await this.transport.acquire({
          workerId: this.id,
          queues: [...this.queues],
          max: room,
          waitMs: pollWaitMs,
          signal: this.polling.signal,
        });
        failures = 0;
      } catch (error) {
        if (this.polling.signal.aborted) break;
        const delayMs = backoffDelay(retryPolicy, failures++);
        logger.warn({ workerId: this.id, failures, delayMs, error: String(error) }, "acquire failed; polling again after a pause");
        this.emit({ type: "poll-error", error });
        await sleep(delayMs, this.polling.signal);
        continue;
      }
      for (const task of tasks) this.accept(task);
      this.dispatch();
      // One turn of the event loop before the next acquire: handlers that finish at once free
      // their slots first, so the next acquire asks for that room too instead of a sliver.
      if (tasks.length > 0) await new Promise(setImmediate);
    }
  }

  /** Takes a leased task into the local queue and heartbeats it from now on. */
  private accept(task: AcquiredTask): void {
    const lease = new TaskLease(task, this.deps);
    if (!this.routes.has(task.queue)) {
      this.settings.logger.error({ ...lease.fields, queue: task.queue }, "no handler serves this queue; handing the task back");
      this.release([lease], "no handler");
      return;
    }
    // Leased while stop began (the long-poll was answered as it was cut short): never started.
    if (this.polling.signal.aborted) {
      this.release([lease], "the worker is stopping");
      return;
    }
    lease.onLost = () => {
      const at = this.waiting.indexOf(lease);
      if (at >= 0) this.waiting.splice(at, 1);
      this.wake();
    };
    lease.startHeartbeats();
    this.waiting.push(lease);
  }

  /**
   * Starts waiting tasks while slots are free. A task whose lease ran low while it waited (its
   * heartbeats failed) is handed back instead of started.
   */
  private dispatch(): void {
    const stale: TaskLease[] = [];
    while (this.running.size < this.settings.concurrency && !this.polling.signal.aborted) {
      const lease = this.waiting.shift();
      if (!lease) break;
      if (lease.startable) this.run(lease);
      else stale.push(lease);
    }
    this.release(stale, "its lease ran low while it waited for a slot");
  }

  /** Runs the handler in a slot; the slot is free as soon as it returns, and its outcome is reported in the background. */
  private run(lease: TaskLease): void {
    lease.onLost = undefined;
    const route = this.routes.get(lease.task.queue) as QueueRoute;
    const slot: Promise<void> = runHandler(lease, route, this.deps)
      .then((outcome) => {
        if (outcome) this.track(reportOutcome(lease, outcome, this.deps));
      })
      .catch((error: unknown) => {
        this.settings.logger.error({ ...lease.fields, error: String(error) }, "task run crashed");
      })
      .finally(() => {
        this.running.delete(slot);
        this.dispatch();
        this.wake();
      });
    this.running.add(slot);
  }

  /** Hands leased tasks back unstarted (best effort: what is not released is left to its lease). */
  private release(leases: TaskLease[], reason: string): void {
    if (leases.length === 0) return;
    for (const lease of leases) lease.stopHeartbeats();
    const refs = leases.map((lease) => lease.ref);
    const { logger, retryPolicy } = this.settings;
    this.track(
      withRetry(() => this.transport.release(refs), retryPolicy, { signal: this.hardStop.signal }).then(
        ({ released }) => logger.info({ workerId: this.id, released, tasks: refs.length, reason }, "handed back tasks that never started"),
        (error: unknown) =>
          logger.warn(
            { workerId: this.id, executionIds: refs.map((r) => r.executionId), reason, error: String(error) },
            "could not hand back tasks that never started; they are left to their leases",
          ),
      ),
    );
  }

  private track(write: Promise<void>): void {
    const tracked: Promise<void> = write
      .catch((error: unknown) => {
        this.settings.logger.error({ workerId: this.id, error: String(error) }, "report crashed");
      })
      .finally(() => {
        this.reporting.delete(tracked);
        this.wake();
      });
    this.reporting.add(tracked);
  }

  private wake(): void {
    const wake = this.wakeLoop;
    this.wakeLoop = undefined;
    wake?.();
  }

  private emit(event: WorkerEvent): void {
    try {
      this.settings.onEvent?.(event);
    } catch (error) {
      this.settings.logger.error({ workerId: this.id, event: event.type, error: String(error) }, "onEvent threw");
    }
  }
}
