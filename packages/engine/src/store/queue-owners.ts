import type { DbOrTrx } from "../db/database.ts";

/**
 * Claims `queues` for `namespace` where nobody has, and answers the queues another namespace
 * already owns (empty when every queue is this namespace's now).
 */
export async function queueClaim(db: DbOrTrx, namespace: string, queues: string[]): Promise<string[]> {
  if (queues.length === 0) return [];
  const unique = [...new Set(queues)];
  await db
    .insertInto("queue_owners")
    .values(unique.map((queue) => ({ queue, namespace })))
    .onConflict((oc) => oc.column("queue").doNothing())
    .execute();
  const owners = await queueOwners(db, unique);
  return unique.filter((q) => owners.get(q) !== namespace);
}

/** The owning namespace of each queue that has one. */
export async function queueOwners(db: DbOrTrx, queues: string[]): Promise<Map<string, string>> {
  if (queues.length === 0) return new Map();
  const rows = await db.selectFrom("queue_owners").select(["queue", "namespace"]).where("queue", "in", queues).execute();
  return new Map(rows.map((r) => [r.queue, r.namespace]));
}
