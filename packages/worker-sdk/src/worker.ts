import { setMaxListeners } from "node:events";
import type { AcquiredTask } from "@baton/engine/contract";
import type { Handlers, QueueRoute } from "./handler.ts";
import { routeHandlers } from "./handler.ts";
import { consoleLogger, type Logger } from "./logger.ts";
import { Reports } from "./report-batcher.ts";
import { backoffDelay, DEFAULT_RETRY_POLICY, type RetryPolicy, sleep } from "./retry-policy.ts";
import { runTask, type TaskRunDeps } from "./task-run.ts";
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
  /** Tasks being run right now. */
  readonly inFlight: number;
  /**
   * Stops polling at once (nothing is acquired after this is called), lets running handlers finish
   * and report within `deadlineMs`, then aborts the rest and leaves their attempts to their leases.
   * Resolves when the worker has let go of everything.
   */
  stop(options?: StopOptions): Promise<{ abandoned: number }>;
}

/**
 * Starts a worker: it long-polls Baton for the queues of its handlers, as many tasks as it has
 * free slots, runs each under its lease with automatic heartbeats, and reports the outcome with
 * the lease's fence token.
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

interface Settings {
  concurrency: number;
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
  private readonly running = new Set<Promise<void>>();
  /** Aborts the long-poll in flight when stop begins. */
  private readonly polling = new AbortController();
  /** Aborts in-flight handlers when the stop deadline passes. */
  private readonly hardStop = new AbortController();
  private slotFreed: (() => void) | undefined;
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
    // Every running task listens for the hard stop: up to `concurrency` listeners is expected.
    setMaxListeners(settings.concurrency + 10, this.hardStop.signal);
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
    this.settings.logger.info({ workerId: this.id, queues: this.queues, concurrency: this.settings.concurrency }, "worker started");
    this.loop = this.pollLoop();
  }

  stop(options: StopOptions = {}): Promise<{ abandoned: number }> {
    this.stopping ??= this.shutdown(options.deadlineMs ?? 30_000);
    return this.stopping;
  }

  private async shutdown(deadlineMs: number): Promise<{ abandoned: number }> {
    this.polling.abort();
    this.slotFreed?.();
    // What is gathered goes out now rather than after its batch delay.
    this.reports.flush();
    await this.loop;
    // The loop has ended: `running` holds everything this worker will ever run.
    const settled = Promise.allSettled([...this.running]);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<"deadline">((resolve) => {
      timer = setTimeout(() => resolve("deadline"), deadlineMs);
    });
    const first = await Promise.race([settled, deadline]);
    clearTimeout(timer);
    let abandoned = 0;
    if (first === "deadline") {
      abandoned = this.running.size;
      this.hardStop.abort();
    }
    // Reports still gathered or in flight (of tasks that finished as the deadline passed) are
    // answered before 'stopped'; one turn of the event loop lets their tasks take the answers.
    await this.reports.drain();
    await new Promise(setImmediate);
    this.settings.logger.info({ workerId: this.id, abandoned }, "worker stopped");
    this.emit({ type: "stopped" });
    return { abandoned };
  }

  private async pollLoop(): Promise<void> {
    const { concurrency, pollWaitMs, retryPolicy, logger } = this.settings;
    let failures = 0;
    while (!this.polling.signal.aborted) {
      const free = concurrency - this.running.size;
      if (free <= 0) {
        await new Promise<void>((resolve) => {
          this.slotFreed = resolve;
        });
        continue;
      }
      let tasks: AcquiredTask[];
      try {
        tasks = await this.transport.acquire({
          workerId: this.id,
          queues: [...this.queues],
          max: free,
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
      // Tasks that arrive after stop began are leased to us already: they run like the others.
      for (const task of tasks) this.run(task);
    }
  }

  private run(task: AcquiredTask): void {
    const route = this.routes.get(task.queue);
    const done: Promise<void> = (
      route
        ? runTask(task, route, this.deps)
        : Promise.reject(new Error(`no handler serves queue '${task.queue}' (the worker only asks for its own queues)`))
    )
      .catch((error: unknown) => {
        this.settings.logger.error({ workerId: this.id, executionId: task.executionId, error: String(error) }, "task run crashed");
      })
      .finally(() => {
        this.running.delete(done);
        const wake = this.slotFreed;
        this.slotFreed = undefined;
        wake?.();
      });
    this.running.add(done);
  }

  private emit(event: WorkerEvent): void {
    try {
      this.settings.onEvent?.(event);
    } catch (error) {
      this.settings.logger.error({ workerId: this.id, event: event.type, error: String(error) }, "onEvent threw");
    }
  }
}
