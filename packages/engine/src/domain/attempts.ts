import { LIMITS, type StepDefinition, type TaskKind, type TaskState, taskIdParts } from "@baton/contract";
import { backoffDelayMs } from "./backoff.ts";

/** What the planner needs to know of one attempt row. */
export interface TaskSnapshot {
  executionId: string;
  taskId: string;
  kind: TaskKind;
  attempt: number;
  maxAttempts: number;
  state: TaskState;
  input: unknown;
  output: unknown;
  error: unknown;
}

/** An attempt to insert: a step's (or an element's) first, a retry, or one written settled. */
export interface TaskToSchedule {
  taskId: string;
  kind: TaskKind;
  attempt: number;
  maxAttempts: number;
  queue: string;
  leaseMs: number;
  input: unknown;
  delayMs: number;
  /** Written finished at once, never leased (see SettledAttempt). */
  settled?: SettledAttempt;
}

/**
 * An attempt the planner settles itself: SKIPPED (the step's `when` did not hold), or a fan-out
 * step settled at its start (COMPLETED with `[]` for an empty list, FAILED for a list it cannot use).
 */
export type SettledAttempt =
  | { state: "SKIPPED"; reason: string }
  | { state: "COMPLETED"; output: unknown; reason: string }
  | { state: "FAILED"; error: unknown };

const FAILED_STATES: readonly TaskState[] = ["FAILED", "TIMED_OUT"];

/** The latest attempt of each task (a step, or an element of a fan-out step) and kind. */
export class Attempts {
  private readonly latestByTask = new Map<string, TaskSnapshot>();
  private readonly byElement = new Map<string, Map<number, TaskSnapshot>>();

  constructor(tasks: TaskSnapshot[]) {
    for (const t of tasks) {
      const seen = this.latestByTask.get(key(t.taskId, t.kind));
      if (seen && seen.attempt >= t.attempt) continue;
      this.latestByTask.set(key(t.taskId, t.kind), t);
      const { step, elementIndex } = taskIdParts(t.taskId);
      if (elementIndex === null) continue;
      const elements = this.byElement.get(key(step, t.kind)) ?? new Map<number, TaskSnapshot>();
      this.byElement.set(key(step, t.kind), elements.set(elementIndex, t));
    }
  }

  latest(taskId: string, kind: TaskKind): TaskSnapshot | undefined {
    return this.latestByTask.get(key(taskId, kind));
  }

  /** The latest attempt of each element of a fan-out step, by element index. */
  elements(step: string, kind: TaskKind): ReadonlyMap<number, TaskSnapshot> {
    return this.byElement.get(key(step, kind)) ?? new Map();
  }
}

function key(taskId: string, kind: TaskKind): string {
  return `${kind}:${taskId}`;
}

/** A failed (or timed-out) attempt with none left after it. */
export function isExhausted(task: TaskSnapshot | undefined): boolean {
  return task !== undefined && FAILED_STATES.includes(task.state) && task.attempt >= task.maxAttempts;
}

/** The first attempt of a step's DO or UNDO (or of one element's: `taskId` names it). */
export function firstAttempt(step: StepDefinition, kind: TaskKind, input: unknown, taskId = step.name): TaskToSchedule {
  const target = kind === "DO" || !step.undo ? { queue: step.queue, leaseMs: step.leaseMs } : step.undo;
  return { taskId, kind, attempt: 1, maxAttempts: step.retry.maxAttempts, ...target, input, delayMs: 0 };
}

/**
 * What follows a task's latest attempt: its retry when it failed with attempts left, or a new run
 * when it was cancelled (released unstarted, or cancelled by a compensation a manual retry has
 * since undone: no attempt is spent). Null when it needs nothing.
 */
export function followUp(step: StepDefinition, last: TaskSnapshot): TaskToSchedule | null {
  if (FAILED_STATES.includes(last.state) && !isExhausted(last)) return nextAttempt(step, last, retryDelayMs(step, last));
  if (last.state === "CANCELLED") return { ...nextAttempt(step, last, 0), maxAttempts: last.maxAttempts + 1 };
  return null;
}

function nextAttempt(step: StepDefinition, last: TaskSnapshot, delayMs: number): TaskToSchedule {
  const target = last.kind === "DO" || !step.undo ? { queue: step.queue, leaseMs: step.leaseMs } : step.undo;
  return {
    taskId: last.taskId,
    kind: last.kind,
    attempt: last.attempt + 1,
    maxAttempts: last.maxAttempts,
    ...target,
    input: last.input,
    delayMs,
  };
}

/**
 * How long a failed attempt's retry waits: the step's backoff, or longer when the failure asked for
 * it (`retryAfterMs` in the attempt's error, e.g. a service's Retry-After), up to the longest backoff.
 */
function retryDelayMs(step: StepDefinition, last: TaskSnapshot): number {
  const backoff = backoffDelayMs(step.retry, last.attempt);
  const asked = (last.error as { retryAfterMs?: unknown } | null)?.retryAfterMs;
  if (typeof asked !== "number" || !Number.isFinite(asked)) return backoff;
  return Math.max(backoff, Math.min(Math.round(asked), LIMITS.maxBackoffMs));
}
