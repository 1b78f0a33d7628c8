import type { AcquiredTask } from "@baton/contract";
import type { BatonError } from "./errors.ts";

/**
 * What a worker reports through `onEvent`: enough to follow it in tests and metrics, without
 * parsing logs.
 */
export type WorkerEvent =
  | { type: "task-started"; task: AcquiredTask }
  | { type: "task-completed"; task: AcquiredTask; output: unknown }
  | { type: "task-failed"; task: AcquiredTask; error: { message: string }; retryable: boolean }
  /** The lease was lost; the handler's signal was aborted and its result is not recorded. */
  | { type: "lease-lost"; task: AcquiredTask; error: BatonError; phase: "heartbeat" | "complete" | "fail" }
  /** The worker stopped past its deadline while the handler ran; the attempt is left to its lease. */
  | { type: "task-abandoned"; task: AcquiredTask }
  /** The outcome could not be reported (the server stayed unreachable); the attempt is left to its lease. */
  | { type: "report-failed"; task: AcquiredTask; error: unknown }
  | { type: "poll-error"; error: unknown }
  | { type: "stopped" };
