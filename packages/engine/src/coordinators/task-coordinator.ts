import { BatonError } from "../contract/errors.ts";
import type { AcquiredTask, TaskOutcome } from "../contract/types.ts";
import type { Db } from "../db/database.ts";
import { jsonEqual } from "../domain/canonical-json.ts";
import type { TaskKind } from "../domain/states.ts";
import { eventKeysExisting } from "../store/events.ts";
import {
  type TaskRow,
  taskAcquire,
  taskCompleteManyIfLeased,
  taskFailIfLeased,
  taskGet,
  taskHeartbeatIfLeased,
  taskListByInstances,
  taskListExpired,
  taskReleaseIfLeased,
  taskTimeOutIfExpired,
} from "../store/tasks.ts";
import type { DefinitionCache } from "./definition-cache.ts";
import { InstanceChange } from "./instance-change.ts";
import { acquiredView } from "./views.ts";

export interface LeaseWrite {
  executionId: string;
  workerId: string;
  fenceToken: number;
}

/**
 * A reported outcome. `idempotencyKey` names the report itself (e.g. the Kafka message it came
 * from): a key already applied answers `duplicate` and changes nothing, even when the report would
 * now match another attempt.
 */
export type OutcomeReport = LeaseWrite & { idempotencyKey?: string };

export const MAX_ACQUIRE = 1000;

/** An attempt that ended, told to `onFinished` listeners once its transaction committed. */
export interface TaskFinished {
  executionId: string;
  queue: string;
  state: "COMPLETED" | "FAILED" | "TIMED_OUT";
}

/**
 * Hands out tasks under leases and accepts their outcomes only with the lease's fence token
 * (DESIGN §4). Every outcome advances the workflow in the same transaction.
 */
export class TaskCoordinator {
  private readonly finishedListeners = new Set<(finished: TaskFinished) => void>();

  constructor(
    private readonly db: Db,
    private readonly definitions: DefinitionCache,
  ) {}

  /**
   * Calls `listener` for every attempt this process completes, fails or times out, after the
   * commit (for metrics). Repeats of an accepted outcome are not told. Returns the unsubscribe.
   */
  onFinished(listener: (finished: TaskFinished) => void): () => void {
    this.finishedListeners.add(listener);
    return () => this.finishedListeners.delete(listener);
  }

  private tellFinished(tasks: TaskRow[]): void {
    for (const task of tasks) {
      const finished = { executionId: task.executionId, queue: task.queue, state: task.state as TaskFinished["state"] };
      for (const listener of this.finishedListeners) listener(finished);
    }
  }

  /**
   * Leases up to `max` available tasks from `queues` to `workerId`, each with a fresh fence token.
   * @example const tasks = await engine.tasks.acquire({ queues: ["billing.charge"], workerId: "w1", max: 10 });
   */
  async acquire(params: { queues: string[]; workerId: string; max: number }): Promise<AcquiredTask[]> {
    if (params.queues.length === 0 || params.max < 1) return [];
    const rows = await taskAcquire(this.db, { ...params, max: Math.min(params.max, MAX_ACQUIRE) });
    return rows.map(acquiredView);
  }

  /** Leases one named execution if it is pending and available; null when it is not. */
  async acquireById(executionId: string, workerId: string): Promise<AcquiredTask | null> {
    const task = await taskGet(this.db, executionId);
    if (!task) throw new BatonError("NOT_FOUND", `Execution ${executionId} not found`, { executionId });
    const [row] = await taskAcquire(this.db, { queues: [task.queue], workerId, max: 1, executionId });
    return row ? acquiredView(row) : null;
  }

  /** Extends the lease by the step's leaseMs, only while this worker holds it with this fence. */
  async heartbeat(lease: LeaseWrite): Promise<{ leaseExpiresAt: string }> {
    const expiresAt = await taskHeartbeatIfLeased(this.db, lease);
    if (!expiresAt) throw this.rejection(lease, await taskGet(this.db, lease.executionId), "heartbeat");
    return { leaseExpiresAt: expiresAt.toISOString() };
  }

  /** Extends many leases; each item gets its own answer, the new expiry or the error that refused it. */
  async heartbeatMany(leases: LeaseWrite[]): Promise<({ leaseExpiresAt: string } | BatonError)[]> {
    return Promise.all(leases.map((l) => this.heartbeat(l).catch(asBatonError)));
  }

  /**
   * Completes a leased task with its output. Repeating an accepted completion with the same fence
   * and output succeeds again and changes nothing (`duplicate: true`).
   */
  async complete(lease: OutcomeReport & { output?: unknown }): Promise<TaskOutcome> {
    const [result] = await this.completeMany([lease]);
    if (result instanceof BatonError) throw result;
    return result as TaskOutcome;
  }

