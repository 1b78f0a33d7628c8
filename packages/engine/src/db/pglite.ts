import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { PGlite } from "@electric-sql/pglite";
import { unpackSeedArchive } from "./seed-archive.ts";

/**
 * Postgres settings for the embedded database, on top of PGlite's own start parameters. Postgres in
 * WASM touches all of its shared memory at start, so `shared_buffers` (128 MB by default) is resident
 * from the first second; 16 MB holds an embedded Baton's working set (its tables are small and the
 * operating system caches the files beneath). One session runs (`--single`), so a handful of
 * connection slots is enough. Durability is PGlite's default: every statement is on disk (in the
 * operating system's cache, as with Postgres) before its answer, and `relaxedDurability` is not set.
 */
const MEMORY_SETTINGS = ["shared_buffers=16MB", "max_connections=10"];

/**
 * A migrated database that `pnpm build` made once (scripts/pglite-seed.ts), beside the compiled module
 * (and beside the bundled server), without the template databases an embedded Baton never uses. A
 * first start unpacks it instead of running initdb: well under a second instead of 4-8 s. From
 * source there is none, and initdb runs.
 */
export const PGLITE_SEED = new URL("./pglite-seed.tar.gz", import.meta.url);

/** Where PGlite keeps nothing on disk: no data directory, or an explicit in-memory one. */
function inMemory(dataDir: string | undefined): dataDir is undefined {
  return dataDir === undefined || dataDir.startsWith("memory://");
}

/**
 * Opens PGlite on `dataDir` (in memory when none is given). A data directory that has no database
 * yet gets the build's seed unpacked into it, or, from source, is made by initdb in a child
 * process: initdb runs in WASM instances of its own, and the hundreds of megabytes they take would
 * stay with this process (freed to the allocator, not to the system, also from a worker thread); a
 * process gives all of it back when it exits.
 */
export async function openPgliteInstance(dataDir: string | undefined): Promise<PGlite> {
  const { PGlite } = await import("@electric-sql/pglite");
  const startParams = [...PGlite.defaultStartParams, ...MEMORY_SETTINGS.flatMap((s) => ["-c", s])];
  if (!inMemory(dataDir) && !existsSync(join(dataDir, "PG_VERSION"))) {
    if (existsSync(PGLITE_SEED)) await unpackSeedArchive(fileURLToPath(PGLITE_SEED), dataDir);
    else await initialiseInChild(dataDir, startParams);
  }
  return PGlite.create(dataDir, { startParams });
}

// PGlite's CommonJS build, found from this module, so the child needs no loader and no condition.
const INITDB_SCRIPT = `
const [pglite, dataDir, startParams] = JSON.parse(process.argv[1]);
require(pglite).PGlite.create(dataDir, { startParams: startParams }).then((pg) => pg.close());
`;

async function initialiseInChild(dataDir: string, startParams: string[]): Promise<void> {
  const pglite = createRequire(import.meta.url).resolve("@electric-sql/pglite");
  const args = ["--input-type=commonjs", "-e", INITDB_SCRIPT, JSON.stringify([pglite, dataDir, startParams])];
  await promisify(execFile)(process.execPath, args, { env: { ...process.env, NODE_OPTIONS: "" } }).catch((error: unknown) => {
    const stderr = String((error as { stderr?: unknown }).stderr ?? "").trim();
    throw new Error(`PGlite could not create its database in ${dataDir}${stderr ? `: ${stderr}` : ""}`, { cause: error });
  });
}
