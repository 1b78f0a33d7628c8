import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, onPglite, type TestDatabase } from "../../../test-support/database.ts";
import { leftOpen } from "../../../test-support/leak-check.ts";

// The check every test passes through afterwards (test-support/leak-check-setup.ts), called here
// directly on leaks made on purpose, each put right before the test ends.
describe("the leak check after each test", () => {
  let testDb: TestDatabase;
  // One pooled connection, so a raw ROLLBACK reaches the session a raw BEGIN left in its transaction.
  beforeAll(async () => {
    testDb = await createTestDatabase({ poolSize: 1 });
  });
  afterAll(() => testDb.drop());

  it("finds nothing on a database that is idle", async () => {
    await sql`SELECT 1`.execute(testDb.database.db);
    expect(await leftOpen(testDb, 0)).toEqual([]);
  });

  it("reports a connection taken and not given back", async () => {
    let giveBack = () => {};
    const holding = testDb.database.db.connection().execute(() => new Promise<void>((resolve) => (giveBack = resolve)));
    await expect.poll(() => testDb.database.inUse().connections).toBe(1);
    expect(await leftOpen(testDb, 100)).toEqual(["a connection taken and not given back (1 out now)"]);
    giveBack();
    await holding;
    expect(await leftOpen(testDb, 0)).toEqual([]);
  });

  it("reports a transaction left open", async () => {
    const trx = await testDb.database.db.startTransaction().execute();
    await sql`SELECT 1`.execute(trx);
    const left = await leftOpen(testDb, 100);
    expect(left[0]).toBe("a connection taken and not given back (1 out now)");
    // On Postgres the server reports the idle transaction too; on PGlite the connection out holds it.
    expect(left.slice(1)).toEqual(onPglite ? [] : [expect.stringMatching(/idle inside a transaction \(its last statement: SELECT 1\)/)]);
    await trx.rollback().execute();
    expect(await leftOpen(testDb, 0)).toEqual([]);
  });

  it("reports a session whose connection went back to the pool inside a transaction", async () => {
    await sql`BEGIN`.execute(testDb.database.db);
    expect(await leftOpen(testDb, 100)).toEqual([
      onPglite
        ? "PGlite's session is inside a transaction no connection holds"
        : expect.stringMatching(/idle inside a transaction \(its last statement: BEGIN\)/),
    ]);
    await sql`ROLLBACK`.execute(testDb.database.db);
    expect(await leftOpen(testDb, 0)).toEqual([]);
  });

  it("waits for work still in flight to give its connection back", async () => {
    const inFlight = sql`SELECT pg_sleep(0.2)`.execute(testDb.database.db);
    expect(await leftOpen(testDb)).toEqual([]);
    await inFlight;
  });

  it("lets background work take and give back connections all along", async () => {
    // A pass every 10 ms, each holding its connection 30 ms: rarely is none out, but none stays out.
    let running = true;
    const passes = (async () => {
      while (running) {
        await testDb.database.db.connection().execute(() => new Promise((resolve) => setTimeout(resolve, 30)));
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    try {
      await expect.poll(() => testDb.database.inUse().connections).toBe(1);
      expect(await leftOpen(testDb, 1000)).toEqual([]);
    } finally {
      running = false;
      await passes;
    }
  });
});
