import type { Transaction } from "kysely";
import { BatonError } from "../contract/errors.ts";
import type { Db } from "../db/database.ts";
import type { Schema } from "../db/schema.ts";
import type { WorkflowDefinition } from "../domain/definition.ts";
import { type InstanceError, type InstanceTransition, reconcile } from "../domain/reconcile.ts";
import type { InstanceState } from "../domain/states.ts";
import { eventInsertMany, type NewEvent } from "../store/events.ts";
import { type InstanceRow, instanceLock, instanceLockByExecution, instanceUpdateIfSequence } from "../store/instances.ts";
import { type TaskRow, taskCancelMany, taskInsertMany, taskListByInstance, taskNotifyQueues } from "../store/tasks.ts";
import type { DefinitionCache } from "./definition-cache.ts";

const TRANSITION_EVENT: Record<InstanceTransition["to"], string> = {
  COMPLETED: "WORKFLOW_COMPLETED",
  COMPENSATING: "COMPENSATION_STARTED",
  COMPENSATED: "WORKFLOW_COMPENSATED",
  FAILED: "WORKFLOW_FAILED",
  COMPENSATION_FAILED: "COMPENSATION_FAILED",
};

/**
 * One change to one workflow instance, inside one transaction: the instance row is locked first
 * (so changes to an instance are serial and lock order is always instance, then tasks), the caller
 * records what it did, and `commit` lets the planner take the instance as far as it can go, appends
 * every event with contiguous sequence numbers, writes the instance guarded by its sequence number,
 * and notifies the queues that got new work.
 */
export class InstanceChange {
  state: InstanceState;
  output: unknown;
  error: InstanceError | null;
  compensateFrom: string | null;
  private readonly events: NewEvent[] = [];
  private readonly wakeQueues = new Set<string>();

  private constructor(
    readonly trx: Transaction<Schema>,
    readonly instance: InstanceRow,
    readonly definition: WorkflowDefinition,
  ) {
    this.state = instance.state;
    this.output = instance.output;
    this.error = instance.error;
    this.compensateFrom = instance.compensateFrom;
  }

  /** Runs `body` on the locked instance and commits the change; all in one transaction. */
  static async run<T>(
    db: Db,
    definitions: DefinitionCache,
    target: { instanceId: string } | { executionId: string },
    body: (change: InstanceChange) => Promise<T>,
  ): Promise<T> {
    return db.transaction().execute((trx) => InstanceChange.within(trx, definitions, target, body));
  }

  /** As `run`, inside a transaction the caller already holds. */
  static async within<T>(
    trx: Transaction<Schema>,
    definitions: DefinitionCache,
    target: { instanceId: string } | { executionId: string },
    body: (change: InstanceChange) => Promise<T>,
  ): Promise<T> {
    {
      const instance =
        "instanceId" in target ? await instanceLock(trx, target.instanceId) : await instanceLockByExecution(trx, target.executionId);
      if (!instance) {
        const what = "instanceId" in target ? `Instance ${target.instanceId}` : `Execution ${target.executionId}`;
        throw new BatonError("NOT_FOUND", `${what} not found`, target);
      }
      const definition = await definitions.get(trx, instance.namespace, instance.workflowName, instance.workflowVersion);
      const change = new InstanceChange(trx, instance, definition);
      const result = await body(change);
      await change.commit();
      return result;
    }
  }

  /** Appends an event to this change. */
  record(type: string, payload: Record<string, unknown>, idempotencyKey?: string): void {
    this.events.push({ type, payload, ...(idempotencyKey ? { idempotencyKey } : {}) });
  }

  /** Records that a task reached a state (completion, failure, time-out). */
  recordTaskOutcome(task: TaskRow, type: "TASK_COMPLETED" | "TASK_FAILED" | "TASK_TIMED_OUT"): void {
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
      `${task.executionId}:${type}`,
    );
  }

  /** Cancels pending and leased tasks (their holders' later writes are rejected). */
  async cancelTasks(executionIds: string[]): Promise<void> {
    for (const task of await taskCancelMany(this.trx, executionIds)) {
      this.record("TASK_CANCELLED", { executionId: task.executionId, taskId: task.taskId, kind: task.kind, attempt: task.attempt });
    }
  }

  /** Makes queues' waiting acquirers look again once this change commits. */
  wake(queues: Iterable<string>): void {
    for (const q of queues) this.wakeQueues.add(q);
  }

  /** Inserts attempts decided outside the planner (a manual retry). */
  async schedule(tasks: Parameters<typeof taskInsertMany>[2]): Promise<TaskRow[]> {
    const rows = await taskInsertMany(this.trx, this.instance.instanceId, tasks);
    for (const row of rows) {
      this.record("TASK_SCHEDULED", {
        executionId: row.executionId,
        taskId: row.taskId,
        kind: row.kind,
        attempt: row.attempt,
        queue: row.queue,
        availableAt: row.availableAt.toISOString(),
      });
    }
    this.wake(tasks.filter((t) => t.delayMs === 0).map((t) => t.queue));
    return rows;
  }

  private async advance(): Promise<void> {
    if (this.state !== "RUNNING" && this.state !== "COMPENSATING") return;
    const tasks = await taskListByInstance(this.trx, this.instance.instanceId);
    const plan = reconcile(
      this.definition,
      { state: this.state, input: this.instance.input, error: this.error, compensateFrom: this.compensateFrom },
      tasks,
    );
    const [first, ...rest] = plan.transitions;
    const transitions = first?.to === "COMPENSATING" ? rest : plan.transitions;
    if (first?.to === "COMPENSATING") this.applyTransition(first);
    await this.cancelTasks(plan.cancel);
    await this.schedule(plan.schedule);
    for (const t of transitions) this.applyTransition(t);
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

  private async commit(): Promise<void> {
    await this.advance();
    if (this.events.length === 0) return;
    const first = this.instance.sequenceNumber + 1;
    await eventInsertMany(this.trx, this.instance.instanceId, first, this.events);
    await instanceUpdateIfSequence(this.trx, {
      instanceId: this.instance.instanceId,
      expectedSequence: this.instance.sequenceNumber,
      sequenceNumber: this.instance.sequenceNumber + this.events.length,
      state: this.state,
      output: this.output,
      error: this.error,
      compensateFrom: this.compensateFrom,
    });
    if (this.state === "RUNNING" || this.state === "COMPENSATING") await taskNotifyQueues(this.trx, [...this.wakeQueues]);
  }
}