  /**
   * Completes many leased tasks in one transaction, one statement per table: the batched hot path.
   * Each item gets its own answer, an outcome or the BatonError that refused it; refusals change
   * nothing and do not hold back the rest.
   */
  async completeMany(leases: (OutcomeReport & { output?: unknown })[]): Promise<(TaskOutcome | BatonError)[]> {
    const items = leases.map((l) => ({ ...l, output: l.output ?? null }));
    const applied: TaskRow[] = [];
    const answers = await InstanceChange.runForExecutions(
      this.db,
      this.definitions,
      items.map((i) => i.executionId),
      async (changes, trx) => {
        // An execution named twice in one batch is applied once; its later copies are answered
        // like a repeated call (duplicate, or a conflict when the output differs).
        const first = new Map<string, number>();
        for (const [i, item] of items.entries()) if (!first.has(item.executionId)) first.set(item.executionId, i);
        const seen = await eventKeysExisting(
          trx,
          items.flatMap((i) => (i.idempotencyKey ? [i.idempotencyKey] : [])),
        );
        const replayed = (item: (typeof items)[number]) => item.idempotencyKey !== undefined && seen.has(item.idempotencyKey);
        const unique = items.filter((item, i) => first.get(item.executionId) === i && !replayed(item));
        const completed = new Map((await taskCompleteManyIfLeased(trx, unique)).map((t) => [t.executionId, t]));
        return Promise.all(
          items.map(async (item, i): Promise<TaskOutcome | BatonError> => {
            if (replayed(item)) return { executionId: item.executionId, state: "COMPLETED", duplicate: true };
            const task = first.get(item.executionId) === i ? completed.get(item.executionId) : undefined;
            if (task) {
              applied.push(task);
              changes.get(task.instanceId)?.recordTaskOutcome(task, "TASK_COMPLETED", item.idempotencyKey);
              return { executionId: task.executionId, state: task.state, duplicate: false };
            }
            const current = await taskGet(trx, item.executionId);
            if (current?.state === "COMPLETED" && current.fenceToken === item.fenceToken && jsonEqual(current.output, item.output)) {
              return { executionId: current.executionId, state: current.state, duplicate: true };
            }
            return this.rejection(item, current, "complete");
          }),
        );
      },
    );
    this.tellFinished(applied);
    return answers;
  }

  /**
   * Fails a leased task. With attempts left the step is retried after its backoff; `retryable:
   * false` makes this the last attempt. A repeat with the same fence is a no-op success.
   */
  async fail(lease: OutcomeReport & { error?: unknown; retryable?: boolean }): Promise<TaskOutcome> {
    const error = lease.error ?? null;
    const applied: TaskRow[] = [];
    const outcome = await InstanceChange.run(
      this.db,
      this.definitions,
      { executionId: lease.executionId },
      async (change): Promise<TaskOutcome> => {
        if (lease.idempotencyKey && (await eventKeysExisting(change.trx, [lease.idempotencyKey])).size > 0) {
          return { executionId: lease.executionId, state: "FAILED", duplicate: true };
        }
        const task = await taskFailIfLeased(change.trx, { ...lease, error, exhaust: lease.retryable === false });
        if (task) {
          applied.push(task);
          change.recordTaskOutcome(task, "TASK_FAILED", lease.idempotencyKey);
          return { executionId: task.executionId, state: task.state, duplicate: false };
        }
        const current = await taskGet(change.trx, lease.executionId);
        if (current?.state === "FAILED" && current.fenceToken === lease.fenceToken) {
          return { executionId: current.executionId, state: current.state, duplicate: true };
        }
        throw this.rejection(lease, current, "fail");
      },
    );
    this.tellFinished(applied);
    return outcome;
  }

  /** Fails many leased tasks; each item gets its own answer, an outcome or the error that refused it. */
  async failMany(reports: (OutcomeReport & { error?: unknown; retryable?: boolean })[]): Promise<(TaskOutcome | BatonError)[]> {
    return Promise.all(reports.map((r) => this.fail(r).catch(asBatonError)));
  }

  /**
   * Hands leased tasks back unstarted, e.g. when the HTTP client that long-polled for them went
   * away before the answer reached it. Each step is scheduled again at once without spending an
   * attempt; the released leases' fences are dead. Returns how many were released.
   */
  async release(leases: LeaseWrite[]): Promise<number> {
    return InstanceChange.runForExecutions(
      this.db,
      this.definitions,
      leases.map((l) => l.executionId),
      async (changes, trx) => {
        const released = await taskReleaseIfLeased(trx, leases);
        for (const task of released) changes.get(task.instanceId)?.recordCancelled([task]);
        return released.length;
      },
    );
  }

