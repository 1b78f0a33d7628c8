import { isDeepStrictEqual } from "node:util";
import { type InstanceState, isTerminalInstanceState, taskIdParts, type WorkflowDefinition } from "@baton/contract";
import { foldEvents } from "@baton/engine/internal";
import { type AttemptRecord, definitionKey, type InstanceRecord, type Snapshot } from "./snapshot.ts";

/*
 * The invariants of DESIGN §9 that the database alone can show. Each check returns violations that
 * name the instance, step and fences involved, so a finding can be followed up.
 */

export interface Violation {
  invariant: string;
  message: string;
  instanceId?: string;
  taskId?: string;
  details?: Record<string, unknown>;
}

export type Report = (v: Violation) => void;

const at = (d: Date | null | undefined) => d?.toISOString() ?? null;

/**
 * An attempt the planner wrote finished, never leased: a fan-out settled at its start (COMPLETED
 * over an empty list, FAILED over a list it could not use). Nothing ran, so nothing is undone.
 */
export function settledByPlanner(a: AttemptRecord): boolean {
  return a.fenceToken === null && (a.state === "COMPLETED" || a.state === "FAILED");
}

/** The step a task id belongs to (an element of a fan-out is `<step>#<index>`). */
const stepOf = (taskId: string) => taskIdParts(taskId).step;

/** I1: at most one accepted completion per (instance, step, kind). */
export function checkOneCompletion(s: Snapshot, report: Report): void {
  const seen = new Map<string, AttemptRecord>();
  for (const a of s.attempts) {
    if (a.state !== "COMPLETED") continue;
    const key = `${a.instanceId}:${a.taskId}:${a.kind}`;
    const first = seen.get(key);
    if (!first) {
      seen.set(key, a);
      continue;
    }
    report({
      invariant: "I1",
      instanceId: a.instanceId,
      taskId: a.taskId,
      message: `${a.kind} of step ${a.taskId} completed twice`,
      details: {
        attempts: [first, a].map((x) => ({ executionId: x.executionId, attempt: x.attempt, fence: x.fenceToken, holder: x.leaseHolder })),
      },
    });
  }
}

/**
 * I2 (as the database shows it): every accepted outcome was written by the lease's holder, with
 * its fence, before the lease expired.
 */
export function checkAcceptedInTime(s: Snapshot, report: Report): void {
  for (const a of s.attempts) {
    if ((a.state !== "COMPLETED" && a.state !== "FAILED") || settledByPlanner(a)) continue;
    const ok = a.fenceToken !== null && a.leaseHolder !== null && a.leaseExpiresAt !== null && a.finishedAt !== null;
    if (ok && (a.finishedAt as Date) < (a.leaseExpiresAt as Date)) continue;
    report({
      invariant: "I2",
      instanceId: a.instanceId,
      taskId: a.taskId,
      message: `${a.kind} attempt ${a.attempt} of ${a.taskId} was accepted ${ok ? "after its lease expired" : "without a lease"}`,
      details: {
        executionId: a.executionId,
        fence: a.fenceToken,
        holder: a.leaseHolder,
        expires: at(a.leaseExpiresAt),
        finished: at(a.finishedAt),
      },
    });
  }
}

/**
 * I3: fence tokens strictly increase: across the attempts of a step (DO before UNDO, by attempt
 * number), no token is handed out twice, and (with the grant audit) no attempt is leased twice.
 */
