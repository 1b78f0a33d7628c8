import { type RawBuilder, sql } from "kysely";
import type { DbOrTrx } from "../db/database.ts";
import type { InstanceError } from "../domain/reconcile.ts";
import { uuidArray } from "./id-list.ts";
import type { InstanceRow } from "./instances.ts";
import { jsonRows } from "./json-rows.ts";
import { ATTEMPT_COLUMNS, type AttemptColumns, RECORD_COLUMNS, type TaskRow, toTaskRow } from "./tasks.ts";

/*
 * The lease cycle, on `task_leases`: acquire, heartbeat, and the fenced reports that close an
 * attempt. Each is one statement for a whole batch, and each answers every item itself: the rows
 * it changed, and for the others the row as it stood, so a refusal is explained without a re-read.
 *
 * Fenced writes compare the lease with clock_timestamp(), not now(): now() is when the transaction
 * began, and reports first wait for the instance lock, during which a lease can run out.
 */

export type AcquiredRow = TaskRow & { workflowName: string; namespace: string };

/**
 * Leases pending, available tasks of `queues`: one statement, SKIP LOCKED, a fresh fence token
 * each. Only a running or compensating instance has available tasks (pause parks them and every
 * other state cancels them, in the transaction that changes the state), so the instance row is
 * not read to choose them. `holders` has one entry per task wanted (a
 * worker asking for three appears three times); the n-th oldest task leased (by available_at, then
 * execution_id) goes to the n-th holder, and comes back with its slot `n` (0-based), so coalesced
 * callers can be told apart even when they share a worker id.
 *
 * Across queues the oldest available tasks go first: each queue's head is read by walking the
 * partial pending index (queue, available_at, execution_id), locked with SKIP LOCKED, and the heads
 * are merged by available_at. Ordering the whole scan by queue instead drained a worker's queues in
 * name order, so a busy first queue starved the others (seen in the chaos suite). A statement locks
 * at most `holders` rows per queue and leases `holders` of them; the rest are free again when it ends.
 */
export async function taskAcquire(
  db: DbOrTrx,
  params: { queues: string[]; holders: string[]; executionId?: string },
): Promise<(AcquiredRow & { slot: number })[]> {
  if (params.holders.length === 0) return [];
  const byId = params.executionId === undefined ? sql`` : sql`AND l.execution_id = ${params.executionId}`;
  // The update finds each picked row by the row id its lock returned: a TID probe per row. The
  // rows come through unnest, which the planner always counts as few, so it probes rather than
  // hashing the whole lease table (as it did when it estimated a CTE of LIMIT $n at 2,048 rows).
  // An "= ANY(picked ids)" beside a key equality, the earlier way to force a pkey probe, made each
  // probe sort the whole id list again: quadratic in the batch (~120 µs per row at 1,000 rows).
  // Slots are the rows' places in pick order, numbered by the unnest. The final joins are on the
  // primary key alone, looked up per row.
  const result = await sql<AttemptColumns & { workflow_name: string; namespace: string; slot: string }>`
    WITH picked AS (
      SELECT head.row_id, head.available_at, head.execution_id
      FROM unnest(${params.queues}::text[]) AS q(queue)
      CROSS JOIN LATERAL (
        SELECT l.execution_id, l.ctid AS row_id, l.available_at
        FROM task_leases l
        WHERE l.state = 'PENDING' AND l.queue = q.queue AND l.available_at <= now() ${byId}
        ORDER BY l.available_at, l.execution_id
        LIMIT ${params.holders.length}
        FOR UPDATE SKIP LOCKED
      ) head
      ORDER BY head.available_at, head.execution_id
      LIMIT ${params.holders.length}
    ), leased AS (
      UPDATE task_leases l
      SET state = 'LEASED',
          lease_holder = (${params.holders}::text[])[s.slot],
          fence_token = nextval('fence_token_seq'),
          lease_expires_at = now() + l.lease_ms * interval '1 millisecond',
          started_at = now()
      FROM unnest(ARRAY(SELECT row_id FROM picked ORDER BY available_at, execution_id)) WITH ORDINALITY AS s(row_id, slot)
      WHERE l.ctid = s.row_id
      RETURNING l.*, s.slot
    )
    SELECT ${ATTEMPT_COLUMNS}, l.slot, i.workflow_name, i.namespace
    FROM leased l
    JOIN task_executions t ON t.execution_id = l.execution_id
    JOIN workflow_instances i ON i.instance_id = l.workflow_instance_id
    ORDER BY l.fence_token`.execute(db);
  // Properties added to the fresh row rather than spread into a copy: this runs for every task handed out.
  return result.rows.map((r) =>
    Object.assign(toTaskRow(r), { workflowName: r.workflow_name, namespace: r.namespace, slot: Number(r.slot) - 1 }),
  );
}

