import { createEngine, type Database, type Engine, type EngineOptions } from "@baton/engine";
import { directDb } from "@baton/engine/internal";
import { sql } from "kysely";
import { createTestDatabase, type TestDatabase } from "./database.ts";

export interface TestEngine extends Engine {
  testDb: TestDatabase;
  /** The test database the engine runs on, for tests that set up or read rows directly. */
  database: Database;
  /** Makes a lease run out now, as if its holder had stalled past leaseMs. */
  expireLease(executionId: string): Promise<void>;
  /** Makes tasks waiting out a retry backoff available now. */
  skipBackoff(): Promise<void>;
  /** Closes the engine and drops the database. */
  destroy(): Promise<void>;
}

/** An engine on a fresh test database, with the background reaper off unless asked for (tests reap by hand). */
export async function createTestEngine(
  options: { poolSize?: number } & Pick<
    EngineOptions,
    "pollIntervalMs" | "reapIntervalMs" | "logger" | "retentionMs" | "housekeepingIntervalMs"
  > = {},
): Promise<TestEngine> {
  const testDb = await createTestDatabase(options);
  const engine = await createEngine({
    database: testDb.database,
    migrate: false,
    reapIntervalMs: options.reapIntervalMs ?? 0,
    pollIntervalMs: options.pollIntervalMs ?? 1000,
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.retentionMs !== undefined ? { retentionMs: options.retentionMs } : {}),
    ...(options.housekeepingIntervalMs !== undefined ? { housekeepingIntervalMs: options.housekeepingIntervalMs } : {}),
  });
  const db = directDb(testDb.database);
  return {
    ...engine,
    database: testDb.database,
    workflows: engine.workflows,
    tasks: engine.tasks,
    dispatcher: engine.dispatcher,
    testDb,
    async expireLease(executionId) {
      await db
        .updateTable("task_leases")
        .set({ lease_expires_at: sql`now() - interval '1 millisecond'` })
        .where("execution_id", "=", executionId)
        .execute();
    },
    async skipBackoff() {
      // Paused runs' tasks stay parked (available_at in year 9999): pausing must keep them out of reach.
      await db
        .updateTable("task_leases")
        .set({ available_at: sql`now()` })
        .where("state", "=", "PENDING")
        .where("available_at", "<", sql<Date>`'9999-01-01'::timestamptz`)
        .execute();
    },
    async destroy() {
      await engine.close();
      await testDb.drop();
    },
  };
}
