import { LIMITS } from "../contract/limits.ts";
import { backoffDelayMs } from "./backoff.ts";
import { conditionHolds } from "./condition.ts";
import { ancestorsOf, type StepDefinition, type WorkflowDefinition } from "./definition.ts";
import type { InstanceState, TaskKind, TaskState } from "./states.ts";

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

export interface InstanceSnapshot {
  state: InstanceState;
  input: Record<string, unknown>;
  error: InstanceError | null;
  compensateFrom: string | null;
}

/** Why an instance stopped running forward, as stored in `workflow_instances.error`. */
export interface InstanceError {
  reason: "STEP_FAILED" | "COMPENSATION_REQUESTED" | "UNDO_FAILED" | "DEADLINE_EXCEEDED";
  step?: string;
  message?: string;
  cause?: unknown;
}

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

export type InstanceTransition =
  | { to: "COMPLETED"; output: Record<string, unknown> }
  | { to: "COMPENSATING"; error: InstanceError }
  | { to: "COMPENSATED" }
  | { to: "FAILED"; error: InstanceError }
  | { to: "COMPENSATION_FAILED"; error: InstanceError };

/** The next moves of an instance: in the order they happened, so events can follow it. */
export interface Plan {
  transitions: InstanceTransition[];
  cancel: string[];
  schedule: TaskToSchedule[];
}

const FAILED_STATES: readonly TaskState[] = ["FAILED", "TIMED_OUT"];

/**
 * Decides what an instance does next from its definition and its attempt rows: which steps to
 * schedule (first attempts, retries with backoff, UNDOs in reverse dependency order), which pending
 * tasks to cancel, and which state the instance moves to. Pure and idempotent: planning again after
 * applying a plan yields an empty plan. The coordinators call it after every change they make.
 */
export function reconcile(def: WorkflowDefinition, instance: InstanceSnapshot, tasks: TaskSnapshot[]): Plan {
  const plan: Plan = { transitions: [], cancel: [], schedule: [] };
  const latest = latestAttempts(tasks);
  if (instance.state === "RUNNING") {
    const failed = def.steps.find((s) => s.onFailure !== "continue" && isExhausted(latest.get(key(s.name, "DO"))));
    if (!failed) {
      planForward(def, instance, latest, plan);
      return plan;
    }
    const attempt = latest.get(key(failed.name, "DO"));
    const error: InstanceError = { reason: "STEP_FAILED", step: failed.name, cause: attempt?.error ?? null };
    plan.transitions.push({ to: "COMPENSATING", error });
    planCompensation(def, { ...instance, state: "COMPENSATING", error }, tasks, latest, plan);
    return plan;
  }
  if (instance.state === "COMPENSATING") planCompensation(def, instance, tasks, latest, plan);
  return plan;
}

function planForward(def: WorkflowDefinition, instance: InstanceSnapshot, latest: Map<string, TaskSnapshot>, plan: Plan): void {
  const settled = (name: string) => stepSettled(latest.get(key(name, "DO")));
  for (const step of def.steps) {
    const last = latest.get(key(step.name, "DO"));
    if (!last) {
      if (step.dependsOn.every(settled)) {
        const input = stepInput(step, instance.input, latest);
        const skip = step.when !== undefined && !conditionHolds(step.when, input);
        plan.schedule.push({
          ...firstAttempt(step, "DO", input),
          ...(skip ? { settled: { state: "SKIPPED" as const, reason: "its `when` condition does not hold for its input" } } : {}),
        });
      }
    } else if (FAILED_STATES.includes(last.state) && !isExhausted(last)) {
      plan.schedule.push(nextAttempt(step, last, retryDelayMs(step, last)));
    } else if (last.state === "CANCELLED") {
      // Released unstarted, or cancelled by a compensation a manual retry has since undone: run
      // it again, without spending an attempt.
      plan.schedule.push({ ...nextAttempt(step, last, 0), maxAttempts: last.maxAttempts + 1 });
    }
  }
  if (def.steps.every((s) => settled(s.name))) {
    const output = Object.fromEntries(
      def.steps.flatMap((s) => {
        const seen = seenOutput(latest.get(key(s.name, "DO")));
        return seen === undefined ? [] : [[s.name, seen]];
      }),
    );
    plan.transitions.push({ to: "COMPLETED", output });
  }
}

/**
 * Whether a step's DO lets its dependants (and the run) go on: it completed, was skipped, or
 * failed for good in a step that continues on failure (an exhausted step of any other kind has
 * already turned the run to compensation before this is asked).
 */
function stepSettled(last: TaskSnapshot | undefined): boolean {
  return last !== undefined && (last.state === "COMPLETED" || last.state === "SKIPPED" || isExhausted(last));
}

/**
 * What dependants and the run's output see of a settled step: its output, `{ error }` for a failure
 * the run continued past, nothing (undefined) for a skipped step.
 */
function seenOutput(last: TaskSnapshot | undefined): unknown {
  if (!last || last.state === "SKIPPED") return undefined;
  if (last.state === "COMPLETED") return last.output ?? null;
  return { error: last.error ?? null };
}

