import { TERMINAL_INSTANCE_STATES } from "@baton/contract";
import { sql } from "kysely";
import type { DbOrTrx } from "../db/database.ts";

/**
 * Deletes up to `batch` instances that finished (terminal state) more than `olderThanMs` ago, with
 * their attempts, history, report keys and open leases (none should be left). No foreign key
 * cascades (migration 0009): one statement deletes them all, so an instance goes whole or not at all.
 * Instances locked right now (a retry starting) are skipped. Returns how many instances went.
 */
export async function instancePruneFinished(db: DbOrTrx, params: { olderThanMs: number; batch: number }): Promise<number> {
  const result = await sql`
    WITH doomed AS (
      SELECT instance_id FROM workflow_instances
      -- created_at bounds the scan by its index: what finished before the cutoff began before it.
      WHERE created_at < now() - ${params.olderThanMs} * interval '1 millisecond'
        AND updated_at < now() - ${params.olderThanMs} * interval '1 millisecond'
        AND state = ANY(${[...TERMINAL_INSTANCE_STATES]}::text[])
      LIMIT ${params.batch}
      FOR UPDATE SKIP LOCKED
    ), leases AS (
      DELETE FROM task_leases WHERE workflow_instance_id IN (SELECT instance_id FROM doomed)
    ), attempts AS (
      DELETE FROM task_executions WHERE workflow_instance_id IN (SELECT instance_id FROM doomed)
    ), history AS (
      DELETE FROM events WHERE workflow_instance_id IN (SELECT instance_id FROM doomed)
    ), keys AS (
      DELETE FROM report_keys WHERE workflow_instance_id IN (SELECT instance_id FROM doomed)
    )
    DELETE FROM workflow_instances WHERE instance_id IN (SELECT instance_id FROM doomed)`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}