export function checkFences(s: Snapshot, report: Report): void {
  const bySteps = new Map<string, AttemptRecord[]>();
  const owners = new Map<number, string>();
  for (const a of s.attempts) {
    if (a.fenceToken === null) continue;
    const key = `${a.instanceId}:${a.taskId}`;
    bySteps.set(key, [...(bySteps.get(key) ?? []), a]);
    const owner = owners.get(a.fenceToken);
    if (owner && owner !== a.executionId) {
      report({
        invariant: "I3",
        instanceId: a.instanceId,
        message: `fence ${a.fenceToken} was given to two attempts`,
        details: { owner, other: a.executionId },
      });
    }
    owners.set(a.fenceToken, a.executionId);
  }
  for (const attempts of bySteps.values()) {
    attempts.sort((x, y) => (x.kind === y.kind ? x.attempt - y.attempt : x.kind === "DO" ? -1 : 1));
    for (let i = 1; i < attempts.length; i++) {
      const [prev, next] = [attempts[i - 1] as AttemptRecord, attempts[i] as AttemptRecord];
      if ((next.fenceToken as number) > (prev.fenceToken as number)) continue;
      report({
        invariant: "I3",
        instanceId: next.instanceId,
        taskId: next.taskId,
        message: `fence of ${next.kind} attempt ${next.attempt} (${next.fenceToken}) is not above ${prev.kind} attempt ${prev.attempt}'s (${prev.fenceToken})`,
      });
    }
  }
  if (!s.grants) return;
  const granted = new Map<string, number>();
  for (const g of s.grants) {
    const before = granted.get(g.executionId);
    if (before !== undefined) {
      report({
        invariant: "I3",
        instanceId: g.instanceId,
        message: `execution ${g.executionId} was leased twice (fences ${before} and ${g.fenceToken}); an attempt is leased at most once`,
      });
    }
    granted.set(g.executionId, g.fenceToken);
  }
}

/** I4: every instance is terminal (when the caller expects the system to be quiet). */
export function checkTerminal(s: Snapshot, report: Report): void {
  for (const i of s.instances) {
    if (isTerminalInstanceState(i.state as InstanceState)) continue;
    const open = s.attempts.filter((a) => a.instanceId === i.instanceId && a.state === "PENDING");
    report({
      invariant: "I4",
      instanceId: i.instanceId,
      message: `${i.workflowName} instance is still ${i.state}`,
      details: {
        openAttempts: open.map((a) => ({ taskId: a.taskId, kind: a.kind, attempt: a.attempt, leased: a.leased, fence: a.fenceToken })),
      },
    });
  }
}

/** I5: events numbered 1..n without gap or duplicate, and their fold equals the stored instance and attempts. */
export function checkHistory(s: Snapshot, report: Report): void {
  const attemptsByInstance = groupBy(s.attempts, (a) => a.instanceId);
  for (const i of s.instances) {
    const events = s.events.get(i.instanceId) ?? [];
    const fail = (message: string, details?: Record<string, unknown>) =>
      report({ invariant: "I5", instanceId: i.instanceId, message, ...(details ? { details } : {}) });
    let folded: ReturnType<typeof foldEvents>;
    try {
      folded = foldEvents(events);
    } catch (error) {
      fail(`history does not fold: ${(error as Error).message}`);
      continue;
    }
    if (folded.sequenceNumber !== i.sequenceNumber) fail(`${folded.sequenceNumber} events, but sequence_number is ${i.sequenceNumber}`);
    if (folded.state !== i.state) fail(`events fold to ${folded.state}, stored state is ${i.state}`);
    if (!isDeepStrictEqual(folded.output ?? null, i.output ?? null)) fail("events fold to another output than the stored one");
    if (!isDeepStrictEqual(folded.error ?? null, i.error ?? null))
      fail("events fold to another error than the stored one", { folded: folded.error, stored: i.error });
    if (folded.compensateFrom !== i.compensateFrom) fail("events fold to another compensate_from than the stored one");
    const attempts = attemptsByInstance.get(i.instanceId) ?? [];
    for (const a of attempts) {
      const state = folded.tasks[a.executionId];
      if (state !== a.state)
        fail(`attempt ${a.executionId} (${a.taskId} ${a.kind} #${a.attempt}) is ${a.state}; its events say ${state ?? "nothing"}`);
    }
    if (Object.keys(folded.tasks).length !== attempts.length)
      fail(`events name ${Object.keys(folded.tasks).length} attempts, the table has ${attempts.length}`);
  }
}

/**
 * I7: no lease of a paused or cancelled instance is handed out. With the grant audit and commit
 * timestamps this is exact: no grant commits while a pause is in force or after a cancel. With
 * commit timestamps alone, an acquire that began after the pause committed is caught.
 */
