import { sql } from "kysely";
import type { DbOrTrx } from "../db/database.ts";
import { unpackHistory } from "./events.ts";

/** An event as the relay publishes it: with its global position and its instance's identity. */
export interface RelayEventRow {
  /** events.position, as a decimal string (bigint). */
  position: string;
  instanceId: string;
  namespace: string;
  workflowName: string;
  runId: string;
  sequenceNumber: number;
  eventType: string;
  payload: Record<string, unknown>;
  createdAt: Date;
}

export interface RelayBatch {
  events: RelayEventRow[];
  /**
   * The highest transaction id the reading snapshot saw in progress (decimal xid8), or null when
   * none was. A position missing from this batch may belong to one of those transactions; once the
   * database's oldest running transaction is past this id, a position still missing never comes.
   */
  inProgressUpTo: string | null;
}

/**
 * The oldest transaction id still running (decimal xid8): every transaction below it has
 * committed or rolled back.
 */
export async function eventRelayHorizon(db: DbOrTrx): Promise<string> {
  const result = await sql<{ xmin: string }>`SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin`.execute(db);
  return (result.rows[0] as { xmin: string }).xmin;
}

/**
 * Events after position `after`, plus those at the `gaps` positions (skipped earlier because
 * their transaction had not committed yet), in position order, at most `limit`. Positions come
 * from a sequence drawn before commit, so a later position can commit first: the relay reads
 * what is visible and remembers the holes (see RelayBatch.inProgressUpTo).
 */
export async function eventListForRelay(db: DbOrTrx, params: { after: string; gaps: string[]; limit: number }): Promise<RelayBatch> {
  // One statement, so the in-progress list describes the very snapshot the rows were read with.
  const result = await sql<{
    position: string;
    workflow_instance_id: string;
    namespace: string;
    workflow_name: string;
    run_id: string;
    sequence_number: string;
    entries: unknown;
    created_at: Date;
    in_progress_up_to: string | null;
  }>`
    WITH snapshot AS (
      SELECT (SELECT max(x::text::numeric) FROM pg_snapshot_xip(pg_current_snapshot()) AS x)::text AS in_progress_up_to
    ), batch AS (
      SELECT e.position, e.workflow_instance_id, e.sequence_number, e.entries, e.created_at
      FROM events e
      WHERE e.position > ${params.after}::bigint OR e.position = ANY(${params.gaps}::bigint[])
      ORDER BY e.position
      LIMIT ${params.limit}
    )
    SELECT b.position::text AS position, b.workflow_instance_id, i.namespace, i.workflow_name, i.run_id,
           b.sequence_number::text AS sequence_number, b.entries, b.created_at, s.in_progress_up_to
    FROM snapshot s
    LEFT JOIN batch b ON true
    LEFT JOIN workflow_instances i ON i.instance_id = b.workflow_instance_id
    ORDER BY b.position`.execute(db);
  const inProgressUpTo = result.rows[0]?.in_progress_up_to ?? null;
  // A row holds one commit's events of one instance; they share its position.
  const events = unpackHistory(result.rows.filter((r) => r.position !== null)).map((e) => ({
    position: e.position,
    instanceId: e.workflow_instance_id,
    namespace: e.namespace,
    workflowName: e.workflow_name,
    runId: e.run_id,
    sequenceNumber: e.sequenceNumber,
    eventType: e.entry.type,
    payload: e.entry.payload,
    createdAt: e.created_at,
  }));
  return { events, inProgressUpTo };
}
