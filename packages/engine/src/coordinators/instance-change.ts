import { ACTIVE_INSTANCE_STATES, BatonError, type InstanceState, type TaskKind, type WorkflowDefinition } from "@baton/contract";
import type { Transaction } from "kysely";
import type { Db, DbOrTrx } from "../db/database.ts";
import type { Schema } from "../db/schema.ts";
import type { EventPayloads, EventType, Requester } from "../domain/history-events.ts";
import {
  type InstanceError,
  type InstanceTransition,
  type Plan,
  reconcile,
  type TaskSnapshot,
  type TaskToSchedule,
} from "../domain/reconcile.ts";
import { timeOrderedId } from "../domain/time-ordered-id.ts";
import { type EventOf, type InstanceTrigger, instanceMove, type TargetOf, taskEvent } from "../domain/transitions.ts";
import { changeWrite, reportWrite } from "../store/change-writes.ts";
import type { HistoryAppend, NewEvent } from "../store/events.ts";
import { type InstanceRow, type InstanceWrite, instanceLock, instanceLockByExecutions } from "../store/instances.ts";
import type { ClosingReport, ReportRead } from "../store/task-leases.ts";
import { type NewTaskRow, type QueueWake, type TaskRow, taskCancelMany, taskCancelPending, taskListByInstances } from "../store/tasks.ts";
import type { DefinitionCache } from "./definition-cache.ts";
import type { LocalHandoffs } from "./local-handoffs.ts";
import type { LocalWakes } from "./local-wakes.ts";

/** What a change needs besides its body: the database, the definitions, and where its new work is announced. */
export interface ChangeContext {
  db: Db;
  definitions: DefinitionCache;
  wakes: LocalWakes;
  /** Where new tasks of an unlocked report write may be handed to parked polls. */
  handoffs: LocalHandoffs;
}

type Target = { instanceId: string } | { executionId: string };

/**
 * A change to one workflow instance inside a transaction. The instance row is locked first (so
 * changes to an instance are serial, and locks are always taken instance first, then tasks); the
 * caller records what it did; the commit lets the planner take the instance as far as it can go,
 * appends the events with contiguous sequence numbers, writes the instance guarded by its sequence
 * number, and notifies the queues that got new work. Changes to many instances (a batch of
 * completions) commit together with one statement per table. The instance moves only along the
 * transitions table (`domain/transitions.ts`), through the methods that name each move.
 */