function planCompensation(
  def: WorkflowDefinition,
  instance: InstanceSnapshot,
  tasks: TaskSnapshot[],
  latest: Map<string, TaskSnapshot>,
  plan: Plan,
): void {
  // Forward work stops: pending DOs are cancelled; leased ones may finish, and are waited for,
  // because a step that completes now must be undone too.
  const pendingDo = tasks.filter((t) => t.kind === "DO" && t.state === "PENDING");
  plan.cancel.push(...pendingDo.map((t) => t.executionId));
  if (tasks.some((t) => t.kind === "DO" && t.state === "LEASED")) return;

  const limit = instance.compensateFrom ? new Set([instance.compensateFrom, ...ancestorsOf(def, instance.compensateFrom)]) : null;
  const scope = def.steps.filter(
    (s) => s.undo !== null && latest.get(key(s.name, "DO"))?.state === "COMPLETED" && (!limit || limit.has(s.name)),
  );
  const undoState = (name: string) => latest.get(key(name, "UNDO"))?.state;
  const exhausted = scope.find((s) => isExhausted(latest.get(key(s.name, "UNDO"))));
  if (exhausted) {
    // The instance is finished: UNDOs still waiting would sit in the queue forever.
    plan.cancel.push(...tasks.filter((t) => t.kind === "UNDO" && t.state === "PENDING").map((t) => t.executionId));
    const cause = latest.get(key(exhausted.name, "UNDO"))?.error ?? null;
    plan.transitions.push({ to: "COMPENSATION_FAILED", error: { reason: "UNDO_FAILED", step: exhausted.name, cause } });
    return;
  }
  if (scope.every((s) => undoState(s.name) === "COMPLETED")) {
    // A run that failed (a step, or its deadline) and has nothing to undo has failed, not been compensated.
    if (scope.length === 0 && (instance.error?.reason === "STEP_FAILED" || instance.error?.reason === "DEADLINE_EXCEEDED")) {
      plan.transitions.push({ to: "FAILED", error: instance.error });
    } else {
      plan.transitions.push({ to: "COMPENSATED" });
    }
    return;
  }
  for (const step of scope) {
    const last = latest.get(key(step.name, "UNDO"));
    if (last && FAILED_STATES.includes(last.state)) {
      plan.schedule.push(nextAttempt(step, last, retryDelayMs(step, last)));
      continue;
    }
    if (last?.state === "CANCELLED") {
      // Cancelled when an earlier compensation failed; a manual retry has reopened it: run it again.
      plan.schedule.push({ ...nextAttempt(step, last, 0), maxAttempts: last.maxAttempts + 1 });
      continue;
    }
    if (last) continue;
    // Undo in reverse dependency order: every step in scope that builds on this one is undone first.
    const blocked = scope.some((other) => ancestorsOf(def, other.name).has(step.name) && undoState(other.name) !== "COMPLETED");
    if (blocked) continue;
    const done = latest.get(key(step.name, "DO"));
    plan.schedule.push(firstAttempt(step, "UNDO", { ...(done?.input as object), [step.name]: done?.output ?? null }));
  }
}

function key(taskId: string, kind: TaskKind): string {
  return `${kind}:${taskId}`;
}

function latestAttempts(tasks: TaskSnapshot[]): Map<string, TaskSnapshot> {
  const latest = new Map<string, TaskSnapshot>();
  for (const t of tasks) {
    const k = key(t.taskId, t.kind);
    const seen = latest.get(k);
    if (!seen || t.attempt > seen.attempt) latest.set(k, t);
  }
  return latest;
}

function isExhausted(task: TaskSnapshot | undefined): boolean {
  return task !== undefined && FAILED_STATES.includes(task.state) && task.attempt >= task.maxAttempts;
}

/**
 * The workflow input plus what the steps this one depends on left (see `seenOutput`), keyed by step
 * name: a skipped step leaves no key.
 */
function stepInput(step: StepDefinition, workflowInput: Record<string, unknown>, latest: Map<string, TaskSnapshot>) {
  return {
    ...workflowInput,
    ...Object.fromEntries(
      step.dependsOn.flatMap((dep) => {
        const seen = seenOutput(latest.get(key(dep, "DO")));
        return seen === undefined ? [] : [[dep, seen]];
      }),
    ),
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

function firstAttempt(step: StepDefinition, kind: TaskKind, input: unknown): TaskToSchedule {
  const target = kind === "DO" || !step.undo ? { queue: step.queue, leaseMs: step.leaseMs } : step.undo;
  return { taskId: step.name, kind, attempt: 1, maxAttempts: step.retry.maxAttempts, ...target, input, delayMs: 0 };
}

function nextAttempt(step: StepDefinition, last: TaskSnapshot, delayMs: number): TaskToSchedule {
  const target = last.kind === "DO" || !step.undo ? { queue: step.queue, leaseMs: step.leaseMs } : step.undo;
  return {
    taskId: step.name,
    kind: last.kind,
    attempt: last.attempt + 1,
    maxAttempts: last.maxAttempts,
    ...target,
    input: last.input,
    delayMs,
  };
}
