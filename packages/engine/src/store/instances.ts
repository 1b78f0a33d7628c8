import type { InstanceState, InstanceSummary } from "@baton/contract";
import { type Selectable, sql } from "kysely";
import type { DbOrTrx } from "../db/database.ts";
import type { WorkflowInstancesTable } from "../db/schema.ts";
import type { InstanceListPosition } from "../domain/list-cursor.ts";
import type { InstanceError } from "../domain/reconcile.ts";
import { idList } from "./id-list.ts";
import { jsonRows } from "./json-rows.ts";

/** An instance as stored; the fields it shares with the API's InstanceSummary take their types from it. */
export interface InstanceRow
  extends Pick<InstanceSummary, "instanceId" | "namespace" | "workflowName" | "workflowVersion" | "runId" | "state"> {
  input: Record<string, unknown>;
  output: unknown;
  error: InstanceError | null;
  compensateFrom: string | null;
  sequenceNumber: number;
  createdAt: Date;
  updatedAt: Date;
}

function toInstanceRow(r: Selectable<WorkflowInstancesTable>): InstanceRow {
  return {
    instanceId: r.instance_id,
    namespace: r.namespace,
    workflowName: r.workflow_name,
    workflowVersion: r.workflow_version,
    runId: r.run_id,
    state: r.state as InstanceState,
    input: r.input as Record<string, unknown>,
    output: r.output ?? null,
    error: (r.error as InstanceError | null) ?? null,
    compensateFrom: r.compensate_from,
    sequenceNumber: Number(r.sequence_number),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** A new instance as its start commits it: already planned, with its first events counted. */
export type NewInstance = Pick<
  InstanceRow,
  "instanceId" | "namespace" | "workflowName" | "workflowVersion" | "runId" | "state" | "input" | "output" | "error" | "sequenceNumber"
> & { /** The definition's `timeoutMs`: the run's deadline from now. */ timeoutMs?: number };

/**
 * A CTE (`inst`) inserting new instances unless their (namespace, workflow, runId) exists or their
 * workflow has a newer version than the one they were planned on; it returns the `instance_id`s it
 * inserted, so the rest of the statement writes only theirs.
 */
export function instanceInsertCte(instances: NewInstance[]) {
  return sql`
    inst AS (
      INSERT INTO workflow_instances (instance_id, namespace, workflow_name, workflow_version, run_id, state, input, output, error,
                                      sequence_number, deadline_at)
      SELECT v.instance_id, v.namespace, v.workflow_name, v.workflow_version, v.run_id, v.state, coalesce(v.input, 'null'), v.output,
             v.error, v.sequence_number, CASE WHEN v.state = 'RUNNING' THEN now() + v.timeout_ms * interval '1 millisecond' END
      FROM ${jsonRows(
        instances.map((i) => ({
          instance_id: i.instanceId,
          namespace: i.namespace,
          workflow_name: i.workflowName,
          workflow_version: i.workflowVersion,
          run_id: i.runId,
          state: i.state,
          input: i.input,
          // A run can end at its start (every step skipped, a fan-out over a list it cannot use).
          output: i.output,
          error: i.error,
          sequence_number: i.sequenceNumber,
          timeout_ms: i.timeoutMs ?? null,
        })),
        "instance_id uuid, namespace text, workflow_name text, workflow_version int, run_id text, state text, input jsonb, output jsonb, error jsonb, sequence_number bigint, timeout_ms bigint",
      )}
      -- Planned on the version the process thought latest: only while none is newer.
      WHERE NOT EXISTS (SELECT 1 FROM workflow_definitions d
                        WHERE d.namespace = v.namespace AND d.name = v.workflow_name AND d.version > v.workflow_version)
      ON CONFLICT (namespace, workflow_name, run_id) DO NOTHING
      RETURNING instance_id
    )`;
}

/** Existing instances by run id, for starts that found theirs already there. */
export async function instanceListByRunIds(
  db: DbOrTrx,
  params: { namespace: string; workflowName: string; runIds: string[] },
): Promise<InstanceRow[]> {
  const rows = await db
    .selectFrom("workflow_instances")
    .selectAll()
    .where("namespace", "=", params.namespace)
    .where("workflow_name", "=", params.workflowName)
    .where("run_id", "=", sql<string>`ANY(${params.runIds}::text[])`)
    .execute();
  return rows.map(toInstanceRow);
}

export async function instanceGet(db: DbOrTrx, instanceId: string): Promise<InstanceRow | null> {
  const row = await db.selectFrom("workflow_instances").selectAll().where("instance_id", "=", instanceId).executeTakeFirst();
  return row ? toInstanceRow(row) : null;
}

/** Locks an instance row for the rest of the transaction: changes to one instance are serial. */
export async function instanceLock(db: DbOrTrx, instanceId: string): Promise<InstanceRow | null> {
  const row = await db.selectFrom("workflow_instances").selectAll().where("instance_id", "=", instanceId).forUpdate().executeTakeFirst();
  return row ? toInstanceRow(row) : null;
}

/**
 * Locks the instances that own these executions, in instance id order so that two batches never
 * wait on each other in a cycle. The first statement of complete and fail.
 */
export async function instanceLockByExecutions(db: DbOrTrx, executionIds: string[]): Promise<InstanceRow[]> {
  if (executionIds.length === 0) return [];
  // = ANY(ARRAY(...)) keeps both lookups on primary keys whatever the table statistics say.
  const rows = await sql<Selectable<WorkflowInstancesTable>>`
    SELECT i.* FROM workflow_instances i
    WHERE i.instance_id = ANY(ARRAY(
      SELECT workflow_instance_id FROM task_executions WHERE execution_id = ANY(${idList(executionIds)})))
    ORDER BY i.instance_id
    FOR UPDATE`.execute(db);
  return rows.rows.map(toInstanceRow);
}

/**
 * Locks up to `limit` instances that hold expired leases, skipping instances another transaction
 * has locked (so reapers on several replicas take different instances) and those in `skip`. With
 * `only`, just those instances are considered. In instance id order, like every instance lock.
 */
export async function instanceLockWithExpiredLeases(
  db: DbOrTrx,
  params: { limit: number; skip: string[]; only?: string[] },
): Promise<InstanceRow[]> {
  const only = params.only ? sql`AND i.instance_id = ANY(${idList(params.only)})` : sql``;
  const rows = await sql<Selectable<WorkflowInstancesTable>>`
    SELECT i.* FROM workflow_instances i
    WHERE i.instance_id IN (SELECT workflow_instance_id FROM task_leases WHERE state = 'LEASED' AND lease_expires_at <= now())
      AND NOT (i.instance_id = ANY(${idList(params.skip)})) ${only}
    ORDER BY i.instance_id
    LIMIT ${params.limit}
    FOR UPDATE SKIP LOCKED`.execute(db);
  return rows.rows.map(toInstanceRow);
}

export interface InstanceWrite {
  instanceId: string;
  /** The sequence number the instance was read at: the write fails if it moved (optimistic lock). */
  expectedSequence: number;
  sequenceNumber: number;
  state: InstanceState;
  output: unknown;
  error: InstanceError | null;
  compensateFrom: string | null;
}

/**
 * A CTE (`inst_write`) writing instances' new states, each guarded by the sequence it was read at;
 * it returns the ids it wrote, so the caller can tell that none moved meanwhile. `lockedRows`, when
 * given, names a CTE of the rows this statement locked (`instance_id`, and `row_id`: the ctid it
 * locked): only those are written.
 */
export function instanceUpdateCte(writes: InstanceWrite[], lockedRows?: string) {
  const rows = writes.map((w) => ({
    instance_id: w.instanceId,
    expected: w.expectedSequence,
    sequence_number: w.sequenceNumber,
    state: w.state,
    output: w.output ?? null,
    error: w.error,
    compensate_from: w.compensateFrom,
  }));
  // Each row is written by its row id (a TID lookup per row, whatever a plan cached while the table
  // was small would do): the one the same statement's lock returned, or else the one its key finds
  // (a row updated meanwhile is followed to its newest version, where the expected sequence number
  // is checked, as for a write by key). An "= ANY(ids)" beside the key equality re-sorted the id
  // list on every probe: quadratic in the batch.
  const target = lockedRows
    ? sql`JOIN ${sql.table(lockedRows)} k ON k.instance_id = v.instance_id WHERE i.ctid = k.row_id AND`
    : sql`CROSS JOIN LATERAL (SELECT ctid AS row_id FROM workflow_instances WHERE instance_id = v.instance_id LIMIT 1) k
      WHERE i.ctid = k.row_id AND`;
  return sql`
    inst_write AS (
      UPDATE workflow_instances i
      SET state = v.state, output = v.output, error = v.error, compensate_from = v.compensate_from,
          sequence_number = v.sequence_number, updated_at = now(),
          -- The deadline bounds a run until it first ends; leaving it set would keep the row in the
          -- deadline index (and an update that clears nothing stays HOT).
          deadline_at = CASE WHEN v.state IN ('RUNNING', 'PAUSED') THEN i.deadline_at END
      FROM ${jsonRows(rows, "instance_id uuid, expected bigint, sequence_number bigint, state text, output jsonb, error jsonb, compensate_from text")}
      ${target} i.instance_id = v.instance_id AND i.sequence_number = v.expected
      RETURNING i.instance_id
    )`;
}

export interface InstanceListFilter {
  namespace?: string;
  workflowName?: string;
  state?: InstanceState;
  /** Where the previous page ended. */
  after?: InstanceListPosition;
  limit: number;
}

/** Instances newest first, keyset-paginated on (created_at, instance_id), each with its position. */
export async function instanceList(db: DbOrTrx, filter: InstanceListFilter): Promise<(InstanceRow & { position: InstanceListPosition })[]> {
  let query = db
    .selectFrom("workflow_instances")
    .selectAll()
    .select(sql<string>`to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`.as("created_at_exact"));
  if (filter.namespace) query = query.where("namespace", "=", filter.namespace);
  if (filter.workflowName) query = query.where("workflow_name", "=", filter.workflowName);
  if (filter.state) query = query.where("state", "=", filter.state);
  if (filter.after) {
    const { instanceId } = filter.after;
    const createdAt = sql<Date>`${filter.after.createdAt}::timestamptz`;
    query = query.where((eb) =>
      eb.or([eb("created_at", "<", createdAt), eb.and([eb("created_at", "=", createdAt), eb("instance_id", "<", instanceId)])]),
    );
  }
  const rows = await query.orderBy("created_at", "desc").orderBy("instance_id", "desc").limit(filter.limit).execute();
  return rows.map((r) => ({ ...toInstanceRow(r), position: { createdAt: r.created_at_exact, instanceId: r.instance_id } }));
}

/** Instance counts by state (for metrics). */
export async function instanceCountByState(db: DbOrTrx): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom("workflow_instances")
    .select(["state", (eb) => eb.fn.countAll<string | number>().as("count")])
    .groupBy("state")
    .execute();
  return Object.fromEntries(rows.map((r) => [r.state, Number(r.count)]));
}

/** The namespace of an instance, or null when there is no instance with this id. */
export async function instanceNamespace(db: DbOrTrx, instanceId: string): Promise<string | null> {
  const row = await db.selectFrom("workflow_instances").select("namespace").where("instance_id", "=", instanceId).executeTakeFirst();
  return row?.namespace ?? null;
}

/** These instances, by id (one statement; ids not found are left out). */
export async function instanceListByIds(db: DbOrTrx, instanceIds: string[]): Promise<InstanceRow[]> {
  if (instanceIds.length === 0) return [];
  const rows = await db
    .selectFrom("workflow_instances")
    .selectAll()
    .where("instance_id", "=", sql<string>`ANY(${idList(instanceIds)})`)
    .orderBy("instance_id")
    .execute();
  return rows.map(toInstanceRow);
}

/** Where an instance stands: its state, and its output and error once it has them. */
export type InstanceStanding = Pick<InstanceRow, "instanceId" | "state" | "output" | "error">;

/** The standing of each of these instances (one statement; ids not found are left out). */
export async function instanceListStanding(db: DbOrTrx, instanceIds: string[]): Promise<InstanceStanding[]> {
  if (instanceIds.length === 0) return [];
  const rows = await db
    .selectFrom("workflow_instances")
    .select(["instance_id", "state", "output", "error"])
    .where("instance_id", "=", sql<string>`ANY(${idList(instanceIds)})`)
    .execute();
  return rows.map((r) => ({
    instanceId: r.instance_id,
    state: r.state as InstanceState,
    output: r.output ?? null,
    error: (r.error as InstanceError | null) ?? null,
  }));
}

/**
 * Locks up to `limit` runs past their deadline that are still RUNNING or PAUSED, skipping those
 * another transaction holds (a replica's pass takes others), in instance id order like every
 * instance lock. The runs due are read from the deadline index in deadline order, then locked by
 * key: ordered by instance id, the reaper's cached plan walked the primary key and filtered every
 * instance (220 ms a pass at 550,000 instances, none of them with a deadline).
 */
export async function instanceLockPastDeadline(db: DbOrTrx, limit: number): Promise<InstanceRow[]> {
  const rows = await sql<Selectable<WorkflowInstancesTable>>`
    SELECT i.*
    FROM (
      SELECT instance_id FROM workflow_instances
      WHERE deadline_at <= now() AND deadline_at IS NOT NULL
      ORDER BY deadline_at
      LIMIT ${sql.lit(Math.trunc(limit))}
    ) due
    JOIN workflow_instances i ON i.instance_id = due.instance_id
    WHERE i.deadline_at <= now() AND i.state IN ('RUNNING', 'PAUSED')
    ORDER BY i.instance_id
    FOR UPDATE OF i SKIP LOCKED`.execute(db);
  return rows.rows.map(toInstanceRow);
}