export class InstanceChange {
  private currentState: InstanceState;
  private currentOutput: unknown;
  private currentError: InstanceError | null;
  private currentCompensateFrom: string | null;
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
    this.currentState = instance.state;
    this.currentOutput = instance.output;
    this.currentError = instance.error;
    this.currentCompensateFrom = instance.compensateFrom;
  }

  /** Runs `body` on the locked instance and commits the change, in one transaction. */
  static async run<T>(ctx: ChangeContext, target: Target, body: (change: InstanceChange) => Promise<T>): Promise<T> {
    const [result, wakes] = await ctx.db.transaction().execute(async (trx) => {
      const instance =
        "instanceId" in target
          ? await instanceLock(trx, target.instanceId)
          : (await instanceLockByExecutions(trx, [target.executionId]))[0];
      if (!instance) {
        const what = "instanceId" in target ? `Instance ${target.instanceId}` : `Execution ${target.executionId}`;
        throw new BatonError("NOT_FOUND", `${what} not found`, target);
      }
      const change = new InstanceChange(
        trx,
        instance,
        await ctx.definitions.get(trx, instance.namespace, instance.workflowName, instance.workflowVersion),
      );
      const result = await body(change);
      return [result, await commitChanges(trx, [change], ctx.wakes.id)] as const;
    });
    ctx.wakes.announce(wakes);
    return result;
  }

  /**
   * Plans the start of a new instance (not yet inserted): its WORKFLOW_STARTED, and the first steps
   * the planner schedules. Nothing is read or written; `startWrite` inserts it.
   */
  static planStart(db: Db, instance: InstanceRow, definition: WorkflowDefinition): InstanceChange {
    const change = new InstanceChange(db, instance, definition);
    const { input, runId, workflowVersion } = instance;
    change.record(change.move("start"), { input, runId, workflowVersion });
    change.applyPlan(change.plan([]), []);
    return change;
  }

  /**
   * Locks the instances owning these executions (in id order, so concurrent batches cannot
   * deadlock), runs `body` with one change per instance, and commits them all together.
   */
  static runForExecutions<T>(
    ctx: ChangeContext,
    executionIds: string[],
    body: (changes: Map<string, InstanceChange>, trx: Transaction<Schema>) => Promise<T>,
  ): Promise<T> {
    return InstanceChange.runLocked(ctx, (trx) => instanceLockByExecutions(trx, executionIds), body);
  }

  /** As `runForExecutions`, for the instances `lock` locks (in id order). */
  static async runLocked<T>(
    ctx: ChangeContext,
    lock: (trx: Transaction<Schema>) => Promise<InstanceRow[]>,
    body: (changes: Map<string, InstanceChange>, trx: Transaction<Schema>) => Promise<T>,
  ): Promise<T> {
    const [result, wakes] = await ctx.db.transaction().execute(async (trx) => {
      const changes = new Map<string, InstanceChange>();
      for (const instance of await lock(trx)) {
        const definition = await ctx.definitions.get(trx, instance.namespace, instance.workflowName, instance.workflowVersion);
        changes.set(instance.instanceId, new InstanceChange(trx, instance, definition));
      }
      const result = await body(changes, trx);
      return [result, await commitChanges(trx, [...changes.values()], ctx.wakes.id)] as const;
    });
    ctx.wakes.announce(wakes);
    return result;
  }

  /**
   * Commits changes planned on an unlocked read, holding no lock while planning: one change per
   * instance of `read`, `body` records on them, the planner runs on `read.tasks`, and `reportWrite`
   * writes it all in one statement, with `closes`, only if no instance moved since the read and
   * every lease still holds (else nothing). Null when nothing was written, also when a plan would
   * cancel tasks (a cancellation races acquires, which the locking path re-plans for): the caller
   * then takes the locking path. The hot path of completions: two statements and no transaction.
   */
  static async commitOnRead<T>(
    ctx: ChangeContext,
    read: ReportRead,
    closes: ClosingReport[],
    body: (changes: Map<string, InstanceChange>) => T,
  ): Promise<T | null> {
    const changes = new Map<string, InstanceChange>();
    for (const instance of read.instances) {
      const definition = await ctx.definitions.get(ctx.db, instance.namespace, instance.workflowName, instance.workflowVersion);
      changes.set(instance.instanceId, new InstanceChange(ctx.db, instance, definition));
    }
    const result = body(changes);
    const active = [...changes.values()].filter((c) => c.active);
    const plans = active.map((c) => c.plan(read.tasks));
    if (plans.some((p) => p.cancel.length > 0)) return null;
    for (const [i, c] of active.entries()) c.applyPlan(plans[i] as Plan, []);
    const writes = pendingWrites([...changes.values()]);
    if (!writes) return result;
    // The steps this write schedules may go straight to polls parked in this process (LocalHandoffs).
    const forward = new Map([...changes.values()].filter((c) => c.active).map((c) => [c.instance.instanceId, c.instance]));
    const written = await ctx.handoffs.writeHandingOff(
      writes.tasks,
      writes.wakes,
      (id) => forward.get(id),
      async (holders, wakes) => {
        const { ok, leased } = await reportWrite(ctx.db, { ...writes, wakes, closes }, ctx.wakes.id, holders);
        if (ok) ctx.wakes.announce(wakes);
        return { result: ok, leased };
      },
    );
    return written ? result : null;
  }

  get state(): InstanceState {
    return this.currentState;
  }

  get output(): unknown {
    return this.currentOutput;
  }

  /** Why the instance stopped running forward, if it did. */
  get error(): InstanceError | null {
    return this.currentError;
  }

  /** The step a manual compensation started from (null: every completed step is undone). */
  get compensateFrom(): string | null {
    return this.currentCompensateFrom;
  }

  /** Stops hand-outs (the caller parks the pending tasks). */
  pause(): void {
    this.record(this.move("pause"), {});
  }

  /** Lets pending tasks flow again (the caller un-parks them). */
  resume(): void {
    this.record(this.move("resume"), {});
  }

  /** Cancels the instance; its open attempts are cancelled first (`cancelTasks`). */
  cancel(): void {
    this.record(this.move("cancel"), {});
  }

  /**
   * Starts compensation by hand: of `fromTaskId` and the steps it depends on, or (null) of every
   * completed step. The history names who asked and the state it started from.
   */
  compensate(fromTaskId: string | null, requestedBy: Requester): void {
    this.currentCompensateFrom = fromTaskId;
    this.currentError = { reason: "COMPENSATION_REQUESTED", ...(fromTaskId ? { step: fromTaskId } : {}) };
    this.record(this.move("compensate"), {
      error: this.currentError,
      ...(fromTaskId ? { fromTaskId } : {}),
      requestedBy,
      fromState: this.instance.state,
    });
  }

  /** Starts compensation of every completed step because the run is past its workflow's deadline. */
  expire(): void {
    this.currentCompensateFrom = null;
    this.currentError = {
      reason: "DEADLINE_EXCEEDED",
      message: `the run did not end within its workflow's timeoutMs (${this.definition.timeoutMs} ms)`,
    };
    this.record(this.move("expire"), { error: this.currentError, fromState: this.instance.state });
  }

  /**
   * Reopens a FAILED or COMPENSATION_FAILED instance to re-run its failed `kind` of `taskId` (the
   * caller schedules it): back to RUNNING, clearing the error, or back to COMPENSATING.
   */
  reopen(taskId: string, kind: TaskKind): void {
    const event = this.move("retry");
    if (this.currentState === "RUNNING") this.currentError = null;
    this.record(event, { state: this.currentState, taskId, kind });
  }

  /** Records how a leased attempt ended (its state: completed, failed or timed out), with the lease it had. */
  recordTaskOutcome(task: TaskRow, idempotencyKey?: string): void {
    const type = taskEvent("LEASED", task.state);
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
        this.record(taskEvent(null, state), { ...attempt, ...facts });
        return row.executionId;
      }
      this.record(taskEvent(null, "PENDING"), { ...attempt, queue: task.queue, delayMs: task.delayMs });
      this.wakeAfter(task.queue, task.delayMs);
      return row.executionId;
    });
  }

  /** Attempts this change will insert, as the planner sees rows. */
  private queuedAttempts(): TaskSnapshot[] {
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
    const snapshot = {
      state: this.currentState,
      input: this.instance.input,
      error: this.currentError,
      compensateFrom: this.currentCompensateFrom,
    };
    return reconcile(this.definition, snapshot, own);
  }

  /** Whether the instance runs (forward or compensating): only then does the planner move it, and are its tasks handed out. */
  get active(): boolean {
    return ACTIVE_INSTANCE_STATES.includes(this.currentState);
  }

  /** Records that these tasks were cancelled (pending or leased: the same event). */
  recordCancelled(tasks: TaskRow[]): void {
    for (const task of tasks) {
      this.record(taskEvent("PENDING", "CANCELLED"), {
        executionId: task.executionId,
        taskId: task.taskId,
        kind: task.kind,
        attempt: task.attempt,
      });
    }
  }

  /**
   * Applies a plan: the transition into compensation, cancellations, new attempts (those the
   * planner settles itself are written finished), then the rest. The planner already counts such
   * settled attempts as outcomes, so one plan goes as far as they allow.
   */
  applyPlan(plan: Plan, cancelled: TaskRow[]): void {
    const [first, ...rest] = plan.transitions;
    const entersCompensation = first?.to === "COMPENSATING";
    if (entersCompensation) this.applyTransition(first);
    this.recordCancelled(cancelled);
    this.schedule(plan.schedule);
    for (const t of entersCompensation ? rest : plan.transitions) this.applyTransition(t);
  }

  /** A move the planner decided. */
  private applyTransition(t: InstanceTransition): void {
    const event = this.move("plan", t.to);
    if (t.to === "COMPLETED") {
      this.currentOutput = t.output;
      this.record(event, { output: t.output });
    } else if (t.to === "COMPENSATED") {
      this.record(event, {});
    } else {
      this.currentError = t.error;
      const from = t.to === "COMPENSATING" && this.currentCompensateFrom ? { fromTaskId: this.currentCompensateFrom } : {};
      this.record(event, { error: t.error, ...from });
    }
  }

  /**
   * Moves the instance along the transitions table: the move `by` makes from its state (`to`
   * names the planner's, which has several). Returns the event the move writes.
   */
  private move<B extends InstanceTrigger>(by: B, to?: TargetOf<B>): EventOf<B> {
    // A new instance's row already says where it starts; its start is the move from nothing.
    const from = by === "start" ? null : this.currentState;
    const move = instanceMove(from, by, to);
    if (!move) {
      throw new BatonError("INTERNAL", `The state machine has no move '${by}' from ${from}${to ? ` to ${to}` : ""}`, {
        instanceId: this.instance.instanceId,
        from,
        by,
        to: to ?? null,
      });
    }
    this.currentState = move.to;
    return move.event as EventOf<B>;
  }

  /** Appends an event to this change. */
  private record<T extends EventType>(type: T, payload: EventPayloads[T], idempotencyKey?: string): void {
    this.events.push({ type, payload, ...(idempotencyKey ? { idempotencyKey } : {}) });
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

/**
 * Plans every active instance, then writes all changes in one statement, its NOTIFY tagged with
 * `sender`; answers the wakes the new work needs, for the caller to announce once committed.
 */
async function commitChanges(trx: Transaction<Schema>, changes: InstanceChange[], sender: string): Promise<QueueWake[]> {
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
      let got = cancelled.filter((t) => t.instanceId === c.instance.instanceId);
      const all = [...got];
      // A planned cancellation finds its task no longer pending when an acquire leased it after the
      // planner read the rows (acquire takes no instance lock). That DO must be waited for and
      // undone, not cancelled: plan again with the rows as they are now.
      const missed = (p: Plan, landed: TaskRow[]) => landed.length < new Set(p.cancel).size;
      for (let round = 0; missed(plan, got) && round < REPLAN_ROUNDS; round++) {
        plan = c.plan(await taskListByInstances(trx, [c.instance.instanceId]));
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
      c.applyPlan(plan, all);
    }
  }

  const writes = pendingWrites(changes);
  if (!writes) return [];
  await changeWrite(trx, writes, sender);
  return writes.wakes;
}

/** What the changes write, for one statement; null when none of them changed anything. */
function pendingWrites(changes: InstanceChange[]) {
  const writes = changes.flatMap((c) => {
    const p = c.pending();
    return p ? [{ change: c, ...p }] : [];
  });
  if (writes.length === 0) return null;
  return {
    tasks: writes.flatMap((w) => w.inserts),
    history: writes.map((w) => w.history),
    instances: writes.map(
      (w): InstanceWrite => ({
        instanceId: w.change.instance.instanceId,
        expectedSequence: w.change.instance.sequenceNumber,
        sequenceNumber: w.sequenceNumber,
        state: w.change.state,
        output: w.change.output,
        error: w.change.error,
        compensateFrom: w.change.compensateFrom,
      }),
    ),
    wakes: writes.flatMap((w) => w.wake),
  };
}
