import type {
  AcquiredTask,
  BatonError,
  InstancePage,
  InstanceSummary,
  InstanceView,
  RegisterResult,
  StartResult,
  TaskOutcome,
} from "@baton/contract";

export type InstanceState = InstanceSummary["state"];

export interface AcquireParams {
  workerId: string;
  queues: string[];
  max: number;
  /** How long the server may hold the request open when nothing is available (long-poll). */
  waitMs: number;
  /** Aborting ends the wait; an aborted acquire answers `[]` rather than throwing. */
  signal?: AbortSignal;
}

/** Identifies a lease: every write about a task carries it (DESIGN §4). */
export interface LeaseRef {
  executionId: string;
  workerId: string;
  fenceToken: number;
}

export interface StartParams {
  runId?: string;
  input?: Record<string, unknown>;
  namespace?: string;
  /**
   * Wait up to this long (0 to MAX_RUN_WAIT_MS, 60,000 ms) for the run to end; the answer then
   * carries its state, output and error (a StartWaitResult). Without it the start answers at once.
   */
  waitMs?: number;
}

/** A start that waited (`waitMs`): the run's state when the answer came, with its output and error. */
export interface StartWaitResult extends StartResult {
  /** The run's output (the map of step outputs) once COMPLETED; else null. */
  output: unknown;
  /** Why the run failed or was compensated; else null. */
  error: unknown;
}

export interface ListParams {
  workflow?: string;
  state?: InstanceState;
  namespace?: string;
  cursor?: string;
  limit?: number;
}

/** What a manual retry scheduled. */
export interface RetryResult {
  executionId: string;
  taskId: string;
  kind: "DO" | "UNDO";
  attempt: number;
}

/** What reporting an outcome carries besides the lease. */
export type CompleteReport = LeaseRef & { output: unknown };
export type FailReport = LeaseRef & { error: unknown; retryable: boolean };

/**
 * One item's answer in a batch: its result, or the `BatonError` that refused it (the same error the
 * single call would have thrown). A refused item never affects the others.
 */
export type ItemAnswer<T> = T | BatonError;

/**
 * How the worker and the client talk to Baton: over HTTP (`createHttpTransport`) or to an engine
 * in the same process (`createInProcessTransport`). Every failure is a `BatonError` with the
 * server's `code`; network failures are `UNAVAILABLE`.
 */
export interface Transport {
  acquire(params: AcquireParams): Promise<AcquiredTask[]>;
  heartbeat(lease: LeaseRef): Promise<{ leaseExpiresAt: string }>;
  complete(report: CompleteReport): Promise<TaskOutcome>;
  fail(report: FailReport): Promise<TaskOutcome>;
  /**
   * The batch forms: one answer per item, in order. They reject only when the request as a whole
   * failed (e.g. UNAVAILABLE); then no item got an answer, and sending them again is safe.
   */
  heartbeatMany(leases: LeaseRef[]): Promise<ItemAnswer<{ leaseExpiresAt: string }>[]>;
  completeMany(reports: CompleteReport[]): Promise<ItemAnswer<TaskOutcome>[]>;
  failMany(reports: FailReport[]): Promise<ItemAnswer<TaskOutcome>[]>;
  /**
   * Hands leases back unstarted: each step is scheduled again at once without spending an attempt.
   * Answers how many were released; a lease no longer held as named is left as it is.
   */
  release(leases: LeaseRef[]): Promise<{ released: number }>;

  register(definition: unknown): Promise<RegisterResult>;
  /** With `waitMs`, answers when the run has ended or the wait ran out (a StartWaitResult). */
  start(workflow: string, params: StartParams): Promise<StartResult | StartWaitResult>;
  get(instanceId: string): Promise<InstanceView>;
  list(params: ListParams): Promise<InstancePage>;
  pause(instanceId: string): Promise<{ state: InstanceState }>;
  resume(instanceId: string): Promise<{ state: InstanceState }>;
  cancel(instanceId: string): Promise<{ state: InstanceState }>;
  compensate(instanceId: string, fromTaskId?: string): Promise<{ state: InstanceState }>;
  retry(instanceId: string, taskId: string, input?: unknown): Promise<RetryResult>;
}
