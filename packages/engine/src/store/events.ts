import type { DbOrTrx } from "../db/database.ts";

export interface NewEvent {
  type: string;
  payload: Record<string, unknown>;
  /** Unique across all events; defaults to `<instance>:<sequence>`. */
  idempotencyKey?: string;
}

export interface EventRow {
  sequenceNumber: number;
  eventType: string;
  payload: Record<string, unknown>;
  createdAt: Date;
}

/** Appends events, each with its instance and sequence number, in one statement. */
export async function eventInsertMany(db: DbOrTrx, events: (NewEvent & { instanceId: string; sequenceNumber: number })[]): Promise<void> {
  if (events.length === 0) return;
  await db
    .insertInto("events")
    .values(
      events.map((e) => ({
        event_id: crypto.randomUUID(),
        workflow_instance_id: e.instanceId,
        sequence_number: e.sequenceNumber,
        event_type: e.type,
        payload: JSON.stringify(e.payload),
        idempotency_key: e.idempotencyKey ?? `${e.instanceId}:${e.sequenceNumber}`,
      })),
    )
    .execute();
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
  return new Set(rows.map((r) => r.idempotency_key));
}
