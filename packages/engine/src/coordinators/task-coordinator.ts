import {
  type AcquiredTask,
  BatonError,
  checkJsonValue,
  holderKeyOf,
  jsonValueError,
  type TaskKind,
  type TaskOutcome,
} from "@baton/contract";
import type { Logger } from "pino";
import type { Db, DbOrTrx } from "../db/database.ts";
import { jsonEqual } from "../domain/canonical-json.ts";
import { retryTarget } from "../domain/fan-out.ts";
import { instanceMove, statesAllowing } from "../domain/transitions.ts";
import { reportKeysApplied } from "../store/events.ts";
import { instanceLockWithExpiredLeases } from "../store/instances.ts";
import {
  type ClosingReport,
  type FencedAnswer,
  reportRead,
  taskAcquire,
  taskCloseIfLeased,
  taskHeartbeatMany,
} from "../store/task-leases.ts";
import {
  type TaskRow,
  taskGet,
  taskGetLeasedByStep,
  taskListByInstances,
  taskListExpired,
  taskNamespace,
  taskTimeOutIfExpired,
} from "../store/tasks.ts";
import type { DefinitionCache } from "./definition-cache.ts";
import { GroupCommit } from "./group-commit.ts";
import { type ChangeContext, InstanceChange, lockedChange } from "./instance-change.ts";
import type { LocalHandoffs } from "./local-handoffs.ts";
import type { LocalWakes } from "./local-wakes.ts";
import { PoisonedInstances, type PoisonedPage } from "./poisoned-instances.ts";
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

export type CompletionReport = OutcomeReport & { output?: unknown };
export type FailureReport = OutcomeReport & { error?: unknown; retryable?: boolean };

/** What a worker reports about its lease; all three close the attempt. */
type Report =
  | (CompletionReport & { type: "complete" })
  | (FailureReport & { type: "fail" })
  | (LeaseWrite & { type: "release"; idempotencyKey?: undefined });

export const MAX_ACQUIRE = 1000;

/** Instances the lease reaper times out per transaction. */
const REAP_BATCH = 100;

/** Acquire calls coalesced into one statement: at most this many callers per statement. */
const MAX_ACQUIRE_CALLERS = 64;

/** An attempt that ended, told to `onFinished` listeners once its transaction committed. */
export interface TaskFinished {
  executionId: string;
  instanceId: string;
  queue: string;
  state: "COMPLETED" | "FAILED" | "TIMED_OUT";
}

/**
 * Hands out tasks under leases and accepts their outcomes only with the lease's fence token
 * (DESIGN §4). Every outcome advances the workflow in the same transaction.
 *
 * Concurrent calls are group-committed: acquires of the same queues share one statement, and
 * heartbeats one statement, and completions, failures and releases one transaction, per batch
 * (see GroupCommit). Each caller still gets its own answer or its own typed refusal.
 */
export class TaskCoordinator {
  private readonly finishedListeners = new Set<(finished: TaskFinished) => void>();
  // Two report flushes in flight: while one waits on the database, the next is being planned, and
  // both cores are used (measured: ~1.2x the drain rate of one at a time).
  private readonly reports = new GroupCommit<Report, TaskOutcome>((items) => this.applyReports(items), { maxFlushes: 2 });
  private readonly heartbeats = new GroupCommit<LeaseWrite, { leaseExpiresAt: string }>((items) => this.renewLeases(items));
  /** One group per set of queues: only callers polling the same queues can share a statement. */
  private readonly acquires = new Map<string, GroupCommit<{ workerId: string; max: number }, AcquiredTask[]>>();
  /** Instances the lease reaper had to skip (poisoned rows), kept for operators to see. */
  private readonly poisoned = new PoisonedInstances();

  private readonly changes: ChangeContext;

  private handedOut = 0;

  constructor(
    private readonly db: Db,
    definitions: DefinitionCache,
    private readonly logger: Pick<Logger, "error">,
    wakes: LocalWakes,
    handoffs: LocalHandoffs,
  ) {
    this.changes = { db, definitions, wakes, handoffs };
  }

