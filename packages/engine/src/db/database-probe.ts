import { BatonError } from "@baton/contract";
import type { Database } from "./database.ts";

/** Why the database failed a probe; `broken` when only a restart of the process can help. */
export interface DatabaseProbeFailure {
  broken: boolean;
  error: BatonError;
}

/**
 * Asks the database `SELECT 1`: null when it answers 1, else why not. The answer is `broken` when
 * only a restart can help: a session that answers wrongly (a PGlite session a malformed statement
 * left out of step answers every query with no rows) or an embedded database that fails. Liveness
 * and readiness both read this one check, so they cannot disagree about a broken session.
 */
export async function probeDatabase(database: Database): Promise<DatabaseProbeFailure | null> {
  let rows: { one: number }[];
  try {
    rows = await database.db.selectNoFrom((eb) => eb.lit(1).as("one")).execute();
  } catch (error) {
    const reason = (error as Error).message;
    const broken = database.kind === "pglite";
    return { broken, error: new BatonError("UNAVAILABLE", "The database does not answer", { reason, broken }) };
  }
  if (rows.length === 1 && Number(rows[0]?.one) === 1) return null;
  return {
    broken: true,
    error: new BatonError("UNAVAILABLE", "The database session is broken: SELECT 1 answered wrongly; restart the process", {
      broken: true,
      rows: rows.length,
    }),
  };
}
