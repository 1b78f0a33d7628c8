import type { Caller, InstanceState, TaskKind } from "@baton/contract";
import type { InstanceError } from "./reconcile.ts";

/*
 * The events of an instance's history, with their payloads: what InstanceChange records and what
 * the event fold replays. Which move of the state machines writes which event is in
 * `transitions.ts`.
 */

/** Who asked for a change by hand, as the history records it. */
export type Requester = Pick<Caller, "keyId" | "name" | "role">;

/** The attempt a task event is about. */
type AttemptRef = { executionId: string; taskId: string; kind: TaskKind; attempt: number };

/** The lease an attempt had when it ended: its outcome event records it (a lease grant writes no event). */
type LeaseFacts = { fenceToken: number | null; workerId: string | null; startedAt: string | null };

/** Each event type and its payload. */
export type EventPayloads = {
  WORKFLOW_STARTED: { input: Record<string, unknown>; runId: string; workflowVersion: number };
  WORKFLOW_PAUSED: Record<string, never>;
  WORKFLOW_RESUMED: Record<string, never>;
  WORKFLOW_CANCELLED: Record<string, never>;
  WORKFLOW_COMPLETED: { output: Record<string, unknown> };
  /** `requestedBy` and `fromState` when started by hand or by the deadline; the fold ignores both. */
  COMPENSATION_STARTED: { error: InstanceError; fromTaskId?: string; requestedBy?: Requester; fromState?: InstanceState };
  WORKFLOW_COMPENSATED: Record<string, never>;
  COMPENSATION_FAILED: { error: InstanceError };
  WORKFLOW_FAILED: { error: InstanceError };
  /** A failed step retried by hand: `state` is where the instance went back to. */
  WORKFLOW_REOPENED: { state: InstanceState; taskId: string; kind: TaskKind };
  TASK_SCHEDULED: AttemptRef & { queue: string; delayMs: number };
  /** A leased attempt's completion, or a fan-out over an empty list completed at its start (`reason`). */
  TASK_COMPLETED: AttemptRef & { output: unknown } & (LeaseFacts | { reason: string });
  /** A leased attempt's failure, or a fan-out over a list it cannot use, failed at its start. */
  TASK_FAILED: AttemptRef & { error: unknown } & Partial<LeaseFacts>;
  TASK_TIMED_OUT: AttemptRef & LeaseFacts & { error: unknown };
  TASK_CANCELLED: AttemptRef;
  TASK_SKIPPED: AttemptRef & { reason: string };
};

export type EventType = keyof EventPayloads;

/** One event of an instance's history. */
export type HistoryEvent = { [T in EventType]: { type: T; payload: EventPayloads[T] } }[EventType];
