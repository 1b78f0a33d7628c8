import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BatonError, type Database, MIGRATIONS_DIR, migrate, migrationsPending, openDatabase } from "@baton/engine";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { onPglite } from "../../../test-support/database.ts";
import { adminQuery, TEST_POSTGRES_URL, withDatabase } from "../../../test-support/postgres.ts";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "baton-migrations-"));
  await cp(MIGRATIONS_DIR, dir, { recursive: true });
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** A database with nothing in it: a new one on the Postgres server, or an in-memory PGlite. */
async function emptyDatabase(): Promise<{ database: Database; url: string | undefined; drop: () => Promise<void> }> {
  if (onPglite) {
    const database = await openDatabase({ kind: "pglite" });
    return { database, url: undefined, drop: () => database.close() };
  }
  const name = `baton_migrate_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  const url = withDatabase(TEST_POSTGRES_URL, name);
  const database = await openDatabase({ kind: "postgres", url, poolSize: 2 });
  return {
    database,
    url,
    drop: async () => {
      await database.close();
      await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

describe("migrations", () => {
  it("applies every file once, and refuses a migration edited after it was applied", async () => {
    const { database, drop } = await emptyDatabase();
    try {
      expect(await migrationsPending(database, dir)).toEqual(["0001_initial.sql"]);
      expect(await migrate(database, dir)).toEqual(["0001_initial.sql"]);
      expect(await migrate(database, dir)).toEqual([]);
      expect(await migrationsPending(database, dir)).toEqual([]);

      await writeFile(join(dir, "0002_extra.sql"), "CREATE TABLE extra (id int);\nCREATE INDEX extra_idx ON extra (id);\n");
      expect(await migrate(database, dir)).toEqual(["0002_extra.sql"]);
      await writeFile(join(dir, "0002_extra.sql"), "CREATE TABLE extra (id bigint);\n");
      const error = await migrate(database, dir).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BatonError);
      expect((error as BatonError).code).toBe("MIGRATION_CHANGED");
      expect((error as BatonError).message).toContain("0002_extra.sql");
    } finally {
      await drop();
      await rm(join(dir, "0002_extra.sql"), { force: true });
    }
  });

  it.skipIf(onPglite)("lets several processes migrate one empty database at once (Postgres only: PGlite is one process)", async () => {
    const empty = await emptyDatabase();
    const url = empty.url as string;
    const handles = await Promise.all(Array.from({ length: 5 }, () => openDatabase({ kind: "postgres", url, poolSize: 2 })));
    try {
      const applied = await Promise.all(handles.map((h) => migrate(h)));
      expect(applied.flat()).toEqual(["0001_initial.sql"]);
      const rows = await sql<{ n: number }>`SELECT count(*)::int AS n FROM baton_migrations`.execute(
        (handles[0] as (typeof handles)[0]).db,
      );
      expect(rows.rows[0]?.n).toBe(1);
    } finally {
      await Promise.all(handles.map((h) => h.close()));
      await empty.drop();
    }
  });
});
