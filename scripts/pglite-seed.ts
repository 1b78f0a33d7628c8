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
// instead of running initdb and every migration.

const dir = await mkdtemp(join(tmpdir(), "baton-seed-"));
try {
  const dataDir = join(dir, "data");
  await migrateDatabase({ kind: "pglite", dataDir });
  const pglite = await PGlite.create(dataDir);
  // An embedded Baton never creates a database, so the two templates initdb made go: 596 of the
  // directory's 1,033 files, and creating a file is most of a first start's unpacking. One
  // statement per query: DROP DATABASE refuses to run inside exec's implicit transaction.
  for (const template of ["template0", "template1"]) {
    await pglite.query(`ALTER DATABASE ${template} WITH is_template false`);
    await pglite.query(`DROP DATABASE ${template}`);
  }
  await pglite.query("CHECKPOINT");
  const dump = await pglite.dumpDataDir("gzip");
  await pglite.close();
  const engineCopy = new URL("../packages/engine/dist/db/pglite-seed.tar.gz", import.meta.url);
  await writeFile(engineCopy, Buffer.from(await dump.arrayBuffer()));
  await copyFile(engineCopy, new URL("../packages/api/dist/pglite-seed.tar.gz", import.meta.url));
} finally {
  await rm(dir, { recursive: true, force: true });
}
