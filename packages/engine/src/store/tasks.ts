import type { TaskKind, TaskState } from "@baton/contract";
import { type RawBuilder, type Selectable, sql } from "kysely";
import type { DbOrTrx } from "../db/database.ts";
import type { TaskExecutionsTable } from "../db/schema.ts";
import type { TaskSnapshot } from "../domain/attempts.ts";
import type { CreatedPosition } from "../domain/list-cursor.ts";
import type { TaskToSchedule } from "../domain/reconcile.ts";
import { exactTime } from "./exact-time.ts";
import { idList, uuidArray } from "./id-list.ts";
import { jsonRows } from "./json-rows.ts";

/**
 * One attempt, as the engine sees it: its record in `task_executions`, with the lease columns of
 * `task_leases` while it is open (PENDING or LEASED). Fence tokens are numbers. What the planner
 * reads of it is its TaskSnapshot.
 */
export interface TaskRow extends TaskSnapshot {
  instanceId: string;
  queue: string;
  leaseMs: number;
  leaseHolder: string | null;
  leaseExpiresAt: Date | null;
  fenceToken: number | null;
  availableAt: Date;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

/** The columns `ATTEMPT_COLUMNS` and `RECORD_COLUMNS` select: those of `task_executions`. */
export type AttemptColumns = Selectable<TaskExecutionsTable>;

/**
 * An attempt's columns from `task_executions t` and, while it is open, `task_leases l` (joined on
 * execution_id): the lease table's values win, since the record learns them only when it finishes.
 */
export const ATTEMPT_COLUMNS = sql`t.execution_id, t.workflow_instance_id, t.task_id, t.kind, t.queue, t.attempt_number,
  t.max_attempts, coalesce(l.state, t.state) AS state, t.input, t.output, t.error, t.lease_ms,
  coalesce(l.lease_holder, t.lease_holder) AS lease_holder, coalesce(l.lease_expires_at, t.lease_expires_at) AS lease_expires_at,
  coalesce(l.fence_token, t.fence_token) AS fence_token, coalesce(l.available_at, t.available_at) AS available_at,
  t.created_at, coalesce(l.started_at, t.started_at) AS started_at, t.finished_at`;

/** The record's own columns, for statements that write `task_executions t` and return the result. */
export const RECORD_COLUMNS = sql`t.execution_id, t.workflow_instance_id, t.task_id, t.kind, t.queue, t.attempt_number,
  t.max_attempts, t.state, t.input, t.output, t.error, t.lease_ms, t.lease_holder, t.lease_expires_at, t.fence_token,
  t.available_at, t.created_at, t.started_at, t.finished_at`;

export function toTaskRow(r: AttemptColumns): TaskRow {
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

/**
 * Attempts matching `where` (over `t`), each with its lease row if it is open. The lease is looked
 * up per attempt by primary key (LATERAL; the LIMIT keeps the planner from turning it back into a
 * hash join that scans the whole lease table).
 */
async function selectAttempts(db: DbOrTrx, where: RawBuilder<unknown>, tail = sql``): Promise<TaskRow[]> {
  return (await selectAttemptRows<AttemptColumns>(db, sql``, where, tail)).map(toTaskRow);
}

/** selectAttempts' statement, with `extra` columns (each starting with a comma) after the attempt's own. */
async function selectAttemptRows<R>(db: DbOrTrx, extra: RawBuilder<unknown>, where: RawBuilder<unknown>, tail: RawBuilder<unknown>) {
  const result = await sql<R>`
    SELECT ${ATTEMPT_COLUMNS} ${extra}
    FROM task_executions t
    LEFT JOIN LATERAL (SELECT * FROM task_leases WHERE task_leases.execution_id = t.execution_id LIMIT 1) l ON true
    WHERE ${where} ${tail}`.execute(db);
  return result.rows;
}

export async function taskGet(db: DbOrTrx, executionId: string): Promise<TaskRow | null> {
  const [row] = await selectAttempts(db, sql`t.execution_id = ${executionId}`);
  return row ?? null;
}

/** Every attempt of these instances, in the order they were scheduled (the planner's input). */
export async function taskListByInstances(db: DbOrTrx, instanceIds: string[]): Promise<TaskRow[]> {
  if (instanceIds.length === 0) return [];
  return selectAttempts(db, sql`t.workflow_instance_id = ANY(${idList(instanceIds)})`, sql`ORDER BY t.created_at, t.attempt_number`);
}

/**
 * A page of one instance's attempts in the order they were scheduled (creation time, then execution
 * id): those after `after`, at most `limit`, each with its exact place for the next page's cursor.
 */
export async function taskPageByInstance(
  db: DbOrTrx,
  params: { instanceId: string; after?: CreatedPosition; limit: number },
): Promise<(TaskRow & { position: CreatedPosition })[]> {
  const { after } = params;
  const from = after ? sql`AND (t.created_at, t.execution_id) > (${after.createdAt}::timestamptz, ${after.id}::uuid)` : sql``;
  const rows = await selectAttemptRows<AttemptColumns & { created_at_exact: string }>(
    db,
    sql`, ${exactTime(sql`t.created_at`)} AS created_at_exact`,
    sql`t.workflow_instance_id = ${params.instanceId} ${from}`,
    sql`ORDER BY t.created_at, t.execution_id LIMIT ${params.limit}`,
  );
  return rows.map((r) => ({ ...toTaskRow(r), position: { createdAt: r.created_at_exact, id: r.execution_id } }));
}

/**
 * The attempt of one step (DO or UNDO) of one instance that `holderId` currently holds leased,
 * or null. For replies that name the step but not the execution (services written against the
 * older orchestrators echo only flowId, stepName and action).
 */
export async function taskGetLeasedByStep(
  db: DbOrTrx,
  params: { instanceId: string; taskId: string; kind: TaskKind; holderId: string },
): Promise<TaskRow | null> {
  const [row] = await selectAttempts(
    db,
    sql`t.workflow_instance_id = ${params.instanceId} AND t.task_id = ${params.taskId} AND t.kind = ${params.kind}
      AND l.state = 'LEASED' AND l.lease_holder = ${params.holderId}`,
    sql`ORDER BY t.attempt_number DESC LIMIT 1`,
  );
  return row ?? null;
}

/** The namespace of the instance an execution belongs to, or null when there is no such execution. */
export async function taskNamespace(db: DbOrTrx, executionId: string): Promise<string | null> {
  const row = await db
    .selectFrom("task_executions as t")
    .innerJoin("workflow_instances as i", "i.instance_id", "t.workflow_instance_id")
    .select("i.namespace")
    .where("t.execution_id", "=", executionId)
    .executeTakeFirst();
  return row?.namespace ?? null;
}

/** A new PENDING attempt; its execution id is chosen by the caller so events can name it. */
export type NewTaskRow = TaskToSchedule & { executionId: string; instanceId: string };

/**
 * Two CTEs (`attempt`, `attempt_lease`) that insert new PENDING attempts into both tables, for the
 * statement that commits a change. `onlyFor`, when given, is a CTE with an `instance_id` column:
 * attempts of other instances are left out (a start whose instance already existed). `handoff`
 * names attempts handed to a parked poll (execution id to worker id): their lease row is inserted
 * LEASED to that worker, with a fresh fence, as an acquire would lease it, and `attempt_lease`
 * returns their `execution_id`, `fence_token` and `lease_expires_at`.
 */
export function taskInsertCtes(tasks: NewTaskRow[], onlyFor?: string, handoff?: ReadonlyMap<string, string>) {
  const filter = onlyFor ? sql`WHERE v.instance_id IN (SELECT instance_id FROM ${sql.table(onlyFor)})` : sql``;
  return sql`
    attempt AS (
      INSERT INTO task_executions (execution_id, workflow_instance_id, task_id, kind, queue, attempt_number, max_attempts,
                                   state, input, output, error, lease_ms, available_at, finished_at)
      SELECT v.execution_id, v.instance_id, v.task_id, v.kind, v.queue, v.attempt, v.max_attempts, v.state,
             coalesce(v.input, 'null'), v.output, v.error, v.lease_ms, now() + v.delay_ms * interval '1 millisecond',
             CASE WHEN v.state <> 'PENDING' THEN now() END
      FROM ${jsonRows(
        tasks.map((t) => ({
          execution_id: t.executionId,
          instance_id: t.instanceId,
          task_id: t.taskId,
          kind: t.kind,
          queue: t.queue,
          attempt: t.attempt,
          max_attempts: t.maxAttempts,
          input: t.input ?? null,
          lease_ms: t.leaseMs,
          delay_ms: t.delayMs,
          // An attempt the planner settled carries its state and its output or error; others are PENDING.
          ...(t.settled ?? { state: "PENDING" }),
        })),
        "execution_id uuid, instance_id uuid, task_id text, kind text, queue text, attempt int, max_attempts int, input jsonb, lease_ms int, delay_ms bigint, state text, output jsonb, error jsonb",
      )}
      ${filter}
      RETURNING execution_id, workflow_instance_id, queue, available_at, lease_ms, state
    ), ${handoff && handoff.size > 0 ? leaseInsertHandingOff(handoff) : leaseInsert}`;
}

const leaseInsert = sql`attempt_lease AS (
      INSERT INTO task_leases (execution_id, workflow_instance_id, queue, state, available_at, lease_ms)
      SELECT execution_id, workflow_instance_id, queue, 'PENDING', available_at, lease_ms FROM attempt WHERE state = 'PENDING'
    )`;

function leaseInsertHandingOff(handoff: ReadonlyMap<string, string>) {
  return sql`attempt_lease AS (
      INSERT INTO task_leases (execution_id, workflow_instance_id, queue, state, available_at, lease_ms, lease_holder,
                               fence_token, lease_expires_at, started_at)
      SELECT a.execution_id, a.workflow_instance_id, a.queue, CASE WHEN h.worker_id IS NULL THEN 'PENDING' ELSE 'LEASED' END,
             a.available_at, a.lease_ms, h.worker_id, CASE WHEN h.worker_id IS NOT NULL THEN nextval('fence_token_seq') END,
             CASE WHEN h.worker_id IS NOT NULL THEN now() + a.lease_ms * interval '1 millisecond' END,
             CASE WHEN h.worker_id IS NOT NULL THEN now() END
      FROM attempt a
      LEFT JOIN unnest(${uuidArray([...handoff.keys()])}::uuid[], ${[...handoff.values()]}::text[]) AS h(execution_id, worker_id)
        ON h.execution_id = a.execution_id
      WHERE a.state = 'PENDING'
      RETURNING execution_id, fence_token, lease_expires_at
    )`;
}

/** Where a paused instance's pending tasks wait: beyond any acquire's `available_at <= now()`. */
const PARKED_UNTIL = "9999-01-01T00:00:00Z";

/**
 * Parks an instance's pending tasks while it is paused (available_at far in the future, so
 * acquire's index range never reaches them) or makes them available again on resume. Returns the
 * queues of the tasks it moved.
 */
export async function taskParkPending(db: DbOrTrx, instanceId: string, parked: boolean): Promise<string[]> {
  const result = await sql<{ queue: string }>`
    UPDATE task_leases l
    SET available_at = ${parked ? sql`${PARKED_UNTIL}::timestamptz` : sql`now()`}
    WHERE l.execution_id = ANY(ARRAY(
        SELECT execution_id FROM task_executions WHERE workflow_instance_id = ${instanceId} AND state = 'PENDING'))
      AND l.state = 'PENDING'
    RETURNING l.queue`.execute(db);
  return result.rows.map((r) => r.queue);
}

/**
 * Closes open attempts without a worker's report: those among `executionIds` whose lease row is in
 * one of the `from` states (and, with `expiredOnly`, whose lease has run out) leave `task_leases`
 * and are recorded as `to`, with the lease they had. Returns the attempts it closed.
 */
export async function taskCloseMany(
  db: DbOrTrx,
  executionIds: string[],
  params: { from: ("PENDING" | "LEASED")[]; to: "CANCELLED" | "TIMED_OUT"; error?: unknown; expiredOnly?: boolean },
): Promise<TaskRow[]> {
  if (executionIds.length === 0) return [];
  const expired = params.expiredOnly ? sql`AND l.lease_expires_at <= now()` : sql``;
  const result = await sql<AttemptColumns>`
    WITH closed AS (
      DELETE FROM task_leases l
      WHERE l.execution_id = ANY(${idList(executionIds)}) AND l.state = ANY(${params.from}::text[]) ${expired}
      RETURNING l.*
    )
    UPDATE task_executions t
    SET state = ${params.to}, finished_at = now(), error = coalesce(${params.error === undefined ? null : JSON.stringify(params.error)}::jsonb, t.error),
        lease_holder = c.lease_holder, lease_expires_at = c.lease_expires_at, fence_token = c.fence_token, started_at = c.started_at
    FROM closed c
    WHERE t.execution_id = c.execution_id
    RETURNING t.*`.execute(db);
  return result.rows.map(toTaskRow);
}

/** Cancels the given attempts that are still PENDING (the planner's cancellations). */
export function taskCancelPending(db: DbOrTrx, executionIds: string[]): Promise<TaskRow[]> {
  return taskCloseMany(db, executionIds, { from: ["PENDING"], to: "CANCELLED" });
}

/** Cancels the given attempts that are still PENDING or LEASED; returns those it cancelled. */
export function taskCancelMany(db: DbOrTrx, executionIds: string[]): Promise<TaskRow[]> {
  return taskCloseMany(db, executionIds, { from: ["PENDING", "LEASED"], to: "CANCELLED" });
}

/** Marks the given leases TIMED_OUT if they are still leased and expired. */
export function taskTimeOutIfExpired(db: DbOrTrx, executionIds: string[]): Promise<TaskRow[]> {
  return taskCloseMany(db, executionIds, { from: ["LEASED"], to: "TIMED_OUT", error: { message: "lease expired" }, expiredOnly: true });
}

/** The expired leases of these instances: what the reaper times out once it holds their locks. */
export async function taskListExpired(db: DbOrTrx, instanceIds: string[]): Promise<string[]> {
  if (instanceIds.length === 0) return [];
  const rows = await db
    .selectFrom("task_leases")
    .select("execution_id")
    .where("workflow_instance_id", "=", sql<string>`ANY(${idList(instanceIds)})`)
    .where("state", "=", "LEASED")
    .where("lease_expires_at", "<=", sql<Date>`now()`)
    .execute();
  return rows.map((r) => r.execution_id);
}

/** New work on a queue, available now (`delayMs` 0) or once a retry's backoff has passed. */
export interface QueueWake {
  queue: string;
  delayMs: number;
}

/**
 * The NOTIFY payloads that wake acquirers waiting on these queues: the queue name, followed by
 * `@<ms>` when the work becomes available only after a backoff, so listeners look again when it
 * has passed rather than on their next safety-net poll. One payload per queue, the soonest.
 * `sender` (`#<id>` at the end) names the dispatcher that already woke its own waiters, so it
 * skips its own notification (see TaskDispatcher.announce).
 */
export function queueWakePayloads(wakes: QueueWake[], sender?: string): string[] {
  const soonest = new Map<string, number>();
  for (const w of wakes) soonest.set(w.queue, Math.min(w.delayMs, soonest.get(w.queue) ?? w.delayMs));
  const from = sender ? `#${sender}` : "";
  return [...soonest].map(([queue, delayMs]) => (delayMs > 0 ? `${queue}@${delayMs}${from}` : `${queue}${from}`));
}

/** Reads a NOTIFY payload written by `queueWakePayloads`. */
export function parseQueueWake(payload: string): QueueWake & { sender?: string } {
  const hash = payload.lastIndexOf("#");
  const sender = hash > 0 && SENDER_ID.test(payload.slice(hash + 1)) ? payload.slice(hash + 1) : undefined;
  const wake = sender ? payload.slice(0, hash) : payload;
  const at = wake.lastIndexOf("@");
  const delayMs = at > 0 ? Number(wake.slice(at + 1)) : 0;
  const parsed = at > 0 && Number.isFinite(delayMs) ? { queue: wake.slice(0, at), delayMs } : { queue: wake, delayMs: 0 };
  return sender ? { ...parsed, sender } : parsed;
}

/** A dispatcher's id in wake payloads: hex digits, which no queue name's `#` suffix could be confused with. */
export const SENDER_ID = /^[0-9a-f]{1,32}$/;

/** The NOTIFY channel on which a queue name announces newly available tasks. */
export const TASK_CHANNEL = "baton_tasks";
