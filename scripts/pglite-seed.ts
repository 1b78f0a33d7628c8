import { copyFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { migrateDatabase } from "@baton/engine";

// The engine's own PGlite (the repository's root does not depend on it).
const { PGlite } = (await import(
  createRequire(new URL("../packages/engine/package.json", import.meta.url)).resolve("@electric-sql/pglite")
)) as typeof import("@electric-sql/pglite");

// `pnpm build`, after tsc and the bundle: a migrated embedded database, made once and packed with
// PGlite's dumpDataDir, beside the compiled PGlite opener and beside the bundled server. A first
// start on an empty data directory unpacks it (see PGLITE_SEED in packages/engine/src/db/pglite.ts)
// instead of running initdb and every migration: measured 1.2 s against 3.6-8 s.

const dir = await mkdtemp(join(tmpdir(), "baton-seed-"));
try {
  const dataDir = join(dir, "data");
  await migrateDatabase({ kind: "pglite", dataDir });
  const pglite = await PGlite.create(dataDir);
  const dump = await pglite.dumpDataDir("gzip");
  await pglite.close();
  const engineCopy = new URL("../packages/engine/dist/db/pglite-seed.tar.gz", import.meta.url);
  await writeFile(engineCopy, Buffer.from(await dump.arrayBuffer()));
  await copyFile(engineCopy, new URL("../packages/api/dist/pglite-seed.tar.gz", import.meta.url));
} finally {
  await rm(dir, { recursive: true, force: true });
}