  /**
   * Re-runs a failed step by hand, with a fresh retry budget and optionally new input: how an
   * operator repairs a FAILED instance (its DO) or a COMPENSATION_FAILED one (its UNDO).
   */
  async retryTask(instanceId: string, taskId: string, input?: unknown): Promise<RetriedTask> {
    return InstanceChange.run(this.db, this.definitions, { instanceId }, async (change) => {
      const kind: TaskKind | null = change.state === "FAILED" ? "DO" : change.state === "COMPENSATION_FAILED" ? "UNDO" : null;
      if (!kind) {
        throw new BatonError(
          "INVALID_STATE",
          `Only a FAILED or COMPENSATION_FAILED instance can retry a task; this one is ${change.state}`,
          {
            instanceId,
            state: change.state,
          },
        );
      }
      const step = change.definition.steps.find((s) => s.name === taskId);
      if (!step) throw new BatonError("NOT_FOUND", `Workflow ${change.definition.name} has no step '${taskId}'`, { instanceId, taskId });
      // Re-running another step would change nothing: the failed one would stop the instance again.
      const failedStep = change.error?.step;
      if (failedStep !== undefined && failedStep !== taskId) {
        throw new BatonError("INVALID_STATE", `Step '${failedStep}' is the one that failed; retry it rather than '${taskId}'`, {
          instanceId,
          taskId,
          failedStep,
        });
      }
      const attempts = (await taskListByInstances(change.trx, [instanceId])).filter((t) => t.taskId === taskId && t.kind === kind);
      const last = attempts.reduce<TaskRow | undefined>((a, t) => (!a || t.attempt > a.attempt ? t : a), undefined);
      if (!last || (last.state !== "FAILED" && last.state !== "TIMED_OUT")) {
        throw new BatonError("INVALID_STATE", `Step '${taskId}' has no failed ${kind} attempt to retry`, {
          instanceId,
          taskId,
          kind,
          state: last?.state ?? null,
        });
      }
      const target = kind === "UNDO" && step.undo ? step.undo : { queue: step.queue, leaseMs: step.leaseMs };
      change.state = kind === "DO" ? "RUNNING" : "COMPENSATING";
      if (kind === "DO") change.error = null;
      change.record("WORKFLOW_REOPENED", { state: change.state, taskId, kind });
      const [executionId] = change.schedule([
        {
          taskId,
          kind,
          attempt: last.attempt + 1,
          maxAttempts: last.attempt + step.retry.maxAttempts,
          ...target,
          input: input === undefined ? last.input : input,
          delayMs: 0,
        },
      ]);
      return { executionId: executionId as string, taskId, kind, attempt: last.attempt + 1 };
    });
  }

  /**
   * Times out leases that expired (the attempt counts as a failure for retries). Safe to run on
   * every replica at once. Returns how many leases it reclaimed.
   */
  async reapExpiredLeases(limit = 500): Promise<number> {
    const expired = await taskListExpired(this.db, limit);
    const byInstance = new Map<string, typeof expired>();
    for (const e of expired) byInstance.set(e.instanceId, [...(byInstance.get(e.instanceId) ?? []), e]);
    let reaped = 0;
    for (const [instanceId, tasks] of byInstance) {
      const timedOut = await InstanceChange.run(this.db, this.definitions, { instanceId }, async (change) => {
        const timedOut = await taskTimeOutIfExpired(
          change.trx,
          tasks.map((t) => t.executionId),
        );
        for (const task of timedOut) change.recordTaskOutcome(task, "TASK_TIMED_OUT");
        return timedOut;
      }).catch((error: unknown) => {
        // An instance deleted meanwhile has nothing left to reap.
        if (error instanceof BatonError && error.code === "NOT_FOUND") return [];
        throw error;
      });
      this.tellFinished(timedOut);
      reaped += timedOut.length;
    }
    return reaped;
  }

  /** Explains why a fenced write was refused, as a typed error. */
  private rejection(lease: LeaseWrite, current: TaskRow | null, action: string): BatonError {
    const details = { executionId: lease.executionId, fenceToken: lease.fenceToken, workerId: lease.workerId };
    if (!current) return new BatonError("NOT_FOUND", `Execution ${lease.executionId} not found`, details);
    const state = { ...details, state: current.state, currentFenceToken: current.fenceToken };
    if (current.fenceToken !== lease.fenceToken) {
      return new BatonError(
        "STALE_FENCE",
        `Cannot ${action}: fence token ${lease.fenceToken} is not the lease's (${current.fenceToken ?? "none"})`,
        state,
      );
    }
    if (current.state === "COMPLETED") {
      return new BatonError("ALREADY_COMPLETED", `Cannot ${action}: execution ${lease.executionId} is already completed`, state);
    }
    if (current.leaseHolder !== lease.workerId) {
      return new BatonError("NOT_LEASED", `Cannot ${action}: the lease is held by another worker`, state);
    }
    // Same fence, same holder, still LEASED: the only reason left is that the lease ran out.
    if (current.state === "TIMED_OUT" || current.state === "LEASED") {
      return new BatonError("LEASE_EXPIRED", `Cannot ${action}: the lease expired`, state);
    }
    return new BatonError("NOT_LEASED", `Cannot ${action}: execution ${lease.executionId} is ${current.state}`, state);
  }
}

/** The attempt a manual retry scheduled. */
export interface RetriedTask {
  executionId: string;
  taskId: string;
  kind: TaskKind;
  attempt: number;
}

function asBatonError(error: unknown): BatonError {
  if (error instanceof BatonError) return error;
  throw error;
}
