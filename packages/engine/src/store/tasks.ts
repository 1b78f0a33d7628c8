import { type Selectable, sql } from "kysely";
import type { DbOrTrx } from "../db/database.ts";
import type { TaskExecutionsTable } from "../db/schema.ts";
import type { TaskToSchedule } from "../domain/reconcile.ts";
import type { TaskKind, TaskState } from "../domain/states.ts";

/** One attempt row, as the engine sees it. Fence tokens are numbers. */
export interface TaskRow {
  executionId: string;
  instanceId: string;
  taskId: string;
  kind: TaskKind;
  queue: string;
  attempt: number;
  maxAttempts: number;
  state: TaskState;
  input: unknown;
  output: unknown;
  error: unknown;
  leaseMs: number;
  leaseHolder: string | null;
  leaseExpiresAt: Date | null;
  fenceToken: number | null;
  availableAt: Date;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

export function toTaskRow(r: Selectable<TaskExecutionsTable>): TaskRow {
  return {
    executionId: r.execution_id,
    instanceId: r.workflow_instance_id,
    taskId: r.task_id,
    kind: r.kind as TaskKind,
    queue: r.queue,
    attempt: r.attempt_number,
    maxAttempts: r.max_attempts,
    state: r.state as TaskState,
    input: r.input,
    output: r.output ?? null,
    error: r.error ?? null,
    leaseMs: r.lease_ms,
    leaseHolder: r.lease_holder,
    leaseExpiresAt: r.lease_expires_at,
    fenceToken: r.fence_token === null ? null : Number(r.fence_token),
    availableAt: r.available_at,
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  };
}

export type AcquiredRow = TaskRow & { workflowName: string };

/**
 * Leases up to `max` pending, available tasks of the given queues whose instance is running or
 * compensating: one statement, SKIP LOCKED, a fresh fence token each. Orders by exactly the
 * columns of the partial pending index so the planner walks it.
 */
export async function taskAcquire(
  db: DbOrTrx,
  params: { queues: string[]; workerId: string; max: number; executionId?: string },
): Promise<AcquiredRow[]> {
  const byId = params.executionId === undefined ? sql`` : sql`AND t.execution_id = ${params.executionId}`;
  // The outer UPDATE finds its rows by primary key (= ANY of the picked ids): joined to the CTE
  // instead, the planner prefers a sequential scan of the whole table once it holds a few thousand
  // rows, which made every acquire cost O(table).
  const result = await sql<Selectable<TaskExecutionsTable> & { workflow_name: string }>`
    WITH picked AS (
      SELECT t.execution_id
      FROM task_executions t
      JOIN workflow_instances i ON i.instance_id = t.workflow_instance_id
      WHERE t.state = 'PENDING'
        AND t.queue = ANY(${params.queues}::text[])
        AND t.available_at <= now()
        AND i.state IN ('RUNNING', 'COMPENSATING')
        ${byId}
      ORDER BY t.queue, t.available_at, t.execution_id
      LIMIT ${params.max}
      FOR UPDATE OF t SKIP LOCKED
    )
    UPDATE task_executions t
    SET state = 'LEASED',
        lease_holder = ${params.workerId},
        fence_token = nextval('fence_token_seq'),
        lease_expires_at = now() + t.lease_ms * interval '1 millisecond',
        started_at = now()
    WHERE t.execution_id = ANY(ARRAY(SELECT execution_id FROM picked))
    RETURNING t.*, (SELECT workflow_name FROM workflow_instances WHERE instance_id = t.workflow_instance_id) AS workflow_name`.execute(db);
  return result.rows
    .map((r) => ({ ...toTaskRow(r), workflowName: r.workflow_name }))
    .sort((a, b) => (a.fenceToken ?? 0) - (b.fenceToken ?? 0));
}

/*
 * Fenced writes compare the lease with clock_timestamp(), not now(): now() is when the transaction
 * began, and complete and fail first wait for the instance lock, during which a lease can run out.
 */

/** Extends a lease that is still held with this fence and not yet expired. */
export async function taskHeartbeatIfLeased(
  db: DbOrTrx,
  params: { executionId: string; workerId: string; fenceToken: number },
): Promise<Date | null> {
  const row = await db
    .updateTable("task_executions")
    .set({ lease_expires_at: sql`now() + lease_ms * interval '1 millisecond'` })
    .where("execution_id", "=", params.executionId)
    .where("state", "=", "LEASED")
    .where("fence_token", "=", sql<never>`${params.fenceToken}::bigint`)
    .where("lease_holder", "=", params.workerId)
    .where("lease_expires_at", ">", sql<Date>`clock_timestamp()`)
    .returning("lease_expires_at")
    .executeTakeFirst();
  return row?.lease_expires_at ?? null;
}

/**
 * Fails a leased attempt, only while it is LEASED with this fence, held by this worker, and
 * unexpired. `exhaust` makes this the last attempt (a non-retryable failure).
 */
export async function taskFailIfLeased(
  db: DbOrTrx,
  params: { executionId: string; workerId: string; fenceToken: number; error: unknown; exhaust: boolean },
): Promise<TaskRow | null> {
  const row = await db
    .updateTable("task_executions")
    .set({
      state: "FAILED",
      error: JSON.stringify(params.error ?? null),
      finished_at: sql`now()`,
      ...(params.exhaust ? { max_attempts: sql`attempt_number` } : {}),
    })
    .where("execution_id", "=", params.executionId)
    .where("state", "=", "LEASED")
    .where("fence_token", "=", sql<never>`${params.fenceToken}::bigint`)
    .where("lease_holder", "=", params.workerId)
    .where("lease_expires_at", ">", sql<Date>`clock_timestamp()`)
    .returningAll()
    .executeTakeFirst();
  return row ? toTaskRow(row) : null;
}

export interface LeasedCompletion {
  executionId: string;
  workerId: string;
  fenceToken: number;
  output: unknown;
}

/**
 * Completes many leased attempts in one statement; each only while LEASED with its fence, held by
 * its worker, and unexpired. Returns the rows it completed; the others were refused.
 */
export async function taskCompleteManyIfLeased(db: DbOrTrx, items: LeasedCompletion[]): Promise<TaskRow[]> {
  if (items.length === 0) return [];
  const result = await sql<Selectable<TaskExecutionsTable>>`
    UPDATE task_executions t
    SET state = 'COMPLETED', output = v.output::jsonb, finished_at = now()
    FROM unnest(
      ${items.map((i) => i.executionId)}::uuid[], ${items.map((i) => i.workerId)}::text[],
      ${items.map((i) => i.fenceToken)}::bigint[], ${items.map((i) => JSON.stringify(i.output ?? null))}::text[]
    ) AS v(execution_id, worker_id, fence_token, output)
    -- The = ANY lets the planner find the rows by primary key rather than scan the table to join.
    WHERE t.execution_id = ANY(${items.map((i) => i.executionId)}::uuid[])
      AND t.execution_id = v.execution_id AND t.state = 'LEASED' AND t.fence_token = v.fence_token
      AND t.lease_holder = v.worker_id AND t.lease_expires_at > clock_timestamp()
    RETURNING t.*`.execute(db);
  return result.rows.map(toTaskRow);
}

/**
 * Gives leased attempts back unstarted (their worker is gone before it saw them): CANCELLED while
 * still LEASED with that fence and holder. The planner then schedules the step again at once
 * without spending an attempt.
 */
export async function taskReleaseIfLeased(
  db: DbOrTrx,
  leases: { executionId: string; workerId: string; fenceToken: number }[],
): Promise<TaskRow[]> {
  if (leases.length === 0) return [];
  const result = await sql<Selectable<TaskExecutionsTable>>`
    UPDATE task_executions t
    SET state = 'CANCELLED', finished_at = now(), error = ${JSON.stringify({ message: "released unstarted" })}::jsonb
    FROM unnest(
      ${leases.map((l) => l.executionId)}::uuid[], ${leases.map((l) => l.workerId)}::text[], ${leases.map((l) => l.fenceToken)}::bigint[]
    ) AS v(execution_id, worker_id, fence_token)
    WHERE t.execution_id = ANY(${leases.map((l) => l.executionId)}::uuid[])
      AND t.execution_id = v.execution_id AND t.state = 'LEASED' AND t.fence_token = v.fence_token
      AND t.lease_holder = v.worker_id
    RETURNING t.*`.execute(db);
  return result.rows.map(toTaskRow);
}

/** Marks the given leases TIMED_OUT if they are still leased and expired. */
export async function taskTimeOutIfExpired(db: DbOrTrx, executionIds: string[]): Promise<TaskRow[]> {
  if (executionIds.length === 0) return [];
  const rows = await db
    .updateTable("task_executions")
    .set({ state: "TIMED_OUT", finished_at: sql`now()`, error: JSON.stringify({ message: "lease expired" }) })
    .where("execution_id", "in", executionIds)
    .where("state", "=", "LEASED")
    .where("lease_expires_at", "<=", sql<Date>`now()`)
    .returningAll()
    .execute();
  return rows.map(toTaskRow);
}

/** Expired leases, oldest first: the reaper's work list. */
export async function taskListExpired(db: DbOrTrx, limit: number): Promise<{ executionId: string; instanceId: string }[]> {
  const rows = await db
    .selectFrom("task_executions")
    .select(["execution_id", "workflow_instance_id"])
    .where("state", "=", "LEASED")
    .where("lease_expires_at", "<=", sql<Date>`now()`)
    .orderBy("lease_expires_at")
    .limit(limit)
    .execute();
  return rows.map((r) => ({ executionId: r.execution_id, instanceId: r.workflow_instance_id }));
}

export async function taskGet(db: DbOrTrx, executionId: string): Promise<TaskRow | null> {
  const row = await db.selectFrom("task_executions").selectAll().where("execution_id", "=", executionId).executeTakeFirst();
  return row ? toTaskRow(row) : null;
}

/** Every attempt of these instances, in the order they were scheduled (the planner's input). */
export async function taskListByInstances(db: DbOrTrx, instanceIds: string[]): Promise<TaskRow[]> {
  if (instanceIds.length === 0) return [];
  const rows = await db
    .selectFrom("task_executions")
    .selectAll()
    .where("workflow_instance_id", "in", instanceIds)
    .orderBy("created_at")
    .orderBy("attempt_number")
    .execute();
  return rows.map(toTaskRow);
}

/** A new PENDING attempt; its execution id is chosen by the caller so events can name it. */
export type NewTaskRow = TaskToSchedule & { executionId: string; instanceId: string };

/** Inserts new PENDING attempts in one statement. */
export async function taskInsertMany(db: DbOrTrx, tasks: NewTaskRow[]): Promise<void> {
  if (tasks.length === 0) return;
  await db
    .insertInto("task_executions")
    .values(
      tasks.map((t) => ({
        execution_id: t.executionId,
        workflow_instance_id: t.instanceId,
        task_id: t.taskId,
        kind: t.kind,
        queue: t.queue,
        idempotency_key: `${t.instanceId}:${t.taskId}:${t.kind}:${t.attempt}`,
        attempt_number: t.attempt,
        max_attempts: t.maxAttempts,
        state: "PENDING",
        input: JSON.stringify(t.input ?? null),
        lease_ms: t.leaseMs,
        available_at: t.delayMs === 0 ? sql<Date>`now()` : sql<Date>`now() + ${t.delayMs} * interval '1 millisecond'`,
      })),
    )
    .execute();
}

/** Where a paused instance's pending tasks wait: beyond any acquire's `available_at <= now()`. */
const PARKED_UNTIL = "9999-01-01T00:00:00Z";

/**
 * Parks an instance's pending tasks while it is paused (available_at far in the future, so
 * acquire's index range never reaches them) or makes them available again on resume.
 */
export async function taskParkPending(db: DbOrTrx, instanceId: string, parked: boolean): Promise<TaskRow[]> {
  const rows = await db
    .updateTable("task_executions")
    .set({ available_at: parked ? sql<Date>`${PARKED_UNTIL}::timestamptz` : sql<Date>`now()` })
    .where("workflow_instance_id", "=", instanceId)
    .where("state", "=", "PENDING")
    .returningAll()
    .execute();
  return rows.map(toTaskRow);
}

/** Cancels the given attempts that are still PENDING (the planner's cancellations). */
export async function taskCancelPending(db: DbOrTrx, executionIds: string[]): Promise<TaskRow[]> {
  if (executionIds.length === 0) return [];
  const rows = await db
    .updateTable("task_executions")
    .set({ state: "CANCELLED", finished_at: sql`now()` })
    .where("execution_id", "in", executionIds)
    .where("state", "=", "PENDING")
    .returningAll()
    .execute();
  return rows.map(toTaskRow);
}

/** Cancels the given attempts that are still PENDING or LEASED; returns those it cancelled. */
export async function taskCancelMany(db: DbOrTrx, executionIds: string[]): Promise<TaskRow[]> {
  if (executionIds.length === 0) return [];
  const rows = await db
    .updateTable("task_executions")
    .set({ state: "CANCELLED", finished_at: sql`now()` })
    .where("execution_id", "in", executionIds)
    .where("state", "in", ["PENDING", "LEASED"])
    .returningAll()
    .execute();
  return rows.map(toTaskRow);
}

/** New work on a queue, available now (`delayMs` 0) or once a retry's backoff has passed. */
export interface QueueWake {
  queue: string;
  delayMs: number;
}

/**
 * Wakes acquirers waiting on these queues when the surrounding transaction commits. The payload
 * is the queue name, followed by `@<ms>` when the work becomes available only after a backoff:
 * listeners then look again when it has passed, rather than on their next safety-net poll.
 */
export async function taskNotifyQueues(db: DbOrTrx, wakes: QueueWake[]): Promise<void> {
  const soonest = new Map<string, number>();
  for (const w of wakes) soonest.set(w.queue, Math.min(w.delayMs, soonest.get(w.queue) ?? w.delayMs));
  if (soonest.size === 0) return;
  const payloads = [...soonest].map(([queue, delayMs]) => (delayMs > 0 ? `${queue}@${delayMs}` : queue));
  await sql`SELECT pg_notify(${TASK_CHANNEL}, p) FROM unnest(${payloads}::text[]) AS p`.execute(db);
}

/** Reads a NOTIFY payload written by `taskNotifyQueues`. */
export function parseQueueWake(payload: string): QueueWake {
  const at = payload.lastIndexOf("@");
  const delayMs = at > 0 ? Number(payload.slice(at + 1)) : 0;
  return at > 0 && Number.isFinite(delayMs) ? { queue: payload.slice(0, at), delayMs } : { queue: payload, delayMs: 0 };
}

/** The NOTIFY channel on which a queue name announces newly available tasks. */
export const TASK_CHANNEL = "baton_tasks";
