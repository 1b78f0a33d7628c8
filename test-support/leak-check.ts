import { setTimeout as sleep } from "node:timers/promises";
import type { TestDatabase } from "./database.ts";
import { adminQuery } from "./postgres.ts";

/**
 * What a test left open on its database, one phrase each (empty when nothing): a connection taken
 * before this check began and still not given back, a transaction PGlite's session is in with no
 * connection out (a raw BEGIN), a Postgres session of the database idle inside a transaction that
 * was already open at the check's first look. Work a test did not wait for gets up to `withinMs` to
 * finish; background passes of a live engine (the reaper, long-poll wake-ups) take and give back
 * connections all along, and only what stays out from the start counts. There is no event for
 * "given back", so it looks again every 50 ms; an idle database answers at the first look.
 */
export async function leftOpen(testDb: TestDatabase, withinMs = 2000): Promise<string[]> {
  const start = performance.now();
  const openAtStart = await idleTransactions(testDb);
  for (;;) {
    const elapsed = performance.now() - start;
    const { connections, longestHeldMs, inTransaction } = testDb.database.inUse();
    const left: string[] = [];
    if (longestHeldMs > elapsed) left.push(`a connection taken and not given back (${connections} out now)`);
    if (inTransaction && connections === 0) left.push("PGlite's session is inside a transaction no connection holds");
    for (const [session, description] of await idleTransactions(testDb)) {
      if (openAtStart.has(session)) left.push(description);
    }
    if (left.length === 0 || elapsed >= withinMs) return left;
    await sleep(50);
  }
}

/**
 * The sessions of a Postgres test database idle inside a transaction, by pid and transaction start:
 * a transaction whose client went back to the pool (a raw BEGIN), or on a connection of the test's
 * own. None on PGlite (see inTransaction).
 */
async function idleTransactions(testDb: TestDatabase): Promise<Map<string, string>> {
  if (testDb.url === undefined) return new Map();
  const sessions = await adminQuery<{ pid: number; xact_start: Date; query: string }>(
    `SELECT pid, xact_start, left(query, 120) AS query FROM pg_stat_activity
     WHERE datname = $1 AND state LIKE 'idle in transaction%'`,
    [new URL(testDb.url).pathname.slice(1)],
  );
  return new Map(
    sessions.map((s) => [
      `${s.pid}@${s.xact_start.toISOString()}`,
      `session ${s.pid} idle inside a transaction (its last statement: ${s.query})`,
    ]),
  );
}
