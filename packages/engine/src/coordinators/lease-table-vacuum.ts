import { sql } from "kysely";
import type { Db } from "../db/database.ts";
import { type PassLogger, type PeriodicPass, startPeriodicPass } from "./periodic-pass.ts";

export interface LeaseTableVacuumOptions {
  /** Leases handed out since the last vacuum before the next one (default 10,000). */
  afterLeases?: number;
  /** At least this long between the end of one vacuum and the start of the next (default 10 s). */
  minIntervalMs?: number;
  /** How often the count is looked at (default 1 s). */
  checkIntervalMs?: number;
}

/**
 * Vacuums `task_leases` as it churns. A lease moves its row out of the pending index's predicate
 * and a finished one deletes it, so every lease leaves a dead entry at the head of the pending
 * index, where every acquire starts; the entries go only when the table is vacuumed. With a deep
 * backlog autovacuum comes too seldom (one look a minute at most): after 500,000 leases of a
 * 1,000,000-task backlog an acquire walked 5,000 index pages of them, 12 ms before its first row,
 * and the drain ran at two thirds of its shallow-backlog rate. The vacuum skips the table while
 * another holds it (autovacuum, another replica's pass). Postgres only: embedded PGlite runs one
 * session, which a vacuum would hold.
 */
export function startLeaseTableVacuum(
  db: Db,
  leasesHandedOut: () => number,
  logger: PassLogger,
  options: LeaseTableVacuumOptions = {},
): PeriodicPass {
  const afterLeases = options.afterLeases ?? 10_000;
  const minIntervalMs = options.minIntervalMs ?? 10_000;
  let countedAt = leasesHandedOut();
  let lastEnded = 0;
  return startPeriodicPass(
    "lease table vacuum",
    options.checkIntervalMs ?? 1000,
    async () => {
      const count = leasesHandedOut();
      if (count - countedAt < afterLeases || Date.now() - lastEnded < minIntervalMs) return;
      countedAt = count;
      try {
        await sql`VACUUM (SKIP_LOCKED) task_leases`.execute(db);
      } finally {
        lastEnded = Date.now();
      }
    },
    logger,
  );
}
