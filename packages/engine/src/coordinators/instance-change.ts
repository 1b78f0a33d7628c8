import type { Transaction } from "kysely";
import { BatonError } from "../contract/errors.ts";
import type { Db, DbOrTrx } from "../db/database.ts";
import type { Schema } from "../db/schema.ts";
import type { WorkflowDefinition } from "../domain/definition.ts";
import {
  type InstanceError,
  type InstanceTransition,
  type Plan,
  reconcile,
  type SettledAttempt,
  type TaskSnapshot,
  type TaskToSchedule,
} from "../domain/reconcile.ts";
import type { InstanceState } from "../domain/states.ts";
import { timeOrderedId } from "../domain/time-ordered-id.ts";
import { changeWrite } from "../store/change-writes.ts";
import type { HistoryAppend, NewEvent } from "../store/events.ts";
import { type InstanceRow, instanceLock, instanceLockByExecutions } from "../store/instances.ts";
import { type NewTaskRow, type QueueWake, type TaskRow, taskCancelMany, taskCancelPending, taskListByInstances } from "../store/tasks.ts";
import type { DefinitionCache } from "./definition-cache.ts";

const TRANSITION_EVENT: Record<InstanceTransition["to"], string> = {
  COMPLETED: "WORKFLOW_COMPLETED",
  COMPENSATING: "COMPENSATION_STARTED",
  COMPENSATED: "WORKFLOW_COMPENSATED",
  FAILED: "WORKFLOW_FAILED",
  COMPENSATION_FAILED: "COMPENSATION_FAILED",
};

/** The event of an attempt written finished. */
const SETTLED_EVENT: Record<SettledAttempt["state"], string> = {
  SKIPPED: "TASK_SKIPPED",
  COMPLETED: "TASK_COMPLETED",
  FAILED: "TASK_FAILED",
};

type Target = { instanceId: string } | { executionId: string };

/**
 * A change to one workflow instance inside a transaction. The instance row is locked first (so
 * changes to an instance are serial, and locks are always taken instance first, then tasks); the
 * caller records what it did; the commit lets the planner take the instance as far as it can go,
 * appends the events with contiguous sequence numbers, writes the instance guarded by its sequence
 * number, and notifies the queues that got new work. Changes to many instances (a batch of
 * completions) commit together with one statement per table.
 */
export class InstanceChange {
  state: InstanceState;
  output: unknown;
  error: InstanceError | null;
  compensateFrom: string | null;
  private readonly events: NewEvent[] = [];
  private readonly inserts: NewTaskRow[] = [];
  /** Queue -> how soon its new work becomes available (ms). */
  private readonly wakeQueues = new Map<string, number>();

  private constructor(
    /** Where the body's own reads and writes go: the change's transaction. */
    readonly trx: DbOrTrx,
    readonly instance: InstanceRow,
    readonly definition: WorkflowDefinition,
  ) {
    this.state = instance.state;
    this.output = instance.output;
    this.error = instance.error;
    this.compensateFrom = instance.compensateFrom;
  }

  /** Runs `body` on the locked instance and commits the change, in one transaction. */
  static async run<T>(db: Db, definitions: DefinitionCache, target: Target, body: (change: InstanceChange) => Promise<T>): Promise<T> {
    return db.transaction().execute((trx) => InstanceChange.within(trx, definitions, target, body));
  }

  /** As `run`, inside a transaction the caller already holds. */
  static async within<T>(
    trx: Transaction<Schema>,
    definitions: DefinitionCache,
    target: Target,
    body: (change: InstanceChange) => Promise<T>,
  ): Promise<T> {
    const instance =
      "instanceId" in target ? await instanceLock(trx, target.instanceId) : (await instanceLockByExecutions(trx, [target.executionId]))[0];
    if (!instance) {
      const what = "instanceId" in target ? `Instance ${target.instanceId}` : `Execution ${target.executionId}`;
      throw new BatonError("NOT_FOUND", `${what} not found`, target);
    }
    const change = new InstanceChange(
      trx,
      instance,
      await definitions.get(trx, instance.namespace, instance.workflowName, instance.workflowVersion),
    );
    const result = await body(change);
    await commitChanges(trx, [change]);
    return result;
  }

  /**
   * Plans the start of a new instance (not yet inserted): `body` records what starting means, and
   * the planner schedules the first steps. Nothing is read or written; `startWrite` inserts it.
   */
  static planStart(db: Db, instance: InstanceRow, definition: WorkflowDefinition, body: (change: InstanceChange) => void): InstanceChange {
    const change = new InstanceChange(db, instance, definition);
    body(change);
    change.applyPlan(change.plan([]), []);
    return change;
  }

  /**
   * Locks the instances owning these executions (in id order, so concurrent batches cannot
   * deadlock), runs `body` with one change per instance, and commits them all together.
   */
  static runForExecutions<T>(
    db: Db,
    definitions: DefinitionCache,
    executionIds: string[],
    body: (changes: Map<string, InstanceChange>, trx: Transaction<Schema>) => Promise<T>,
  ): Promise<T> {
    return InstanceChange.runLocked(db, definitions, (trx) => instanceLockByExecutions(trx, executionIds), body);
  }

