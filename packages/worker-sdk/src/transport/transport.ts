import type {
  AcquiredTask,
  InstancePage,
  InstanceSummary,
  InstanceView,
  RegisterResult,
  StartResult,
  TaskOutcome,
} from "@baton/engine/contract";

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

/**
 * How the worker and the client talk to Baton: over HTTP (`createHttpTransport`) or to an engine
 * in the same process (`createInProcessTransport`). Every failure is a `BatonError` with the
 * server's `code`; network failures are `UNAVAILABLE`.
 */
export interface Transport {
  acquire(params: AcquireParams): Promise<AcquiredTask[]>;
  heartbeat(lease: LeaseRef): Promise<{ leaseExpiresAt: string }>;
  complete(lease: LeaseRef & { output: unknown }): Promise<TaskOutcome>;
  fail(lease: LeaseRef & { error: unknown; retryable: boolean }): Promise<TaskOutcome>;

  register(definition: unknown): Promise<RegisterResult>;
  start(workflow: string, params: StartParams): Promise<StartResult>;
  get(instanceId: string): Promise<InstanceView>;
  list(params: ListParams): Promise<InstancePage>;
  pause(instanceId: string): Promise<{ state: InstanceState }>;
  resume(instanceId: string): Promise<{ state: InstanceState }>;
  cancel(instanceId: string): Promise<{ state: InstanceState }>;
  compensate(instanceId: string, fromTaskId?: string): Promise<{ state: InstanceState }>;
  retry(instanceId: string, taskId: string, input?: unknown): Promise<RetryResult>;
}
