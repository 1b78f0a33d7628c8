import {
  ancestorsOf,
  DEFAULT_MAX_CONCURRENCY,
  elementTaskId,
  type InstanceState,
  type StepDefinition,
  type WorkflowDefinition,
} from "@baton/contract";
import { Attempts, firstAttempt, followUp, isExhausted, type SettledAttempt, type TaskSnapshot, type TaskToSchedule } from "./attempts.ts";
import { elementInput } from "./fan-out.ts";
import { type FanOutStep, StepOutcomes } from "./step-outcomes.ts";

export type { SettledAttempt, TaskSnapshot, TaskToSchedule } from "./attempts.ts";

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
  /** The element of a fan-out step whose DO (or UNDO) failed. */
  elementIndex?: number;
  message?: string;
  cause?: unknown;
}

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

/**
 * Decides what an instance does next from its definition and its attempt rows: which steps to
 * schedule (first attempts, retries with backoff, fan-out elements up to their step's
 * maxConcurrency, UNDOs in reverse dependency order), which pending tasks to cancel, and which
 * state the instance moves to. Pure and idempotent: planning again after applying a plan yields an
 * empty plan. The coordinators call it after every change they make.
 */
export function reconcile(def: WorkflowDefinition, instance: InstanceSnapshot, tasks: TaskSnapshot[]): Plan {
  const plan: Plan = { transitions: [], cancel: [], schedule: [] };
  const attempts = new Attempts(tasks);
  if (instance.state === "RUNNING") {
    const steps = new StepOutcomes(def, instance.input, attempts);
    const failed = def.steps.find((s) => s.onFailure !== "continue" && steps.outcome(s).kind === "failed");
    if (!failed) {
      planForward(def, steps, attempts, plan);
      return plan;
    }
    const outcome = steps.outcome(failed);
    // A step that failed at its start (a fan-out over a list it cannot use) has no attempt yet: its record says why.
    const atStart =
      attempts.latest(failed.name, "DO") || attempts.elements(failed.name, "DO").size > 0 ? null : steps.settledAtStart(failed);
    if (atStart) plan.schedule.push(settledAttempt(failed, steps.input(failed), atStart));
    const element = outcome.kind === "failed" && outcome.elementIndex !== undefined ? { elementIndex: outcome.elementIndex } : {};
    const cause = outcome.kind === "failed" ? outcome.cause : null;
    const error: InstanceError = { reason: "STEP_FAILED", step: failed.name, ...element, cause };
    plan.transitions.push({ to: "COMPENSATING", error });
    planCompensation(def, { ...instance, state: "COMPENSATING", error }, tasks, attempts, plan);
    return plan;
  }
  if (instance.state === "COMPENSATING") planCompensation(def, instance, tasks, attempts, plan);
  return plan;
}

function planForward(def: WorkflowDefinition, steps: StepOutcomes, attempts: Attempts, plan: Plan): void {
  for (const step of def.steps) {
    const last = attempts.latest(step.name, "DO");
    const next = last ? followUp(step, last) : null;
    if (next) plan.schedule.push(next);
    if (last || !steps.ready(step)) continue;
    const underWay = step.forEach !== undefined && attempts.elements(step.name, "DO").size > 0;
    const settled = underWay ? null : steps.settledAtStart(step);
    if (settled) plan.schedule.push(settledAttempt(step, steps.input(step), settled));
    else if (step.forEach !== undefined) planFanOut(step as FanOutStep, steps, attempts, plan);
    else plan.schedule.push(firstAttempt(step, "DO", steps.input(step)));
  }
  if (def.steps.every((s) => steps.settled(s.name))) {
    const output = Object.fromEntries(
      def.steps.flatMap((s) => {
        const seen = steps.seen(s.name);
        return seen === undefined ? [] : [[s.name, seen]];
      }),
    );
    plan.transitions.push({ to: "COMPLETED", output });
  }
}

/** The attempt that records how a step settled at its start; a failure there is final (one attempt). */
function settledAttempt(step: StepDefinition, input: unknown, settled: SettledAttempt): TaskToSchedule {
  return { ...firstAttempt(step, "DO", input), ...(settled.state === "FAILED" ? { maxAttempts: 1 } : {}), settled };
}

/**
 * A fan-out step under way (or starting over a list it can use): failed elements get their
 * retries, and further elements start in index order while fewer than `maxConcurrency` run; once
 * one element has failed for good, no new element starts.
 */
