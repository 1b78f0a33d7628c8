import type { Role } from "@baton/contract";
import { sql } from "kysely";
import type { DbOrTrx } from "../db/database.ts";

export interface ApiKeyRow {
  keyId: string;
  name: string;
  role: Role;
  namespaces: string[];
  queues: string[];
  secretHash: string;
  createdAt: Date;
  revokedAt: Date | null;
}

type NewKey = Omit<ApiKeyRow, "createdAt" | "revokedAt">;

const toRow = (r: {
  key_id: string;
  name: string;
  role: string;
  namespaces: string[];
  queues: string[];
  secret_hash: string;
  created_at: Date;
  revoked_at: Date | null;
}): ApiKeyRow => ({
  keyId: r.key_id,
  name: r.name,
  role: r.role as Role,
  namespaces: r.namespaces,
  queues: r.queues,
  secretHash: r.secret_hash,
  createdAt: r.created_at,
  revokedAt: r.revoked_at,
});

/** Inserts a key; false when its id is taken (the row already there is left alone). */
export async function apiKeyInsert(db: DbOrTrx, key: NewKey): Promise<boolean> {
  const result = await db
    .insertInto("api_keys")
    .values({
      key_id: key.keyId,
      name: key.name,
      role: key.role,
      namespaces: key.namespaces,
      queues: key.queues,
      secret_hash: key.secretHash,
    })
    .onConflict((oc) => oc.column("key_id").doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
}

export async function apiKeyGet(db: DbOrTrx, keyId: string): Promise<ApiKeyRow | null> {
  const row = await db.selectFrom("api_keys").selectAll().where("key_id", "=", keyId).executeTakeFirst();
  return row ? toRow(row) : null;
}

/** Every key, newest first (revoked ones too: an operator sees when a key was revoked). */
export async function apiKeyList(db: DbOrTrx): Promise<ApiKeyRow[]> {
  const rows = await db.selectFrom("api_keys").selectAll().orderBy("created_at", "desc").orderBy("key_id").execute();
  return rows.map(toRow);
}

/** Marks a key revoked (once); returns the row, or null when there is no such key. */
export async function apiKeyRevoke(db: DbOrTrx, keyId: string): Promise<ApiKeyRow | null> {
  const row = await db
    .updateTable("api_keys")
    .set({ revoked_at: sql<Date>`coalesce(revoked_at, now())` })
    .where("key_id", "=", keyId)
    .returningAll()
    .executeTakeFirst();
  return row ? toRow(row) : null;
}

export async function apiKeyActiveCount(db: DbOrTrx): Promise<number> {
  const row = await db
    .selectFrom("api_keys")
    .select((eb) => eb.fn.countAll<string>().as("n"))
    .where("revoked_at", "is", null)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
