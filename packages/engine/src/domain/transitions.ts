import { BatonError, type InstanceState, type TaskState } from "@baton/contract";
import type { EventType, HistoryEvent } from "./history-events.ts";

/*
 * The instance and task state machines as data: every move either may make, what makes it, and
 * the event it appends to the instance's history. InstanceChange moves an instance only along
 * these rows (a move that is not here is a bug, refused as INTERNAL), the coordinators read from
 * them which states allow an operator's request, the event fold reads the state each event leads
 * to, and docs/state-machine.md prints them (a test compares the two).
 */

/** What moves an instance: its start, the planner, an operator's request, or the deadline pass. */
export type InstanceTrigger = "start" | "plan" | "pause" | "resume" | "cancel" | "compensate" | "expire" | "retry";

export interface InstanceMove {
  /** null: the instance is new. */
  from: InstanceState | null;
  to: InstanceState;
  by: InstanceTrigger;
  event: EventType;
  /** What makes the move, as the diagram labels it. */
  why: string;
}

/**
 * Every move of an instance. The planner may make several in one change (a failure with nothing to
 * undo is COMPENSATING, then FAILED; a manual undo with nothing to undo is COMPENSATING, then
 * COMPENSATED). Rows of one trigger are in the order its refusals list the states it allows.
 */
export const INSTANCE_MOVES = [
  { from: null, to: "RUNNING", by: "start", event: "WORKFLOW_STARTED", why: "startWorkflow" },
  { from: "RUNNING", to: "PAUSED", by: "pause", event: "WORKFLOW_PAUSED", why: "pause" },
  { from: "PAUSED", to: "RUNNING", by: "resume", event: "WORKFLOW_RESUMED", why: "resume" },
  { from: "RUNNING", to: "COMPLETED", by: "plan", event: "WORKFLOW_COMPLETED", why: "every step settled" },
  { from: "RUNNING", to: "CANCELLED", by: "cancel", event: "WORKFLOW_CANCELLED", why: "cancel" },
  { from: "PAUSED", to: "CANCELLED", by: "cancel", event: "WORKFLOW_CANCELLED", why: "cancel" },
  { from: "RUNNING", to: "COMPENSATING", by: "plan", event: "COMPENSATION_STARTED", why: "a step failed for good" },
  { from: "RUNNING", to: "COMPENSATING", by: "compensate", event: "COMPENSATION_STARTED", why: "triggerCompensation" },
  { from: "PAUSED", to: "COMPENSATING", by: "compensate", event: "COMPENSATION_STARTED", why: "triggerCompensation" },
  { from: "FAILED", to: "COMPENSATING", by: "compensate", event: "COMPENSATION_STARTED", why: "triggerCompensation" },
  {
    from: "COMPLETED",
    to: "COMPENSATING",
    by: "compensate",
    event: "COMPENSATION_STARTED",
    why: "triggerCompensation (undo of a finished run)",
  },
  { from: "RUNNING", to: "COMPENSATING", by: "expire", event: "COMPENSATION_STARTED", why: "past the workflow's timeoutMs" },
  { from: "PAUSED", to: "COMPENSATING", by: "expire", event: "COMPENSATION_STARTED", why: "past the workflow's timeoutMs" },
  {
    from: "COMPENSATING",
    to: "COMPENSATED",
    by: "plan",
    event: "WORKFLOW_COMPENSATED",
    why: "every UNDO completed, or nothing to undo",
  },
  { from: "COMPENSATING", to: "COMPENSATION_FAILED", by: "plan", event: "COMPENSATION_FAILED", why: "an UNDO failed for good" },
  {
    from: "COMPENSATING",
    to: "FAILED",
    by: "plan",
    event: "WORKFLOW_FAILED",
    why: "a step failed (or the deadline passed) with nothing to undo",
  },
  { from: "FAILED", to: "RUNNING", by: "retry", event: "WORKFLOW_REOPENED", why: "retryTask (re-runs the failed DO)" },
  {
    from: "COMPENSATION_FAILED",
    to: "COMPENSATING",
    by: "retry",
    event: "WORKFLOW_REOPENED",
    why: "retryTask (re-runs the failed UNDO)",
  },
] as const satisfies readonly InstanceMove[];

type InstanceMoveRow = (typeof INSTANCE_MOVES)[number];

/** Where a trigger's moves may go. */
export type TargetOf<B extends InstanceTrigger> = Extract<InstanceMoveRow, { by: B }>["to"];

/** The event a trigger's moves (to `To`) write. */
export type EventOf<B extends InstanceTrigger, To extends InstanceState = InstanceState> = Extract<
  InstanceMoveRow,
  { by: B; to: To }
>["event"];

