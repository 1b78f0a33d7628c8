import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { BatonError } from "@baton/contract";
import { sql } from "kysely";
import { type Database, type DatabaseConfig, openDatabase } from "./database.ts";

/**
 * The SQL migrations, the only source of Baton's schema: db/migrations at the repository root. The
 * build copies them beside the compiled module (dist/db/migrations), and beside the bundled server
 * (packages/api/dist/migrations, where this module then runs), so the build runs without the
 * repository; from source there is no such copy and the repository's own are read.
 */
export const MIGRATIONS_DIR = existsSync(new URL("./migrations/", import.meta.url))
  ? fileURLToPath(new URL("./migrations/", import.meta.url))
  : fileURLToPath(new URL("../../../../db/migrations/", import.meta.url));

// Any fixed number will do; it only has to be the same in every Baton process.
const MIGRATION_LOCK_ID = 7_311_977_001;

export interface MigrationFile {
  name: string;
  checksum: string;
  script: string;
}

export async function readMigrations(dir = MIGRATIONS_DIR): Promise<MigrationFile[]> {
  const names = (await readdir(dir)).filter((n) => /^\d{4}_[\w-]+\.sql$/.test(n)).sort();
  return Promise.all(
    names.map(async (name) => {
      const script = await readFile(`${dir}/${name}`, "utf8");
      return { name, script, checksum: createHash("sha256").update(script).digest("hex") };
    }),
  );
}

/**
 * Applies the pending SQL migrations in name order, each in its own transaction. Several processes
 * may call this at once: a transaction-level advisory lock lets one apply while the others wait and
 * then find nothing left to do. A migration file edited after it was applied is refused.
 * Returns the names applied by this call.
 */
export async function migrate(database: Database, dir = MIGRATIONS_DIR): Promise<string[]> {
  const files = await readMigrations(dir);
  await sql`CREATE TABLE IF NOT EXISTS baton_migrations (
      name text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`
    .execute(database.db)
    .catch(async (error) => {
      // Two processes creating the table at once: one loses the race on the catalog; the table is there.
      const exists = await sql`SELECT to_regclass('baton_migrations') AS t`.execute(database.db);
      if (!(exists.rows[0] as { t: unknown } | undefined)?.t) throw error;
    });

  const applied: string[] = [];
  for (const file of files) {
    const didApply = await database.db.transaction().execute(async (trx) => {
      await sql`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_ID})`.execute(trx);
      const done = await trx.selectFrom("baton_migrations").select("checksum").where("name", "=", file.name).executeTakeFirst();
      if (done) {
        if (done.checksum !== file.checksum) {
          throw new BatonError(
            "MIGRATION_CHANGED",
            `Migration ${file.name} was edited after it was applied. Put the change in a new migration file instead.`,
            { name: file.name },
          );
        }
        return false;
      }
      await database.execScript(trx, file.script);
      await trx.insertInto("baton_migrations").values({ name: file.name, checksum: file.checksum }).execute();
      return true;
    });
    if (didApply) applied.push(file.name);
  }
  return applied;
}

/**
 * Opens the database the config names, applies pending migrations (see migrate) and closes it:
 * for a deploy step that migrates before any server starts. Returns the names applied.
 * @example const applied = await migrateDatabase({ kind: "postgres", url: "postgres://localhost/baton" });
 */
export async function migrateDatabase(config: DatabaseConfig): Promise<string[]> {
  const database = await openDatabase(config);
  try {
    return await migrate(database);
  } finally {
    await database.close();
  }
}

/** Whether every migration file has been applied (for readiness checks). */
export async function migrationsPending(database: Database, dir = MIGRATIONS_DIR): Promise<string[]> {
  const files = await readMigrations(dir);
  const rows = await sql<{ name: string }>`SELECT name FROM baton_migrations`.execute(database.db).catch((error: unknown) => {
    // No migrations table yet (SQLSTATE 42P01, undefined_table): nothing is applied. Any other
    // failure (the database is down) is the caller's to see.
    if ((error as { code?: unknown } | null)?.code === "42P01") return { rows: [] as { name: string }[] };
    throw error;
  });
  const done = new Set(rows.rows.map((r) => r.name));
  return files.filter((f) => !done.has(f.name)).map((f) => f.name);
}
