import { sql } from "kysely";
import type { DbOrTrx } from "../db/database.ts";

export interface NewEvent {
  type: string;
  payload: Record<string, unknown>;
  /** Names the report that caused the event (unique across all events), if it named itself. */
  idempotencyKey?: string;
}

export interface EventRow {
  sequenceNumber: number;
  eventType: string;
  payload: Record<string, unknown>;
  createdAt: Date;
}

/** An event with its place in its instance's history. */
export type NumberedEvent = NewEvent & { instanceId: string; sequenceNumber: number };

/**
 * A CTE (`event`) appending events, for the statement that commits a change. `onlyFor`, when
 * given, is a CTE with an `instance_id` column: events of other instances are left out.
 */
export function eventInsertCte(events: NumberedEvent[], onlyFor?: string) {
  const filter = onlyFor ? sql`WHERE v.instance_id IN (SELECT instance_id FROM ${sql.table(onlyFor)})` : sql``;
  return sql`
    event AS (
      INSERT INTO events (workflow_instance_id, sequence_number, event_type, payload, idempotency_key)
      SELECT v.instance_id, v.sequence_number, v.event_type, v.payload::jsonb, v.idempotency_key
      FROM unnest(
        ${events.map((e) => e.instanceId)}::uuid[], ${events.map((e) => e.sequenceNumber)}::bigint[], ${events.map((e) => e.type)}::text[],
        ${events.map((e) => JSON.stringify(e.payload))}::text[], ${events.map((e) => e.idempotencyKey ?? null)}::text[]
      ) AS v(instance_id, sequence_number, event_type, payload, idempotency_key)
      ${filter}
    )`;
}

export async function eventListByInstance(db: DbOrTrx, instanceId: string): Promise<EventRow[]> {
  const rows = await db
    .selectFrom("events")
    .select(["sequence_number", "event_type", "payload", "created_at"])
    .where("workflow_instance_id", "=", instanceId)
    .orderBy("sequence_number")
    .execute();
  return rows.map((r) => ({
    sequenceNumber: Number(r.sequence_number),
    eventType: r.event_type,
    payload: r.payload as Record<string, unknown>,
    createdAt: r.created_at,
  }));
}

/** Which of these idempotency keys some event already carries (reports applied before). */
export async function eventKeysExisting(db: DbOrTrx, keys: string[]): Promise<Set<string>> {
  if (keys.length === 0) return new Set();
  const rows = await db.selectFrom("events").select("idempotency_key").where("idempotency_key", "in", keys).execute();
  return new Set(rows.flatMap((r) => (r.idempotency_key ? [r.idempotency_key] : [])));
}