export interface LeaseRef {
  executionId: string;
  workerId: string;
  fenceToken: number;
}

/** One item's answer from a fenced statement: `applied`, and the attempt as it now stands (or null). */
export interface FencedAnswer {
  applied: boolean;
  task: TaskRow | null;
}

/**
 * Extends each lease that is still held with its fence and not yet expired. Answers in item order.
 */
export async function taskHeartbeatMany(db: DbOrTrx, leases: LeaseRef[]): Promise<FencedAnswer[]> {
  if (leases.length === 0) return [];
  const ids = leases.map((l) => l.executionId);
  const result = await sql<AttemptColumns & { ord: string; renewed: Date | null }>`
    WITH v AS (
      SELECT * FROM unnest(${ids}::uuid[], ${leases.map((l) => l.workerId)}::text[], ${leases.map((l) => l.fenceToken)}::bigint[])
        WITH ORDINALITY AS v(execution_id, worker_id, fence_token, ord)
    ), ${heldLeases("NO KEY UPDATE")}, renewed AS (
      UPDATE task_leases l
      SET lease_expires_at = now() + l.lease_ms * interval '1 millisecond'
      FROM held v
      WHERE l.ctid = v.row_id AND l.execution_id = v.execution_id AND l.state = 'LEASED'
        AND l.fence_token = v.fence_token AND l.lease_holder = v.worker_id AND l.lease_expires_at > clock_timestamp()
      RETURNING l.execution_id, l.lease_expires_at, v.worker_id, v.fence_token
    )
    SELECT v.ord, r.lease_expires_at AS renewed, ${ATTEMPT_COLUMNS}
    FROM v
    LEFT JOIN renewed r ON r.execution_id = v.execution_id AND r.worker_id = v.worker_id AND r.fence_token = v.fence_token
    LEFT JOIN LATERAL (SELECT * FROM task_executions WHERE task_executions.execution_id = v.execution_id LIMIT 1) t ON true
    LEFT JOIN LATERAL (SELECT * FROM task_leases WHERE task_leases.execution_id = v.execution_id LIMIT 1) l ON true
    ORDER BY v.ord`.execute(db);
  return result.rows.map((r) => {
    if (r.execution_id === null) return { applied: false, task: null };
    const task = toTaskRow(r);
    return r.renewed ? { applied: true, task: { ...task, leaseExpiresAt: r.renewed } } : { applied: false, task };
  });
}

/**
 * The CTE `held`: the rows of `v` (execution_id, worker_id, fence_token, ...) whose lease row is
 * LEASED with that fence to that worker, each with the row id of the lease row, locked with
 * `strength`. The update or delete that follows finds each lease row by that row id (a TID probe
 * per row, whatever the statistics say, and the lock keeps the row where it was); an "= ANY(ids)"
 * beside the key equality re-sorted the whole id list on every probe: quadratic in the batch.
 */
function heldLeases(strength: "UPDATE" | "NO KEY UPDATE") {
  return sql`held AS MATERIALIZED (
      SELECT v.*, l.row_id
      FROM v
      CROSS JOIN LATERAL (
        SELECT ctid AS row_id FROM task_leases
        WHERE task_leases.execution_id = v.execution_id AND state = 'LEASED' AND fence_token = v.fence_token
          AND lease_holder = v.worker_id
        LIMIT 1
        FOR ${sql.raw(strength)}
      ) l
    )`;
}

/** A worker's report that closes its attempt. */
export interface ClosingReport extends LeaseRef {
  state: "COMPLETED" | "FAILED" | "CANCELLED";
  output?: unknown;
  error?: unknown;
  /** Makes this the last attempt (a non-retryable failure). */
  exhaust?: boolean;
  /** Refuse the report once the lease has run out (every report but a release of unstarted work). */
  requireUnexpired: boolean;
}

/**
 * Closes each reported attempt that is LEASED with its fence and held by its worker (and, where
 * required, unexpired): its lease row goes, its record takes the outcome and the lease it had.
 * Execution ids must be distinct. Answers in item order.
 */
