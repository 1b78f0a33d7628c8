import { BatonError } from "@baton/contract";
import { sql } from "kysely";
import type { DbOrTrx } from "../db/database.ts";
import { type HistoryAppend, historyInsertCtes } from "./events.ts";
import { uuidArray } from "./id-list.ts";
import { type InstanceWrite, instanceInsertCte, instanceUpdateCte, type NewInstance } from "./instances.ts";
import { type ClosingReport, leaseCloseCtes } from "./task-leases.ts";
import { type NewTaskRow, type QueueWake, queueWakePayloads, TASK_CHANNEL, taskInsertCtes } from "./tasks.ts";

/*
 * What a change to instances writes, as ONE statement of data-modifying CTEs: the new attempts,
 * the history (one row per instance), the instances, and the NOTIFY that wakes the queues with new work. One round trip
 * per commit, however many instances it carries.
 */

const notify = (wakes: QueueWake[], sender?: string) =>
  sql`(SELECT count(pg_notify(${TASK_CHANNEL}, p)) FROM unnest(${queueWakePayloads(wakes, sender)}::text[]) AS p)`;

/**
 * Writes the changes of already-existing instances. Throws CONCURRENT_UPDATE (and the surrounding
 * transaction must roll back) when an instance's sequence number moved since it was read. `sender`
 * tags the wake-ups of the process that will wake its own waiters once the transaction commits.
 */
export async function changeWrite(
  trx: DbOrTrx,
  writes: { tasks: NewTaskRow[]; history: HistoryAppend[]; instances: InstanceWrite[]; wakes: QueueWake[] },
  sender?: string,
): Promise<void> {
  const result = await sql<{ written: string }>`
    WITH ${taskInsertCtes(writes.tasks)}, ${historyInsertCtes(writes.history)}, ${instanceUpdateCte(writes.instances)}
    SELECT (SELECT count(*) FROM inst_write) AS written, ${notify(writes.wakes, sender)} AS notified`.execute(trx);
  if (Number(result.rows[0]?.written) !== writes.instances.length) {
    throw new BatonError("CONCURRENT_UPDATE", "An instance changed concurrently; retry the request", {
      instanceIds: writes.instances.map((w) => w.instanceId),
    });
  }
}

/**
 * Writes reports planned on an unlocked read (`reportRead`), in one statement and no transaction,
 * all or nothing: it locks the instances (in id order, like every instance lock), checks that
 * none moved past the sequence number it was read at, then locks every reported lease that its
 * fence still holds; only when all of them are there does it close those leases and write the
 * attempts, history and instances, and NOTIFY. `ok` is false when it wrote nothing, for the caller
 * to take the locking path; `leased` has the leases of the new attempts `handoff` named (execution
 * id to worker id), inserted LEASED to their pollers.
 */
