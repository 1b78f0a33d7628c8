import { BatonError } from "@baton/contract";
import { sql } from "kysely";
import type { DbOrTrx } from "../db/database.ts";
import { type HistoryAppend, historyInsertCtes } from "./events.ts";
import { type InstanceWrite, instanceInsertCte, instanceUpdateCte, type NewInstance } from "./instances.ts";
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
 * Inserts new instances, already planned, with their first attempts and events, in one statement
 * (no transaction needed). An instance whose (namespace, workflow, runId) exists is skipped with
 * all its rows. Returns the ids of the instances it inserted. `sender` tags the wake-ups of the
 * dispatcher that will wake its own waiters once this returns.
 */
export async function startWrite(
  db: DbOrTrx,
  writes: { instances: NewInstance[]; tasks: NewTaskRow[]; history: HistoryAppend[]; wakes: QueueWake[] },
  sender?: string,
): Promise<Set<string>> {
  const result = await sql<{ instance_id: string }>`
    WITH ${instanceInsertCte(writes.instances)}, ${taskInsertCtes(writes.tasks, "inst")}, ${historyInsertCtes(writes.history, "inst")}
    SELECT instance_id, ${notify(writes.wakes, sender)} AS notified FROM inst`.execute(db);
  return new Set(result.rows.map((r) => r.instance_id));
}