export async function taskCloseIfLeased(db: DbOrTrx, reports: ClosingReport[]): Promise<FencedAnswer[]> {
  if (reports.length === 0) return [];
  const result = await sql<AttemptColumns & { ord: string; applied: boolean }>`
    WITH v AS (
      SELECT * FROM ${closingRows(reports)}
    ), ${heldLeases("UPDATE")}, closed AS (
      DELETE FROM task_leases l
      USING held v
      WHERE l.ctid = v.row_id AND l.execution_id = v.execution_id AND l.state = 'LEASED'
        AND l.fence_token = v.fence_token AND l.lease_holder = v.worker_id
        AND (NOT v.require_unexpired OR l.lease_expires_at > clock_timestamp())
      RETURNING l.*, v.ord, v.state AS new_state, v.output AS new_output, v.error AS new_error, v.exhaust
    ), ${recordClosedCte(sql`${RECORD_COLUMNS}, c.ord`)}
    SELECT true AS applied, r.* FROM recorded r
    UNION ALL
    SELECT false AS applied, ${ATTEMPT_COLUMNS}, v.ord
    FROM v
    LEFT JOIN LATERAL (SELECT * FROM task_executions WHERE task_executions.execution_id = v.execution_id LIMIT 1) t ON true
    LEFT JOIN LATERAL (SELECT * FROM task_leases WHERE task_leases.execution_id = v.execution_id LIMIT 1) l ON true
    WHERE v.ord NOT IN (SELECT ord FROM closed)`.execute(db);
  const answers: FencedAnswer[] = reports.map(() => ({ applied: false, task: null }));
  for (const r of result.rows) {
    answers[Number(r.ord) - 1] = { applied: r.applied, task: r.execution_id === null ? null : toTaskRow(r) };
  }
  return answers;
}

/** Closing reports as the rows `v` of a statement, numbered by `ord` from 1 in their order. */
function closingRows(reports: ClosingReport[]) {
  const rows = reports.map((r, i) => ({
    execution_id: r.executionId,
    worker_id: r.workerId,
    fence_token: r.fenceToken,
    state: r.state,
    output: r.output ?? null,
    error: r.error ?? null,
    exhaust: r.exhaust === true,
    require_unexpired: r.requireUnexpired,
    ord: i + 1,
  }));
  return jsonRows(
    rows,
    "execution_id uuid, worker_id text, fence_token bigint, state text, output jsonb, error jsonb, exhaust boolean, require_unexpired boolean, ord int",
  );
}

/**
 * The CTE `recorded`: each attempt whose lease row the CTE `closed` deleted (its columns, with
 * new_state, new_output, new_error and exhaust) takes its outcome and the lease it had into its record.
 */
function recordClosedCte(returning: RawBuilder<unknown>) {
  return sql`recorded AS (
      UPDATE task_executions t
      SET state = c.new_state, output = c.new_output, error = c.new_error, finished_at = now(),
          lease_holder = c.lease_holder, lease_expires_at = c.lease_expires_at, fence_token = c.fence_token,
          started_at = c.started_at, max_attempts = CASE WHEN c.exhaust THEN t.attempt_number ELSE t.max_attempts END
      FROM closed c
      WHERE t.execution_id = c.execution_id
      RETURNING ${returning}
    )`;
}

/**
 * CTEs closing reported leases inside a larger write, all or none. The lease rows are deleted by
 * the row ids their lock returned (see taskAcquire: no id list per probe). `hold` (the CTE `held`) locks
 * each lease still held with its fence (and unexpired where required), but only once the CTE
 * `gate` (one boolean column `ok`) is true, so that callers lock their instance rows first.
 * `close` (the CTEs `closed` and `recorded`) then closes exactly the rows `held` locked, and only
 * when the CTE `go`, which the caller places between the two, has rows: the caller lets it have
 * rows only when `held` has one row per report.
 */