export async function reportWrite(
  db: DbOrTrx,
  writes: { closes: ClosingReport[]; tasks: NewTaskRow[]; history: HistoryAppend[]; instances: InstanceWrite[]; wakes: QueueWake[] },
  sender?: string,
  handoff?: ReadonlyMap<string, string>,
): Promise<{ ok: boolean; leased: Map<string, HandedLease> }> {
  const ids = writes.instances.map((w) => w.instanceId);
  // The lock finds each instance with one index probe and the update by the row id it locked,
  // whatever the statistics say: a plan cached while the table was small scanned all of it.
  const leases = leaseCloseCtes(writes.closes, "unmoved");
  const handing = handoff !== undefined && handoff.size > 0;
  const result = await sql<{ ok: boolean; leased: { execution_id: string; fence_token: number; lease_expires_at: string }[] | null }>`
    WITH locked AS MATERIALIZED (
      SELECT i.instance_id, i.sequence_number, i.row_id
      FROM unnest(${uuidArray(ids)}::uuid[]) AS e(instance_id)
      CROSS JOIN LATERAL (
        SELECT instance_id, sequence_number, ctid AS row_id FROM workflow_instances WHERE instance_id = e.instance_id LIMIT 1
      ) i
      ORDER BY i.instance_id
      FOR UPDATE OF i
    ), unmoved AS MATERIALIZED (
      SELECT count(*) = ${ids.length} AS ok
      FROM locked k
      JOIN unnest(${uuidArray(ids)}::uuid[], ${writes.instances.map((w) => w.expectedSequence)}::bigint[]) AS e(instance_id, expected)
        ON e.instance_id = k.instance_id AND e.expected = k.sequence_number
    ), ${leases.hold},
    passed AS MATERIALIZED (
      SELECT instance_id, row_id FROM locked
      WHERE (SELECT ok FROM unmoved) AND (SELECT count(*) FROM held) = ${writes.closes.length}
    ), ${leases.close("passed")}, ${taskInsertCtes(writes.tasks, "passed", handoff)}, ${historyInsertCtes(writes.history, "passed")},
    ${instanceUpdateCte(writes.instances, "passed")}
    SELECT ok, CASE WHEN ok THEN ${notify(writes.wakes, sender)} END AS notified,
      ${handing ? sql`(SELECT json_agg(attempt_lease) FROM attempt_lease WHERE fence_token IS NOT NULL)` : sql`NULL`} AS leased
    FROM (SELECT (SELECT count(*) FROM passed) = ${ids.length} AS ok) AS outcome`.execute(db);
  const row = result.rows[0];
  const leased = new Map<string, HandedLease>();
  for (const l of row?.leased ?? []) {
    leased.set(l.execution_id, { fenceToken: Number(l.fence_token), leaseExpiresAt: new Date(l.lease_expires_at) });
  }
  return { ok: row?.ok === true, leased };
}

/** A lease a write (a start or a report batch) inserted for a task handed to a parked poll. */
export interface HandedLease {
  fenceToken: number;
  leaseExpiresAt: Date;
}

/**
 * Inserts new instances, already planned, with their first attempts and events, in one statement
 * (no transaction needed). An instance whose (namespace, workflow, runId) exists is skipped with
 * all its rows. Returns the ids of the instances it inserted and, for the attempts `handoff` named
 * (execution id to worker id) that it inserted, their leases. `sender` tags the wake-ups of the
 * dispatcher that will wake its own waiters once this returns.
 */
export async function startWrite(
  db: DbOrTrx,
  writes: { instances: NewInstance[]; tasks: NewTaskRow[]; history: HistoryAppend[]; wakes: QueueWake[] },
  sender?: string,
  handoff?: ReadonlyMap<string, string>,
): Promise<{ inserted: Set<string>; leased: Map<string, HandedLease> }> {
  const ctes = sql`${instanceInsertCte(writes.instances)}, ${taskInsertCtes(writes.tasks, "inst", handoff)},
    ${historyInsertCtes(writes.history, "inst")}`;
  const leased = new Map<string, HandedLease>();
  if (!handoff || handoff.size === 0) {
    const result = await sql<{ instance_id: string }>`
      WITH ${ctes}
      SELECT instance_id, ${notify(writes.wakes, sender)} AS notified FROM inst`.execute(db);
    return { inserted: new Set(result.rows.map((r) => r.instance_id)), leased };
  }
  // One row per inserted instance, then one per handed lease (execution_id set).
  const result = await sql<{ instance_id: string | null; execution_id: string | null; fence_token: string; lease_expires_at: Date }>`
    WITH ${ctes}
    SELECT instance_id, NULL::uuid AS execution_id, NULL::bigint AS fence_token, NULL::timestamptz AS lease_expires_at,
           ${notify(writes.wakes, sender)} AS notified
    FROM inst
    UNION ALL
    SELECT NULL, execution_id, fence_token, lease_expires_at, NULL FROM attempt_lease WHERE fence_token IS NOT NULL`.execute(db);
  const inserted = new Set<string>();
  for (const r of result.rows) {
    if (r.execution_id === null) inserted.add(r.instance_id as string);
    else leased.set(r.execution_id, { fenceToken: Number(r.fence_token), leaseExpiresAt: r.lease_expires_at });
  }
  return { inserted, leased };
}