  /** As `runForExecutions`, for the instances `lock` locks (in id order). */
  static async runLocked<T>(
    db: Db,
    definitions: DefinitionCache,
    lock: (trx: Transaction<Schema>) => Promise<InstanceRow[]>,
    body: (changes: Map<string, InstanceChange>, trx: Transaction<Schema>) => Promise<T>,
  ): Promise<T> {
    return db.transaction().execute(async (trx) => {
      const changes = new Map<string, InstanceChange>();
      for (const instance of await lock(trx)) {
        const definition = await definitions.get(trx, instance.namespace, instance.workflowName, instance.workflowVersion);
        changes.set(instance.instanceId, new InstanceChange(trx, instance, definition));
      }
      const result = await body(changes, trx);
      await commitChanges(trx, [...changes.values()]);
      return result;
    });
  }

  /** Appends an event to this change. */
  record(type: string, payload: Record<string, unknown>, idempotencyKey?: string): void {
    this.events.push({ type, payload, ...(idempotencyKey ? { idempotencyKey } : {}) });
  }

  /** Records that a task reached a state (completion, failure, time-out). */
  recordTaskOutcome(task: TaskRow, type: "TASK_COMPLETED" | "TASK_FAILED" | "TASK_TIMED_OUT", idempotencyKey?: string): void {
    this.record(
      type,
      {
        executionId: task.executionId,
        taskId: task.taskId,
        kind: task.kind,
        attempt: task.attempt,
        fenceToken: task.fenceToken,
        workerId: task.leaseHolder,
        startedAt: task.startedAt?.toISOString() ?? null,
        ...(type === "TASK_COMPLETED" ? { output: task.output } : { error: task.error }),
      },
      idempotencyKey,
    );
  }

  /** Cancels pending and leased tasks now (their holders' later writes are rejected). */
  async cancelTasks(executionIds: string[]): Promise<void> {
    this.recordCancelled(await taskCancelMany(this.trx, executionIds));
  }

  /** Queues new attempts; they are inserted when the change commits. Returns their execution ids. */
  schedule(tasks: TaskToSchedule[]): string[] {
    return tasks.map((task) => {
      const row: NewTaskRow = { ...task, executionId: timeOrderedId(), instanceId: this.instance.instanceId };
      this.inserts.push(row);
      const attempt = { executionId: row.executionId, taskId: task.taskId, kind: task.kind, attempt: task.attempt };
      if (task.settled) {
        const { state, ...facts } = task.settled;
        this.record(SETTLED_EVENT[state], { ...attempt, ...facts });
        return row.executionId;
      }
      this.record("TASK_SCHEDULED", { ...attempt, queue: task.queue, delayMs: task.delayMs });
      this.wakeAfter(task.queue, task.delayMs);
      return row.executionId;
    });
  }

  /** Attempts this change will insert, as the planner sees rows. */
  queuedAttempts(): TaskSnapshot[] {
    return this.inserts.map((t) => ({
      ...t,
      state: t.settled?.state ?? "PENDING",
      output: t.settled && "output" in t.settled ? t.settled.output : null,
      error: t.settled && "error" in t.settled ? t.settled.error : null,
    }));
  }

  /** Makes the queues' waiting acquirers look again once this change commits. */
  wake(queues: Iterable<string>): void {
    for (const q of queues) this.wakeAfter(q, 0);
  }

  private wakeAfter(queue: string, delayMs: number): void {
    this.wakeQueues.set(queue, Math.min(delayMs, this.wakeQueues.get(queue) ?? delayMs));
  }

  /** What the planner decides, given the stored attempts (of this and maybe other instances). */
  plan(stored: TaskRow[]): Plan {
    // Attempts scheduled by hand in this change are not inserted yet; the planner must see them.
    const own = [...stored.filter((t) => t.instanceId === this.instance.instanceId), ...this.queuedAttempts()];
    const snapshot = { state: this.state, input: this.instance.input, error: this.error, compensateFrom: this.compensateFrom };
    return reconcile(this.definition, snapshot, own);
  }

  get active(): boolean {
    return this.state === "RUNNING" || this.state === "COMPENSATING";
  }

  /** Records that these tasks were cancelled. */
  recordCancelled(tasks: TaskRow[]): void {
    for (const task of tasks) {
      this.record("TASK_CANCELLED", { executionId: task.executionId, taskId: task.taskId, kind: task.kind, attempt: task.attempt });
    }
  }