/** The move `by` makes from `from` (the planner, which has several, names where to), if the machine has one. */
export function instanceMove(from: InstanceState | null, by: InstanceTrigger, to?: InstanceState): InstanceMove | undefined {
  return INSTANCE_MOVES.find((m) => m.from === from && m.by === by && (to === undefined || m.to === to));
}

/** The states from which `by` moves an instance. */
export function statesAllowing(by: InstanceTrigger): InstanceState[] {
  return INSTANCE_MOVES.flatMap((m) => (m.by === by && m.from !== null ? [m.from] : []));
}

export interface TaskMove {
  /** null: the attempt is new. */
  from: TaskState | null;
  to: TaskState;
  /** null: the move writes no event (a lease grant or heartbeat; the outcome event records the lease). */
  event: EventType | null;
  why: string;
}

/** Every move of an attempt (one row of `task_executions`; a retry is a new attempt). */
export const TASK_MOVES = [
  { from: null, to: "PENDING", event: "TASK_SCHEDULED", why: "scheduled (available_at = now() + backoff)" },
  { from: null, to: "SKIPPED", event: "TASK_SKIPPED", why: "the step's when does not hold (written finished, never leased)" },
  { from: null, to: "COMPLETED", event: "TASK_COMPLETED", why: "a fan-out over an empty list (output [], never leased)" },
  { from: null, to: "FAILED", event: "TASK_FAILED", why: "a fan-out over a list it cannot use (one attempt, never leased)" },
  { from: "PENDING", to: "LEASED", event: null, why: "acquire (fresh fence token, lease_expires_at = now() + leaseMs)" },
  { from: "LEASED", to: "LEASED", event: null, why: "heartbeat (same fence, lease extended)" },
  { from: "LEASED", to: "COMPLETED", event: "TASK_COMPLETED", why: "complete (fence, holder, unexpired)" },
  { from: "LEASED", to: "FAILED", event: "TASK_FAILED", why: "fail (fence, holder, unexpired)" },
  { from: "LEASED", to: "TIMED_OUT", event: "TASK_TIMED_OUT", why: "reaper, after lease_expires_at" },
  { from: "PENDING", to: "CANCELLED", event: "TASK_CANCELLED", why: "cancel / compensation / deadline" },
  { from: "LEASED", to: "CANCELLED", event: "TASK_CANCELLED", why: "cancel / deadline / release (handed back unstarted)" },
] as const satisfies readonly TaskMove[];

type TaskMoveRow = (typeof TASK_MOVES)[number];

/** Task moves by where they start, then where they end: looked up for every attempt an outcome closes. */
const TASK_EVENTS = new Map<TaskState | null, Map<TaskState, EventType | null>>();
for (const m of TASK_MOVES) TASK_EVENTS.set(m.from, (TASK_EVENTS.get(m.from) ?? new Map()).set(m.to, m.event));

/** The event an attempt's move from `F` to `T` writes (for unions of states: any of their moves' events). */
export type TaskEventOf<F extends TaskState | null, T extends TaskState> = NonNullable<Extract<TaskMoveRow, { from: F; to: T }>["event"]>;

/** The event an attempt's move writes. Throws INTERNAL for a move the machine does not have, or one that writes none. */
export function taskEvent<F extends TaskState | null, T extends TaskState>(from: F, to: T): TaskEventOf<F, T> {
  const event = TASK_EVENTS.get(from)?.get(to);
  if (!event) throw new BatonError("INTERNAL", `An attempt's move from ${from ?? "nothing"} to ${to} writes no event`, { from, to });
  return event as TaskEventOf<F, T>;
}

/** The state each instance event leads to: the `to` its moves share, or null where they differ. */
const INSTANCE_STATE_AFTER = new Map<string, InstanceState | null>();
for (const m of INSTANCE_MOVES) {
  const seen = INSTANCE_STATE_AFTER.get(m.event);
  INSTANCE_STATE_AFTER.set(m.event, seen === undefined || seen === m.to ? m.to : null);
}

/** The state each task event leaves its attempt in. */
const TASK_STATE_AFTER = new Map<string, TaskState>(TASK_MOVES.flatMap((m) => (m.event === null ? [] : [[m.event, m.to]])));

/** The state an event leaves its instance in; undefined for an event that is not an instance's move. */
export function instanceStateAfter(event: HistoryEvent): InstanceState | undefined {
  const to = INSTANCE_STATE_AFTER.get(event.type);
  // WORKFLOW_REOPENED goes back to RUNNING or to COMPENSATING (its two moves differ): its payload names which.
  if (to === null && event.type === "WORKFLOW_REOPENED") return event.payload.state;
  return to ?? undefined;
}

/** The state an event leaves the attempt it names in; undefined for an event that is not an attempt's move. */
export function taskStateAfter(type: string): TaskState | undefined {
  return TASK_STATE_AFTER.get(type);
}
