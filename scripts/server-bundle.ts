import { cp, rm } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

// The production server: packages/api/src/main.ts as one bundled file with the migrations beside it.
// Loading the ~1,000 modules of the unbundled build (Kysely, zod, Hono, kafkajs, the engine) took
// ~0.5 s of the server's start-up on the 2-core machine; one file of ~3.5 MB loads in ~0.2 s.
// PGlite stays a package of its own: it finds its WASM and data files beside its own modules, so the
// directory must sit where Node resolves packages/api's dependencies (inside packages/api).

const api = new URL("../packages/api/", import.meta.url);

/**
 * Bundles the server into `dir` (relative to packages/api, e.g. "dist/") as main.js, and copies
 * db/migrations beside it, where the migration runner looks when it runs from the bundle.
 * @returns the path of main.js
 */
export async function bundleServer(dir: string): Promise<string> {
  const out = new URL(dir.endsWith("/") ? dir : `${dir}/`, api);
  const main = new URL("main.js", out);
  await build({
    entryPoints: [new URL("src/main.ts", api).pathname],
    outfile: fileURLToPath(main),
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    // Workspace packages from their TypeScript source, as the workspace runs them.
    conditions: ["@baton/source"],
    external: ["@electric-sql/pglite", "pg-native"],
    // CommonJS dependencies (pg, kafkajs, pino) call require(); an ES module has none of its own.
    banner: { js: "import { createRequire as __batonRequire } from 'node:module'; const require = __batonRequire(import.meta.url);" },
    sourcemap: true,
    legalComments: "linked",
    logLevel: "warning",
  });
  const migrations = new URL("migrations/", out);
  await rm(migrations, { recursive: true, force: true });
  await cp(new URL("../db/migrations/", import.meta.url), migrations, { recursive: true, filter: (source) => !source.endsWith("~") });
  return fileURLToPath(main);
}
