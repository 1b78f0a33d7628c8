import { type Selectable, sql } from "kysely";
import { BatonError } from "../contract/errors.ts";
import type { DbOrTrx } from "../db/database.ts";
import type { WorkflowInstancesTable } from "../db/schema.ts";
import type { InstanceError } from "../domain/reconcile.ts";
import type { InstanceState } from "../domain/states.ts";

export interface InstanceRow {
  instanceId: string;
  namespace: string;
  workflowName: string;
  workflowVersion: number;
  runId: string;
  state: InstanceState;
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

/** Inserts a new instance unless (namespace, workflow, runId) exists; null when it already did. */
export async function instanceInsertIfAbsent(
  db: DbOrTrx,
  params: { namespace: string; workflowName: string; workflowVersion: number; runId: string; input: unknown },
): Promise<InstanceRow | null> {
  const row = await db
    .insertInto("workflow_instances")
    .values({
      instance_id: crypto.randomUUID(),
      namespace: params.namespace,
      workflow_name: params.workflowName,
      workflow_version: params.workflowVersion,
      run_id: params.runId,
      state: "RUNNING",
      input: JSON.stringify(params.input),
      sequence_number: 0,
    })
    .onConflict((oc) => oc.columns(["namespace", "workflow_name", "run_id"]).doNothing())
    .returningAll()
    .executeTakeFirst();
  return row ? toInstanceRow(row) : null;
}

export async function instanceGetByRunId(
  db: DbOrTrx,
  params: { namespace: string; workflowName: string; runId: string },
): Promise<InstanceRow | null> {
  const row = await db
    .selectFrom("workflow_instances")
    .selectAll()
    .where("namespace", "=", params.namespace)
    .where("workflow_name", "=", params.workflowName)
    .where("run_id", "=", params.runId)
    .executeTakeFirst();
  return row ? toInstanceRow(row) : null;
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

/** Locks the instance that owns an execution (the first statement of complete and fail). */
export async function instanceLockByExecution(db: DbOrTrx, executionId: string): Promise<InstanceRow | null> {
  const row = await db
    .selectFrom("workflow_instances as i")
    .selectAll("i")
    .where("i.instance_id", "=", (eb) =>
      eb.selectFrom("task_executions").select("workflow_instance_id").where("execution_id", "=", executionId),
    )
    .forUpdate()
    .executeTakeFirst();
  return row ? toInstanceRow(row) : null;
}

/**
 * Writes an instance's new state, guarded by the sequence number it was read at (optimistic lock).
 */
export async function instanceUpdateIfSequence(
  db: DbOrTrx,
  params: {
    instanceId: string;
    expectedSequence: number;
    sequenceNumber: number;
    state: InstanceState;
    output: unknown;
    error: InstanceError | null;
    compensateFrom: string | null;
  },
): Promise<void> {
  const result = await db
    .updateTable("workflow_instances")
    .set({
      state: params.state,
      output: params.output === null ? null : JSON.stringify(params.output),
      error: params.error === null ? null : JSON.stringify(params.error),
      compensate_from: params.compensateFrom,
      sequence_number: params.sequenceNumber,
      updated_at: sql`now()`,
    })
    .where("instance_id", "=", params.instanceId)
    .where("sequence_number", "=", sql<never>`${params.expectedSequence}::bigint`)
    .executeTakeFirst();
  if (Number(result.numUpdatedRows) !== 1) {
    throw new BatonError("CONCURRENT_UPDATE", `Instance ${params.instanceId} changed concurrently; retry the request`, {
      instanceId: params.instanceId,
    });
  }
}

export interface InstanceListFilter {
  namespace?: string;
  workflowName?: string;
  state?: InstanceState;
  /** Opaque position from a previous page. */
  after?: { createdAt: Date; instanceId: string };
  limit: number;
}

/** Instances newest first, keyset-paginated on (created_at, instance_id). */
export async function instanceList(db: DbOrTrx, filter: InstanceListFilter): Promise<InstanceRow[]> {
  let query = db.selectFrom("workflow_instances").selectAll();
  if (filter.namespace) query = query.where("namespace", "=", filter.namespace);
  if (filter.workflowName) query = query.where("workflow_name", "=", filter.workflowName);
  if (filter.state) query = query.where("state", "=", filter.state);
  if (filter.after) {
    const { createdAt, instanceId } = filter.after;
    query = query.where((eb) =>
      eb.or([eb("created_at", "<", createdAt), eb.and([eb("created_at", "=", createdAt), eb("instance_id", "<", instanceId)])]),
    );
  }
  const rows = await query.orderBy("created_at", "desc").orderBy("instance_id", "desc").limit(filter.limit).execute();
  return rows.map(toInstanceRow);
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