  /** Leases handed out by this process so far (the lease table vacuum counts its churn by them). */
  get leasesHandedOut(): number {
    return this.handedOut;
  }

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
      if (task.state !== "COMPLETED" && task.state !== "FAILED" && task.state !== "TIMED_OUT") continue;
      const finished = { executionId: task.executionId, instanceId: task.instanceId, queue: task.queue, state: task.state };
      for (const listener of this.finishedListeners) listener(finished);
    }
  }

  /**
   * Leases up to `max` available tasks from `queues` to `workerId`, each with a fresh fence token.
   * @example const tasks = await engine.tasks.acquire({ queues: ["billing.charge"], workerId: "w1", max: 10 });
   */
  async acquire(params: { queues: string[]; workerId: string; max: number }): Promise<AcquiredTask[]> {
    if (params.queues.length === 0 || params.max < 1) return [];
    const queues = [...new Set(params.queues)].sort();
    const key = queues.join("\u0000");
    let group = this.acquires.get(key);
    if (!group) {
      group = new GroupCommit((calls) => this.leaseTo(queues, calls), { maxBatch: MAX_ACQUIRE_CALLERS });
      this.acquires.set(key, group);
    }
    try {
      return await group.submit({ workerId: params.workerId, max: Math.min(params.max, MAX_ACQUIRE) });
    } finally {
      if (!group.busy) this.acquires.delete(key);
    }
  }

  /**
   * One statement for many acquire calls on the same queues. Slots are dealt round-robin, so when
   * fewer tasks are available than asked for, every caller gets a share.
   */
  private async leaseTo(queues: string[], calls: { workerId: string; max: number }[]): Promise<AcquiredTask[][]> {
    const owners: number[] = [];
    const most = Math.max(...calls.map((c) => c.max));
    for (let round = 0; round < most; round++) for (const [i, c] of calls.entries()) if (c.max > round) owners.push(i);
    const rows = await taskAcquire(this.db, { queues, holders: owners.map((i) => (calls[i] as { workerId: string }).workerId) });
    this.handedOut += rows.length;
    const answers: AcquiredTask[][] = calls.map(() => []);
    for (const row of rows) answers[owners[row.slot] as number]?.push(acquiredView(row));
    return answers;
  }

  /** Leases one named execution if it is pending and available; null when it is not. */
  async acquireById(executionId: string, workerId: string): Promise<AcquiredTask | null> {
    const task = await taskGet(this.db, executionId);
    if (!task) throw new BatonError("NOT_FOUND", `Execution ${executionId} not found`, { executionId });
    const [row] = await taskAcquire(this.db, { queues: [task.queue], holders: [workerId], executionId });
    return row ? acquiredView(row) : null;
  }

  /**
   * The lease `holderId` holds now on the attempt of one step (DO or UNDO) of one instance, or null.
   * For replies that name the step but not the execution (services written against the older
   * orchestrators echo only flowId, stepName and action).
   */
  async leaseOfStep(params: {
    instanceId: string;
    taskId: string;
    kind: TaskKind;
    holderId: string;
  }): Promise<{ executionId: string; fenceToken: number } | null> {
    const task = await taskGetLeasedByStep(this.db, params);
    return task?.fenceToken ? { executionId: task.executionId, fenceToken: task.fenceToken } : null;
  }

  /** The namespace of the instance an execution belongs to, or null when there is no such execution. */
  async executionNamespace(executionId: string): Promise<string | null> {
    return taskNamespace(this.db, executionId);
  }

  /** Extends the lease by the step's leaseMs, only while this worker holds it with this fence. */
  heartbeat(lease: LeaseWrite): Promise<{ leaseExpiresAt: string }> {
    return this.heartbeats.submit(lease);
  }

  /** Extends many leases; each item gets its own answer, the new expiry or the error that refused it. */
  heartbeatMany(leases: LeaseWrite[]): Promise<({ leaseExpiresAt: string } | BatonError)[]> {
    return this.heartbeats.submitMany(leases);
  }

  private async renewLeases(leases: LeaseWrite[]): Promise<({ leaseExpiresAt: string } | BatonError)[]> {
    const answers = await taskHeartbeatMany(this.db, leases);
    return answers.map((a, i) =>
      a.applied && a.task?.leaseExpiresAt
        ? { leaseExpiresAt: a.task.leaseExpiresAt.toISOString() }
        : this.rejection(leases[i] as LeaseWrite, a.task, "heartbeat"),
    );
  }

  /**
   * Completes a leased task with its output. Repeating an accepted completion with the same fence
   * and output succeeds again and changes nothing (`duplicate: true`).
   */
  complete(report: CompletionReport): Promise<TaskOutcome> {
    return this.submitReport({ ...report, type: "complete" });
  }

  /**
   * Completes many leased tasks: the batched hot path. Each item gets its own answer, an outcome
   * or the BatonError that refused it; refusals change nothing and do not hold back the rest.
   */
  completeMany(reports: CompletionReport[]): Promise<(TaskOutcome | BatonError)[]> {
    return this.submitReports(reports.map((r) => ({ ...r, type: "complete" as const })));
  }

  /**
   * Fails a leased task. With attempts left the step is retried after its backoff; `retryable:
   * false` makes this the last attempt. A repeat with the same fence is a no-op success.
   */
  fail(report: FailureReport): Promise<TaskOutcome> {
    return this.submitReport({ ...report, type: "fail" });
  }

  /** Fails many leased tasks; each item gets its own answer, an outcome or the error that refused it. */
  failMany(reports: FailureReport[]): Promise<(TaskOutcome | BatonError)[]> {
    return this.submitReports(reports.map((r) => ({ ...r, type: "fail" as const })));
  }

  private submitReport(report: Report): Promise<TaskOutcome> {
    const refused = reportValueError(report);
    return refused ? Promise.reject(refused) : this.reports.submit(report);
  }

  /** Reports whose output or error is over the limits are refused on their own; the rest go to the group commit. */
  private async submitReports(reports: Report[]): Promise<(TaskOutcome | BatonError)[]> {
    const refusals = reports.map(reportValueError);
    const answers = await this.reports.submitMany(reports.filter((_, i) => refusals[i] === null));
    let next = 0;
    return reports.map((_, i) => refusals[i] ?? (answers[next++] as TaskOutcome | BatonError));
  }

  /**
   * Hands leased tasks back unstarted, e.g. when the HTTP client that long-polled for them went
   * away before the answer reached it. Each step is scheduled again at once without spending an
   * attempt; the released leases' fences are dead. Returns how many were released.
   */
  async release(leases: LeaseWrite[]): Promise<number> {
    const answers = await this.reports.submitMany(leases.map((l) => ({ ...l, type: "release" as const })));
    return answers.filter((a) => !(a instanceof BatonError)).length;
  }

  /** Applies a batch of reports: on a read when nothing races them, else under the instances' locks. */
  private async applyReports(items: Report[]): Promise<(TaskOutcome | BatonError)[]> {
    return (await this.applyReportsOnRead(items)) ?? (await this.applyReportsLocked(items));
  }

  /**
   * The reports' fast path: one unlocked read of the instances and their attempts, the outcomes
   * and the plans made on it, one statement that writes them all only if nothing moved meanwhile
   * (`InstanceChange.commitOnRead`). A refusal is answered from the read: a fence that is not the
   * lease's now never will be. Null, having written nothing, when the locking path must decide:
   * reports that name themselves (their keys are checked under the lock), a lease that looks
   * expired (the locking path explains it), a plan that cancels, or a write that found the rows moved.
   */
  private async applyReportsOnRead(items: Report[]): Promise<(TaskOutcome | BatonError)[] | null> {
    if (items.some((i) => i.idempotencyKey !== undefined)) return null;
    const read = await reportRead(
      this.db,
      items.map((i) => i.executionId),
    );
    const current = new Map(read.tasks.map((t) => [t.executionId, t]));
    const closes: ClosingReport[] = [];
    const applying = new Map<number, TaskRow>();
    const now = Date.now();
    for (const [i, item] of items.entries()) {
      const task = current.get(item.executionId);
      if (!task || task.state !== "LEASED" || task.fenceToken !== item.fenceToken || task.leaseHolder !== item.workerId) continue;
      const closing = closingReport(item);
      if (closing.requireUnexpired && (task.leaseExpiresAt?.getTime() ?? 0) <= now) return null;
      // The read's row becomes what the close will make of it (the read is this call's own): the
      // planner sees the outcome, and later copies of this report are answered against it.
      task.state = closing.state;
      task.output = closing.output ?? null;
      task.error = closing.error ?? null;
      if (closing.exhaust) task.maxAttempts = task.attempt;
      task.finishedAt = new Date(now);
      closes.push(closing);
      applying.set(i, task);
    }
    const committed = await InstanceChange.commitOnRead(this.changes, read, closes, (changes) => {
      for (const [i, task] of applying) {
        const change = lockedChange(changes, task.instanceId);
        if ((items[i] as Report).type === "release") change.recordCancelled([task]);
        else change.recordTaskOutcome(task);
      }
    });
    if (committed === null) return null;
    this.tellFinished([...applying.values()]);
    return items.map((item, i): TaskOutcome | BatonError => {
      const task = applying.get(i);
      if (task) return { executionId: task.executionId, state: task.state, duplicate: false };
      const row = current.get(item.executionId) ?? null;
      if (isRepeat(item, row)) return { executionId: item.executionId, state: outcomeState(item), duplicate: true };
      return this.rejection(item, row, item.type);
    });
  }

  /**
   * The reports' locking path, one transaction: the instances are locked (in id order), one
   * statement closes every attempt whose fence matches and explains the others, the planner takes
   * each instance forward, and one statement writes the rest.
   */
  private async applyReportsLocked(items: Report[]): Promise<(TaskOutcome | BatonError)[]> {
    const applied: TaskRow[] = [];
    const answers = await InstanceChange.runForExecutions(
      this.changes,
      items.map((i) => i.executionId),
      async (changes, trx) => {
        // An execution named twice in one batch is applied once; its later copies are answered
        // like a repeated call (duplicate, or a conflict).
        const first = new Map<string, number>();
        for (const [i, item] of items.entries()) if (!first.has(item.executionId)) first.set(item.executionId, i);
        const keys = items.flatMap((i) => (i.idempotencyKey ? [i.idempotencyKey] : []));
        const seen = keys.length > 0 ? await reportKeysApplied(trx, keys) : new Set<string>();
        const replayed = (item: Report) => item.idempotencyKey !== undefined && seen.has(item.idempotencyKey);
        const closing = items.filter((item, i) => first.get(item.executionId) === i && !replayed(item));
        const closed = new Map<string, FencedAnswer>();
        for (const [i, answer] of (await taskCloseIfLeased(trx, closing.map(closingReport))).entries()) {
          closed.set((closing[i] as Report).executionId, answer);
        }
        return items.map((item, i): TaskOutcome | BatonError => {
          if (replayed(item)) return { executionId: item.executionId, state: outcomeState(item), duplicate: true };
          const answer = closed.get(item.executionId);
          const task = answer?.task ?? null;
          if (answer?.applied && task && first.get(item.executionId) === i) {
            const change = lockedChange(changes, task.instanceId);
            if (item.type === "release") change.recordCancelled([task]);
            else change.recordTaskOutcome(task, item.idempotencyKey);
            applied.push(task);
            return { executionId: task.executionId, state: task.state, duplicate: false };
          }
          if (isRepeat(item, task)) return { executionId: item.executionId, state: outcomeState(item), duplicate: true };
          return this.rejection(item, task, item.type);
        });
      },
    );
    this.tellFinished(applied);
    return answers;
  }

  /**
   * Re-runs a failed step by hand, with a fresh retry budget and optionally new input: how an
   * operator repairs a FAILED instance (its DO) or a COMPENSATION_FAILED one (its UNDO).
   */
  async retryTask(instanceId: string, requestedTaskId: string, input?: unknown): Promise<RetriedTask> {
    checkJsonValue("input", input);
    return InstanceChange.run(this.changes, { instanceId }, async (change) => {
      const reopening = instanceMove(change.state, "retry");
      if (!reopening) {
        throw new BatonError(
          "INVALID_STATE",
          `Only a ${statesAllowing("retry").join(" or ")} instance can retry a task; this one is ${change.state}`,
          {
            instanceId,
            state: change.state,
          },
        );
      }
      // Back to running forward re-runs a failed DO; back to compensating, a failed UNDO.
      const kind: TaskKind = reopening.to === "RUNNING" ? "DO" : "UNDO";
      // A fan-out step is retried by its failed element.
      const { step, taskId } = retryTarget(change.definition, requestedTaskId, change.error?.elementIndex);
      // Re-running another step would change nothing: the failed one would stop the instance again.
      const failedStep = change.error?.step;
      if (failedStep !== undefined && failedStep !== step.name) {
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
      change.reopen(taskId, kind);
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
   * Times out leases that expired (the attempt counts as a failure for retries), up to about
   * `limit` per pass. Instances are reaped in batches of REAP_BATCH per transaction, locked with
   * SKIP LOCKED, so reapers on several replicas share the work instead of queueing on the same
   * rows. A batch that fails is retried one instance per transaction: an instance that still fails
   * is logged and skipped for the rest of the pass (the next pass tries it again) and does not hold
   * back the others. Returns how many leases it reclaimed.
   */
  async reapExpiredLeases(limit = 10_000): Promise<number> {
    let reaped = 0;
    let sweptAll = false;
    const failed = new Map<string, unknown>();
    try {
      while (reaped < limit) {
        const batch = await this.reapBatch([...failed.keys()]).catch(async (error: unknown) => {
          // Nothing locked: the database itself refused, and one instance at a time would fare no better.
          if (!(error instanceof ReapBatchError)) throw error;
          let count = 0;
          for (const instanceId of error.instanceIds) {
            count += await this.reapBatch([], [instanceId]).then(
              (one) => one.reaped,
              (e: unknown) => {
                failed.set(instanceId, e instanceof ReapBatchError ? e.cause : e);
                return 0;
              },
            );
          }
          return { instances: error.instanceIds.length, reaped: count };
        });
        reaped += batch.reaped;
        if (batch.instances < REAP_BATCH) {
          sweptAll = true;
          break;
        }
      }
    } finally {
      this.poisoned.passEnded(failed, sweptAll);
      if (failed.size > 0) {
        // One line per pass, not per instance: with the database gone every instance fails.
        const [first] = failed.values();
        this.logger.error(
          { err: first, failed: failed.size, instanceIds: [...failed.keys()].slice(0, 20) },
          `lease reaper: could not reap the expired leases of ${failed.size} instance(s); the next pass tries them again`,
        );
      }
    }
    return reaped;
  }

  /** How many instances the lease reaper of this process skipped in its latest passes (they still fail). */
  get poisonedCount(): number {
    return this.poisoned.size;
  }

  /**
   * A page of the instances this process's lease reaper skipped because reaping them failed, by id,
   * of one namespace (all when absent).
   */
  poisonedInstances(params: { namespace?: string; cursor?: string; limit?: number }): Promise<PoisonedPage> {
    return this.poisoned.list(this.db, params);
  }

  /**
   * One transaction: locks up to REAP_BATCH instances with expired leases (not in `skip`; only
   * `only` when given), times those leases out and lets each instance move on. A failure after
   * the lock is a ReapBatchError naming the instances it had locked.
   */
  private async reapBatch(skip: string[], only?: string[]): Promise<{ instances: number; reaped: number }> {
    let locked: string[] = [];
    const lock = async (trx: DbOrTrx) => {
      const instances = await instanceLockWithExpiredLeases(trx, { limit: REAP_BATCH, skip, ...(only ? { only } : {}) });
      locked = instances.map((i) => i.instanceId);
      return instances;
    };
    const timedOut = await InstanceChange.runLocked(this.changes, lock, async (changes, trx) => {
      const timedOut = await taskTimeOutIfExpired(trx, await taskListExpired(trx, locked));
      for (const task of timedOut) lockedChange(changes, task.instanceId).recordTaskOutcome(task);
      return timedOut;
    }).catch((error: unknown) => {
      throw locked.length > 0 ? new ReapBatchError(locked, error) : error;
    });
    this.tellFinished(timedOut);
    return { instances: locked.length, reaped: timedOut.length };
  }

  /** Explains why a fenced write was refused, as a typed error. */
  private rejection(lease: LeaseWrite, current: TaskRow | null, action: string): BatonError {
    const details = { executionId: lease.executionId, fenceToken: lease.fenceToken, workerId: lease.workerId };
    if (!current) return new BatonError("NOT_FOUND", `Execution ${lease.executionId} not found`, details);
    const state = { ...details, state: current.state, currentFenceToken: current.fenceToken };
    // A lease taken with another API key is not this caller's to touch, whatever fence it names.
    if (current.leaseHolder !== null && holderKeyOf(current.leaseHolder) !== holderKeyOf(lease.workerId)) {
      return new BatonError("NOT_LEASED", `Cannot ${action}: the lease is held by another worker`, state);
    }
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

/** A reaper batch that failed after locking its instances: which ones, and why. */
class ReapBatchError extends Error {
  constructor(
    readonly instanceIds: string[],
    override readonly cause: unknown,
  ) {
    super(`reaping ${instanceIds.length} instance(s) failed`, { cause });
  }
}

/** The attempt a manual retry scheduled. */
export interface RetriedTask {
  executionId: string;
  taskId: string;
  kind: TaskKind;
  attempt: number;
}

function closingReport(item: Report): ClosingReport {
  const { executionId, workerId, fenceToken } = item;
  switch (item.type) {
    case "complete":
      return { executionId, workerId, fenceToken, state: "COMPLETED", output: item.output ?? null, requireUnexpired: true };
    case "fail":
      return {
        executionId,
        workerId,
        fenceToken,
        state: "FAILED",
        error: item.error ?? null,
        exhaust: item.retryable === false,
        requireUnexpired: true,
      };
    case "release":
      return { executionId, workerId, fenceToken, state: "CANCELLED", error: { message: "released unstarted" }, requireUnexpired: false };
  }
}

function outcomeState(item: Report): TaskOutcome["state"] {
  return item.type === "complete" ? "COMPLETED" : item.type === "fail" ? "FAILED" : "CANCELLED";
}

/**
 * Whether a refused report repeats the outcome the attempt already has (safe to answer success).
 * Only for the key that held the lease: to any other the attempt's outcome is none of its business
 * (it gets the refusal, NOT_LEASED).
 */
function isRepeat(item: Report, current: TaskRow | null): boolean {
  if (!current || current.fenceToken !== item.fenceToken || item.type === "release") return false;
  if (current.leaseHolder !== null && holderKeyOf(current.leaseHolder) !== holderKeyOf(item.workerId)) return false;
  if (item.type === "complete") return current.state === "COMPLETED" && jsonEqual(current.output, item.output ?? null);
  return current.state === "FAILED";
}

/** A report's output or error over the JSON limits, as the refusal of that report. */
function reportValueError(report: Report): BatonError | null {
  if (report.type === "complete") return jsonValueError("output", report.output);
  if (report.type === "fail") return jsonValueError("error", report.error);
  return null;
}
