import { sql } from "kysely";
import type { DbOrTrx } from "../db/database.ts";
import { jsonRows } from "./json-rows.ts";

export interface NewEvent {
  type: string;
  payload: Record<string, unknown>;
  /** Names the report that caused the event (unique across all reports), if it named itself. */
  idempotencyKey?: string;
}

export interface EventRow {
  sequenceNumber: number;
  eventType: string;
  payload: Record<string, unknown>;
  createdAt: Date;
}

/** The events one commit appends to one instance's history, numbered on from `sequenceNumber`. */
export interface HistoryAppend {
  instanceId: string;
  sequenceNumber: number;
  events: NewEvent[];
}

/** How an event is stored inside its row's `entries`. */
interface StoredEntry {
  type: string;
  payload: Record<string, unknown>;
}

/**
 * CTEs (`history`, `report_key`) appending each commit's events as one row per instance, and
 * remembering the reports that named themselves, for the statement that commits a change.
 * `onlyFor`, when given, is a CTE with an `instance_id` column: other instances are left out.
 */
export function historyInsertCtes(appends: HistoryAppend[], onlyFor?: string) {
  const filter = onlyFor ? sql`WHERE v.instance_id IN (SELECT instance_id FROM ${sql.table(onlyFor)})` : sql``;
  const keyed = appends.flatMap((a) =>
    a.events.flatMap((e, i) =>
      e.idempotencyKey ? [{ key: e.idempotencyKey, instanceId: a.instanceId, sequence: a.sequenceNumber + i }] : [],
    ),
  );
  const rows = appends.map((a) => ({
    instance_id: a.instanceId,
    sequence_number: a.sequenceNumber,
    entries: a.events.map((e): StoredEntry => ({ type: e.type, payload: e.payload })),
  }));
  const keys = keyed.map((k) => ({ key: k.key, instance_id: k.instanceId, sequence_number: k.sequence }));
  return sql`
    history AS (
      INSERT INTO events (workflow_instance_id, sequence_number, entries)
      SELECT v.instance_id, v.sequence_number, v.entries
      FROM ${jsonRows(rows, "instance_id uuid, sequence_number bigint, entries jsonb")}
      ${filter}
    ), report_key AS (
      INSERT INTO report_keys (idempotency_key, workflow_instance_id, sequence_number)
      SELECT v.key, v.instance_id, v.sequence_number
      FROM ${jsonRows(keys, "key text, instance_id uuid, sequence_number bigint")}
      ${filter}
    )`;
}

/** Unpacks history rows into events, each numbered. */
export function unpackHistory<R extends { sequence_number: string | number | bigint; entries: unknown }>(
  rows: R[],
): (R & { entry: StoredEntry; sequenceNumber: number })[] {
  return rows.flatMap((r) =>
    (r.entries as StoredEntry[]).map((entry, i) => ({ ...r, entry, sequenceNumber: Number(r.sequence_number) + i })),
  );
}

/**
 * A page of one instance's history: the events numbered after `after` (0: from the start), at most
 * `limit`. A history row holds one commit's events, so the row that holds `after` is read too (found
 * by the primary key) and the events up to `after` left out.
 */
export async function eventPageByInstance(db: DbOrTrx, params: { instanceId: string; after: number; limit: number }): Promise<EventRow[]> {
  const rows = await db
    .selectFrom("events")
    .select(["sequence_number", "entries", "created_at"])
    .where("workflow_instance_id", "=", params.instanceId)
    .where(
      "sequence_number",
      ">=",
      sql<string>`(SELECT coalesce(max(sequence_number), 0) FROM events
        WHERE workflow_instance_id = ${params.instanceId} AND sequence_number <= ${params.after})`,
    )
    .orderBy("sequence_number")
    // Every row holds at least one event, and only the first may hold none after `after`.
    .limit(params.limit + 1)
    .execute();
  return unpackHistory(rows)
    .filter((e) => e.sequenceNumber > params.after)
    .slice(0, params.limit)
    .map(eventRow);
}

function eventRow(e: { sequenceNumber: number; entry: StoredEntry; created_at: Date }): EventRow {
  return { sequenceNumber: e.sequenceNumber, eventType: e.entry.type, payload: e.entry.payload, createdAt: e.created_at };
}

/** Which of these report keys were applied before. */
export async function reportKeysApplied(db: DbOrTrx, keys: string[]): Promise<Set<string>> {
  if (keys.length === 0) return new Set();
  const rows = await db
    .selectFrom("report_keys")
    .select("idempotency_key")
    .where("idempotency_key", "=", sql<string>`ANY(${keys}::text[])`)
    .execute();
  return new Set(rows.map((r) => r.idempotency_key));
}