export function leaseCloseCtes(reports: ClosingReport[], gate: string) {
  const hold = sql`
    held AS MATERIALIZED (
      SELECT l.*, v.state AS new_state, v.output AS new_output, v.error AS new_error, v.exhaust
      FROM ${closingRows(reports)}
      JOIN LATERAL (SELECT *, ctid AS lease_row FROM task_leases WHERE task_leases.execution_id = v.execution_id LIMIT 1) l ON true
      WHERE l.state = 'LEASED' AND l.fence_token = v.fence_token AND l.lease_holder = v.worker_id
        AND (NOT v.require_unexpired OR l.lease_expires_at > clock_timestamp())
        AND (SELECT ok FROM ${sql.table(gate)})
      FOR UPDATE OF l
    )`;
  const close = (go: string) => sql`
    closed AS (
      DELETE FROM task_leases l
      USING held h
      WHERE l.ctid = h.lease_row AND l.execution_id = h.execution_id
        AND EXISTS (SELECT 1 FROM ${sql.table(go)})
      RETURNING h.*
    ), ${recordClosedCte(sql`t.execution_id`)}`;
  return { hold, close };
}

/** The instances that own some executions, and every attempt of theirs: what a report is planned on. */
export interface ReportRead {
  instances: InstanceRow[];
  tasks: TaskRow[];
}

type InstanceColumns = {
  i_namespace: string;
  i_workflow_name: string;
  i_workflow_version: number;
  i_run_id: string;
  i_state: string;
  i_sequence_number: string;
  i_compensate_from: string | null;
  i_created_at: Date;
  i_updated_at: Date;
  i_first: boolean;
  i_input: unknown;
  i_output: unknown;
  i_error: unknown;
};

/**
 * Reads, without locking, the instances owning `executionIds` and all their attempts (with their
 * lease columns), in one statement: one row per attempt, in the order the planner reads them. The
 * instance's small columns ride on every row; its input, output and error only on its first row,
 * so an instance with many attempts is not sent many times. Every lookup is one index probe per
 * row, whatever the statistics say: on a table that grew since its last ANALYZE, "= ANY(list)"
 * was planned as a scan of all of task_executions (1 ms per read at 2,000 rows).
 */
export async function reportRead(db: DbOrTrx, executionIds: string[]): Promise<ReportRead> {
  if (executionIds.length === 0) return { instances: [], tasks: [] };
  const result = await sql<AttemptColumns & InstanceColumns>`
    WITH owner AS MATERIALIZED (
      SELECT DISTINCT o.workflow_instance_id AS instance_id
      FROM unnest(${uuidArray(executionIds)}::uuid[]) AS e(execution_id)
      CROSS JOIN LATERAL (SELECT workflow_instance_id FROM task_executions WHERE execution_id = e.execution_id LIMIT 1) o
    )
    SELECT ${ATTEMPT_COLUMNS},
      i.namespace AS i_namespace, i.workflow_name AS i_workflow_name, i.workflow_version AS i_workflow_version,
      i.run_id AS i_run_id, i.state AS i_state, i.sequence_number AS i_sequence_number, i.compensate_from AS i_compensate_from,
      i.created_at AS i_created_at, i.updated_at AS i_updated_at, row_number() OVER w = 1 AS i_first,
      CASE WHEN row_number() OVER w = 1 THEN i.input END AS i_input,
      CASE WHEN row_number() OVER w = 1 THEN i.output END AS i_output,
      CASE WHEN row_number() OVER w = 1 THEN i.error END AS i_error
    FROM owner
    CROSS JOIN LATERAL (SELECT * FROM workflow_instances WHERE instance_id = owner.instance_id LIMIT 1) i
    CROSS JOIN LATERAL (SELECT * FROM task_executions WHERE workflow_instance_id = owner.instance_id) t
    LEFT JOIN LATERAL (SELECT * FROM task_leases WHERE task_leases.execution_id = t.execution_id LIMIT 1) l ON true
    WINDOW w AS (PARTITION BY i.instance_id ORDER BY t.created_at, t.attempt_number)
    ORDER BY i.instance_id, t.created_at, t.attempt_number`.execute(db);
  const instances: InstanceRow[] = [];
  const tasks: TaskRow[] = [];
  for (const r of result.rows) {
    if (r.i_first) {
      instances.push({
        instanceId: r.workflow_instance_id,
        namespace: r.i_namespace,
        workflowName: r.i_workflow_name,
        workflowVersion: r.i_workflow_version,
        runId: r.i_run_id,
        state: r.i_state as InstanceRow["state"],
        input: r.i_input as Record<string, unknown>,
        output: r.i_output ?? null,
        error: (r.i_error as InstanceError | null) ?? null,
        compensateFrom: r.i_compensate_from,
        sequenceNumber: Number(r.i_sequence_number),
        createdAt: r.i_created_at,
        updatedAt: r.i_updated_at,
      });
    }
    tasks.push(toTaskRow(r));
  }
  return { instances, tasks };
}
