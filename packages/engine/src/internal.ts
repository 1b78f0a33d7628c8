/**
 * The engine's insides, for its own tests and tools only (test-support, bench, scripts, and the
 * baton-check verifier): the database handle and the store functions they use to set up or look at
 * rows directly, and the event fold that checks a history. Servers and clients go through the
 * coordinators of "@baton/engine"; nothing here is a stable interface.
 */
import type { Database, Db } from "./db/database.ts";

export { EVENTS_RELAY_LEASE } from "./coordinators/events-relay.ts";
export { openDatabase } from "./db/database.ts";
export { migrate } from "./db/migrate.ts";
export { foldEvents } from "./domain/event-fold.ts";
export { readCursor } from "./domain/relay-cursor.ts";
export { instanceCountByState } from "./store/instances.ts";
export { leaseAcquireOrRenew, leaseGet, leaseWriteCursorIfHeld } from "./store/leases.ts";
export { workerRecordPoll } from "./store/workers.ts";

/**
 * The Kysely handle of a database, for a test or tool that writes or reads rows directly (raw SQL,
 * or the store functions above) instead of through the coordinators: the one way outside the
 * engine to reach it.
 * @example await sql`DELETE FROM report_keys`.execute(directDb(engine.database));
 */
export function directDb(database: Database): Db {
  return database.db;
}