function planFanOut(step: FanOutStep, steps: StepOutcomes, attempts: Attempts, plan: Plan): void {
  const elements = attempts.elements(step.name, "DO");
  let running = 0;
  let failed = false;
  for (const last of elements.values()) {
    const next = followUp(step, last);
    if (next) plan.schedule.push(next);
    if (isExhausted(last)) failed = true;
    else if (last.state !== "COMPLETED") running++;
  }
  const found = steps.list(step);
  if (failed || "error" in found) return;
  const input = steps.input(step);
  for (let i = 0; i < found.list.length && running < (step.maxConcurrency ?? DEFAULT_MAX_CONCURRENCY); i++) {
    if (elements.has(i)) continue;
    plan.schedule.push(firstAttempt(step, "DO", elementInput(input, step.forEach, found.list[i], i), elementTaskId(step.name, i)));
    running++;
  }
}

/** Something compensation may undo: a completed step, or a completed element of a fan-out step. */
interface UndoUnit {
  step: StepDefinition;
  taskId: string;
  elementIndex: number | null;
  done: TaskSnapshot;
}

function planCompensation(
  def: WorkflowDefinition,
  instance: InstanceSnapshot,
  tasks: TaskSnapshot[],
  attempts: Attempts,
  plan: Plan,
): void {
  // Forward work stops: pending DOs are cancelled; leased ones may finish, and are waited for,
  // because a step that completes now must be undone too.
  const pendingDo = tasks.filter((t) => t.kind === "DO" && t.state === "PENDING");
  plan.cancel.push(...pendingDo.map((t) => t.executionId));
  if (tasks.some((t) => t.kind === "DO" && t.state === "LEASED")) return;

  const limit = instance.compensateFrom ? new Set([instance.compensateFrom, ...ancestorsOf(def, instance.compensateFrom)]) : null;
  const units = undoUnits(def, attempts, limit);
  const undoOf = (unit: UndoUnit) => attempts.latest(unit.taskId, "UNDO");
  const exhausted = units.find((u) => isExhausted(undoOf(u)));
  if (exhausted) {
    // The instance is finished: UNDOs still waiting would sit in the queue forever.
    plan.cancel.push(...tasks.filter((t) => t.kind === "UNDO" && t.state === "PENDING").map((t) => t.executionId));
    const element = exhausted.elementIndex === null ? {} : { elementIndex: exhausted.elementIndex };
    const cause = undoOf(exhausted)?.error ?? null;
    plan.transitions.push({ to: "COMPENSATION_FAILED", error: { reason: "UNDO_FAILED", step: exhausted.step.name, ...element, cause } });
    return;
  }
  const unfinished = units.filter((u) => undoOf(u)?.state !== "COMPLETED");
  if (unfinished.length === 0) {
    // A run that failed (a step, or its deadline) and has nothing to undo has failed, not been compensated.
    if (units.length === 0 && (instance.error?.reason === "STEP_FAILED" || instance.error?.reason === "DEADLINE_EXCEEDED")) {
      plan.transitions.push({ to: "FAILED", error: instance.error });
    } else {
      plan.transitions.push({ to: "COMPENSATED" });
    }
    return;
  }
  // Undo in reverse dependency order: a step waits while a step that builds on it has something left to undo.
  const laterSteps = [...new Set(unfinished.map((u) => u.step.name))].map((name) => ancestorsOf(def, name));
  const blocked = (name: string) => laterSteps.some((ancestors) => ancestors.has(name));
  // A fan-out step's UNDOs run at most `maxConcurrency` at a time, like its DOs.
  const running = new Map<string, number>();
  for (const u of unfinished) if (undoOf(u)) running.set(u.step.name, (running.get(u.step.name) ?? 0) + 1);
  for (const unit of unfinished) {
    const last = undoOf(unit);
    if (last) {
      const next = followUp(unit.step, last);
      if (next) plan.schedule.push(next);
      continue;
    }
    const open = running.get(unit.step.name) ?? 0;
    if (blocked(unit.step.name) || open >= (unit.step.maxConcurrency ?? Number.POSITIVE_INFINITY)) continue;
    running.set(unit.step.name, open + 1);
    const input = { ...(unit.done.input as object), [unit.step.name]: unit.done.output ?? null };
    plan.schedule.push(firstAttempt(unit.step, "UNDO", input, unit.taskId));
  }
}

/** The completed DOs with an UNDO within `limit` (all steps when null): steps, and elements by index. */
function undoUnits(def: WorkflowDefinition, attempts: Attempts, limit: Set<string> | null): UndoUnit[] {
  return def.steps.flatMap((step) => {
    if (step.undo === null || (limit && !limit.has(step.name))) return [];
    const done: [number | null, TaskSnapshot | undefined][] =
      step.forEach === undefined
        ? [[null, attempts.latest(step.name, "DO")]]
        : [...attempts.elements(step.name, "DO")].sort((a, b) => a[0] - b[0]);
    return done.flatMap(([elementIndex, last]) =>
      last?.state === "COMPLETED" ? [{ step, taskId: last.taskId, elementIndex, done: last }] : [],
    );
  });
}