export function checkNothingHandedOutWhileStopped(s: Snapshot, report: Report): "exact" | "partial" | "unchecked" {
  if (!s.commitTimestamps) return "unchecked";
  const grants = s.grants
    ? s.grants.map((g) => ({ instanceId: g.instanceId, executionId: g.executionId, fence: g.fenceToken, at: g.committedAt }))
    : s.attempts.map((a) => ({ instanceId: a.instanceId, executionId: a.executionId, fence: a.fenceToken, at: a.startedAt }));
  const byInstance = groupBy(grants, (g) => g.instanceId);
  for (const [instanceId, events] of s.events) {
    const stops: { from: Date; to: Date | null; why: string }[] = [];
    let pausedAt: Date | null = null;
    for (const e of events) {
      if (!e.committedAt) continue;
      if (e.eventType === "WORKFLOW_PAUSED") pausedAt = e.committedAt;
      if (e.eventType === "WORKFLOW_RESUMED" && pausedAt) {
        stops.push({ from: pausedAt, to: e.committedAt, why: "paused" });
        pausedAt = null;
      }
      if (e.eventType === "WORKFLOW_CANCELLED") {
        stops.push({ from: pausedAt ?? e.committedAt, to: null, why: pausedAt ? "paused, then cancelled" : "cancelled" });
        pausedAt = null;
      }
    }
    if (pausedAt) stops.push({ from: pausedAt, to: null, why: "paused" });
    if (stops.length === 0) continue;
    for (const g of byInstance.get(instanceId) ?? []) {
      if (!g.at) continue;
      const stop = stops.find((st) => g.at && g.at > st.from && (st.to === null || g.at < st.to));
      if (!stop) continue;
      report({
        invariant: "I7",
        instanceId,
        message: `execution ${g.executionId} (fence ${g.fence}) was handed out while the instance was ${stop.why}`,
        details: { grantedAt: at(g.at), stoppedAt: at(stop.from), resumedAt: at(stop.to) },
      });
    }
  }
  return s.grants ? "exact" : "partial";
}

/**
 * Compensation, in the order the instance's history records it (transactions start and commit in
 * different orders, so their timestamps cannot tell): UNDOs only for steps whose DO completed, no DO
 * outcome once the first UNDO was scheduled (leased DOs are waited for), and each UNDO scheduled only
 * after the UNDOs of the steps built on it completed (reverse dependency order). A COMPLETED
 * instance has every DO completed and nothing undone; a COMPENSATED one has undone every completed
 * step (in scope) that has an undo.
 */
