import type { Database } from "@baton/engine";
import { migrate, openDatabase } from "@baton/engine/internal";
import { inject } from "vitest";
import { adminQuery, TEST_POSTGRES_URL, withDatabase } from "./postgres.ts";

/** Which database the current test project runs on (set per project in vitest.config.ts). */
export const TEST_DB_KIND = (process.env.BATON_TEST_DB ?? "pglite") as "postgres" | "pglite";
export const onPglite = TEST_DB_KIND === "pglite";

export interface TestDatabase {
  database: Database;
  /** Connection URL on Postgres (for extra connections); undefined on PGlite. */
  url: string | undefined;
  drop(): Promise<void>;
}

/** The test databases of this file that are not dropped yet: what the leak check looks at after each test. */
export const openTestDatabases = new Set<TestDatabase>();

/**
 * A fresh, migrated database for one test file: a clone of the template on Postgres, an
 * in-memory instance on PGlite.
 */
export async function createTestDatabase(options: { poolSize?: number } = {}): Promise<TestDatabase> {
  const testDb = TEST_DB_KIND === "pglite" ? await createPgliteDatabase() : await createPostgresDatabase(options.poolSize ?? 10);
  openTestDatabases.add(testDb);
  const drop = testDb.drop;
  testDb.drop = () => {
    openTestDatabases.delete(testDb);
    return drop();
  };
  return testDb;
}

async function createPgliteDatabase(): Promise<TestDatabase> {
  const database = await openDatabase({ kind: "pglite" });
  await migrate(database);
  return { database, url: undefined, drop: () => database.close() };
}

async function createPostgresDatabase(poolSize: number): Promise<TestDatabase> {
  const name = `baton_test_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  await adminQuery(`CREATE DATABASE ${name} TEMPLATE ${inject("templateDb")}`);
  const url = withDatabase(TEST_POSTGRES_URL, name);
  const database = await openDatabase({ kind: "postgres", url, poolSize });
  return {
    database,
    url,
    async drop() {
      await database.close();
      await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}