  /**
   * Applies a plan: the transition into compensation, cancellations, new attempts, then the rest.
   * An attempt the planner settles itself (a skipped step, a fan-out over an empty or unusable
   * list) is finished at once, so while a plan settles some the instance is planned again (over the
   * same `stored` rows plus what this change queued): their dependants start, the run completes or
   * compensates, in this same change. Each round settles at least one more step, so it ends.
   */
  applyPlan(plan: Plan, cancelled: TaskRow[], stored: TaskRow[] = []): void {
    const [first, ...rest] = plan.transitions;
    const entersCompensation = first?.to === "COMPENSATING";
    if (entersCompensation) this.applyTransition(first);
    this.recordCancelled(cancelled);
    this.schedule(plan.schedule);
    for (const t of entersCompensation ? rest : plan.transitions) this.applyTransition(t);
    if (this.active && plan.schedule.some((t) => t.settled)) this.applyPlan(this.plan(stored), [], stored);
  }

  private applyTransition(t: InstanceTransition): void {
    this.state = t.to;
    const payload: Record<string, unknown> = {};
    if (t.to === "COMPLETED") {
      this.output = t.output;
      payload.output = t.output;
    }
    if (t.to === "COMPENSATING" || t.to === "FAILED" || t.to === "COMPENSATION_FAILED") {
      this.error = t.error;
      payload.error = t.error;
    }
    if (t.to === "COMPENSATING" && this.compensateFrom) payload.fromTaskId = this.compensateFrom;
    this.record(TRANSITION_EVENT[t.to], payload);
  }

  /** What the commit writes for this instance; null when nothing changed. */
  pending(): { history: HistoryAppend; inserts: NewTaskRow[]; wake: QueueWake[]; sequenceNumber: number } | null {
    if (this.events.length === 0) return null;
    const wake = [...this.wakeQueues].map(([queue, delayMs]) => ({ queue, delayMs }));
    const base = this.instance.sequenceNumber;
    return {
      history: { instanceId: this.instance.instanceId, sequenceNumber: base + 1, events: this.events },
      inserts: this.inserts,
      wake: this.active ? wake : [],
      sequenceNumber: base + this.events.length,
    };
  }
}

/**
 * The change of an instance that a batch locked. An outcome for any other instance would be lost
 * with no trace, so asking for one is a bug: it fails the batch (INTERNAL) instead.
 */
export function lockedChange(changes: Map<string, InstanceChange>, instanceId: string): InstanceChange {
  const change = changes.get(instanceId);
  if (!change) {
    throw new BatonError(
      "INTERNAL",
      `Instance ${instanceId} is not among the instances this batch locked; its outcome cannot be recorded`,
      {
        instanceId,
        locked: [...changes.keys()],
      },
    );
  }
  return change;
}

/** Re-plans after cancellations that missed (see commitChanges) before the transaction gives up. */
const REPLAN_ROUNDS = 5;

/** Plans every active instance, then writes all changes in one statement. */
async function commitChanges(trx: Transaction<Schema>, changes: InstanceChange[]): Promise<void> {
  const active = changes.filter((c) => c.active);
  if (active.length > 0) {
    const tasks = await taskListByInstances(
      trx,
      active.map((c) => c.instance.instanceId),
    );
    const plans = active.map((c) => c.plan(tasks));
    const cancelled = await taskCancelPending(
      trx,
      plans.flatMap((p) => p.cancel),
    );
    for (const [i, c] of active.entries()) {
      let plan = plans[i] as Plan;
      let rows = tasks;
      let got = cancelled.filter((t) => t.instanceId === c.instance.instanceId);
      const all = [...got];
      // A planned cancellation finds its task no longer pending when an acquire leased it after the
      // planner read the rows (acquire takes no instance lock). That DO must be waited for and
      // undone, not cancelled: plan again with the rows as they are now.
      const missed = (p: Plan, landed: TaskRow[]) => landed.length < new Set(p.cancel).size;
      for (let round = 0; missed(plan, got) && round < REPLAN_ROUNDS; round++) {
        rows = await taskListByInstances(trx, [c.instance.instanceId]);
        plan = c.plan(rows);
        got = await taskCancelPending(trx, plan.cancel);
        all.push(...got);
      }
      // Still missing: applying this plan would record cancellations that did not happen. The
      // transaction rolls back, and the caller tries again (409, as for any lost race).
      if (missed(plan, got)) {
        throw new BatonError(
          "CONCURRENT_UPDATE",
          "Tasks of this instance kept being leased while it was being planned; retry the request",
          {
            instanceId: c.instance.instanceId,
            rounds: REPLAN_ROUNDS + 1,
          },
        );
      }
      c.applyPlan(plan, all, rows);
    }
  }

  const writes = changes.flatMap((c) => {
    const p = c.pending();
    return p ? [{ change: c, ...p }] : [];
  });
  if (writes.length === 0) return;
  await changeWrite(trx, {
    tasks: writes.flatMap((w) => w.inserts),
    history: writes.map((w) => w.history),
    instances: writes.map((w) => ({
      instanceId: w.change.instance.instanceId,
      expectedSequence: w.change.instance.sequenceNumber,
      sequenceNumber: w.sequenceNumber,
      state: w.change.state,
      output: w.change.output,
      error: w.change.error,
      compensateFrom: w.change.compensateFrom,
    })),
    wakes: writes.flatMap((w) => w.wake),
  });
}