export function checkCompensation(s: Snapshot, report: Report): void {
  const attemptsByInstance = groupBy(s.attempts, (a) => a.instanceId);
  for (const i of s.instances) {
    const def = s.definitions.get(definitionKey(i.namespace, i.workflowName, i.workflowVersion));
    if (!def) continue;
    const fail = (message: string, taskId?: string, details?: Record<string, unknown>) =>
      report({
        invariant: "undo-order",
        instanceId: i.instanceId,
        message,
        ...(taskId ? { taskId } : {}),
        ...(details ? { details } : {}),
      });
    const attempts = attemptsByInstance.get(i.instanceId) ?? [];
    const doneDo = new Set(attempts.filter((a) => a.kind === "DO" && a.state === "COMPLETED" && !settledByPlanner(a)).map((a) => a.taskId));
    const doneUndo = new Set(attempts.filter((a) => a.kind === "UNDO" && a.state === "COMPLETED").map((a) => a.taskId));
    // A step also lets its run complete when it was skipped (`when`), or failed for good in a step
    // that continues on failure (every DO attempt failed, the last one with no attempts left). A
    // fan-out settles by an attempt of its own (skipped, empty list) or by each of its elements.
    const settledTask = (step: WorkflowDefinition["steps"][number], taskId: string) => {
      const own = attempts.filter((a) => a.kind === "DO" && a.taskId === taskId);
      const last = own.reduce<(typeof own)[number] | undefined>((a, b) => (!a || b.attempt > a.attempt ? b : a), undefined);
      if (!last) return false;
      if (last.state === "COMPLETED" || last.state === "SKIPPED") return true;
      return step.onFailure === "continue" && (last.state === "FAILED" || last.state === "TIMED_OUT") && last.attempt >= last.maxAttempts;
    };
    const settledDo = (step: WorkflowDefinition["steps"][number]) => {
      if (step.forEach === undefined || attempts.some((a) => a.kind === "DO" && a.taskId === step.name))
        return settledTask(step, step.name);
      const elements = new Set(attempts.filter((a) => a.kind === "DO" && stepOf(a.taskId) === step.name).map((a) => a.taskId));
      const settled = [...elements].filter((taskId) => settledTask(step, taskId));
      // With onFailure: continue, elements not yet started when one failed never start.
      return elements.size > 0 && (settled.length === elements.size || (step.onFailure === "continue" && settled.length > 0));
    };
    if (i.state === "COMPLETED") {
      for (const step of def.steps) if (!settledDo(step)) fail(`COMPLETED, but step ${step.name} never completed`, step.name);
      if (attempts.some((a) => a.kind === "UNDO")) fail("COMPLETED, yet UNDOs were scheduled");
    }
    const ancestors = ancestorMap(def);
    const inScope = (step: string) => !i.compensateFrom || step === i.compensateFrom || ancestors.get(i.compensateFrom)?.has(step) === true;
    const completedDo = new Set<string>();
    const undone = new Map<string, number>();
    // A step counts as undone once every DO of it (the step's, or each element's) that completed was undone.
    const unitsOf = (step: string) => [...completedDo].filter((taskId) => stepOf(taskId) === step);
    const fullyUndone = (step: string) => unitsOf(step).every((taskId) => undone.has(taskId));
    let firstUndoAt: number | null = null;
    for (const e of s.events.get(i.instanceId) ?? []) {
      const { taskId, kind } = e.payload as { taskId?: string; kind?: string };
      if (!taskId) continue;
      // An outcome without a fence was written by the planner (a fan-out settled at its start): nothing ran.
      const ran = "fenceToken" in e.payload;
      if (kind === "DO" && ran && (e.eventType === "TASK_COMPLETED" || e.eventType === "TASK_FAILED" || e.eventType === "TASK_TIMED_OUT")) {
        if (e.eventType === "TASK_COMPLETED") completedDo.add(taskId);
        if (firstUndoAt !== null)
          fail(`DO of ${taskId} ended (event ${e.sequenceNumber}) after the first UNDO was scheduled (event ${firstUndoAt})`, taskId);
      }
      if (kind !== "UNDO") continue;
      if (e.eventType === "TASK_COMPLETED") undone.set(taskId, e.sequenceNumber);
      if (e.eventType !== "TASK_SCHEDULED" || (e.payload as { attempt?: number }).attempt !== 1) continue;
      firstUndoAt ??= e.sequenceNumber;
      if (!completedDo.has(taskId)) fail(`step ${taskId} was undone but its DO had not completed`, taskId);
      for (const later of def.steps) {
        if (!ancestors.get(later.name)?.has(stepOf(taskId)) || unitsOf(later.name).length === 0 || !later.undo || !inScope(later.name))
          continue;
        if (!fullyUndone(later.name)) {
          fail(`${taskId} was undone (event ${e.sequenceNumber}) before ${later.name}, which depends on it, had been undone`, taskId);
        }
      }
    }
    if (i.state === "COMPENSATED") {
      for (const taskId of doneDo) {
        const step = def.steps.find((x) => x.name === stepOf(taskId));
        if (step?.undo && inScope(step.name) && !doneUndo.has(taskId)) fail(`COMPENSATED, but ${taskId} was never undone`, taskId);
      }
    }
  }
}

/** step -> every step it depends on, directly or not. */
function ancestorMap(def: WorkflowDefinition): Map<string, Set<string>> {
  const direct = new Map(def.steps.map((s) => [s.name, s.dependsOn]));
  const out = new Map<string, Set<string>>();
  for (const s of def.steps) {
    const seen = new Set<string>();
    const stack = [...s.dependsOn];
    while (stack.length > 0) {
      const name = stack.pop() as string;
      if (seen.has(name)) continue;
      seen.add(name);
      stack.push(...(direct.get(name) ?? []));
    }
    out.set(s.name, seen);
  }
  return out;
}

export function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = out.get(k);
    if (list) list.push(item);
    else out.set(k, [item]);
  }
  return out;
}

export type { InstanceRecord };
