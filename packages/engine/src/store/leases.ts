import { sql } from "kysely";
import type { DbOrTrx } from "../db/database.ts";

/** A named lease of an engine singleton (e.g. the Kafka events relay), as its holder sees it. */
export interface NamedLease {
  leaseKey: string;
  holderId: string;
  /** Changes (upwards, from fence_token_seq) every time the lease is handed to a holder. */
  fenceToken: number;
  expiresAt: Date;
  /** The singleton's progress, as last written with a valid fence; null before the first write. */
  cursor: unknown;
}

/**
 * Takes the named lease for `holderId`, or renews it. Renewing an unexpired lease one already
 * holds keeps its fence token; every hand-out (a new holder, or a holder whose lease ran out)
 * draws a fresh one, so writes of a previous hand-out carry a lower token and are refused.
 * Returns null while another holder's lease is unexpired.
 */
export async function leaseAcquireOrRenew(
  db: DbOrTrx,
  params: { leaseKey: string; holderId: string; leaseMs: number },
): Promise<NamedLease | null> {
  // The row lock taken by ON CONFLICT DO UPDATE serialises contenders: each sees the committed
  // holder and expiry of the one before it.
  const result = await sql<{ lease_key: string; holder_id: string; fence_token: string; expires_at: Date; cursor: unknown }>`
    INSERT INTO execution_leases AS l (lease_key, holder_id, expires_at, fence_token)
    VALUES (${params.leaseKey}, ${params.holderId}, now() + ${params.leaseMs} * interval '1 millisecond', nextval('fence_token_seq'))
    ON CONFLICT (lease_key) DO UPDATE
    SET holder_id = excluded.holder_id,
        expires_at = excluded.expires_at,
        fence_token = CASE
          WHEN l.holder_id = excluded.holder_id AND l.expires_at > now() THEN l.fence_token
          ELSE nextval('fence_token_seq')
        END
    WHERE l.holder_id = excluded.holder_id OR l.expires_at <= now()
    RETURNING l.lease_key, l.holder_id, l.fence_token, l.expires_at, l.cursor`.execute(db);
  const row = result.rows[0];
  return row ? toNamedLease(row) : null;
}

/**
 * Writes the singleton's cursor, only while `holderId` holds the lease with this fence token and
 * it has not expired. False means the caller was deposed and must stop acting as the singleton.
 */
export async function leaseWriteCursorIfHeld(
  db: DbOrTrx,
  params: { leaseKey: string; holderId: string; fenceToken: number; cursor: unknown },
): Promise<boolean> {
  const row = await db
    .updateTable("execution_leases")
    .set({ cursor: JSON.stringify(params.cursor) })
    .where("lease_key", "=", params.leaseKey)
    .where("holder_id", "=", params.holderId)
    .where("fence_token", "=", sql<never>`${params.fenceToken}::bigint`)
    .where("expires_at", ">", sql<Date>`now()`)
    .returning("lease_key")
    .executeTakeFirst();
  return row !== undefined;
}

/** Gives the lease up (it expires now), so another replica can take over without waiting. */
export async function leaseRelease(db: DbOrTrx, params: { leaseKey: string; holderId: string; fenceToken: number }): Promise<void> {
  await db
    .updateTable("execution_leases")
    .set({ expires_at: sql`now()` })
    .where("lease_key", "=", params.leaseKey)
    .where("holder_id", "=", params.holderId)
    .where("fence_token", "=", sql<never>`${params.fenceToken}::bigint`)
    .execute();
}

export async function leaseGet(db: DbOrTrx, leaseKey: string): Promise<NamedLease | null> {
  const row = await db.selectFrom("execution_leases").selectAll().where("lease_key", "=", leaseKey).executeTakeFirst();
  return row ? toNamedLease(row) : null;
}

function toNamedLease(row: { lease_key: string; holder_id: string; fence_token: unknown; expires_at: Date; cursor: unknown }): NamedLease {
  return {
    leaseKey: row.lease_key,
    holderId: row.holder_id,
    fenceToken: Number(row.fence_token),
    expiresAt: row.expires_at,
    cursor: row.cursor ?? null,
  };
}
