import { cp, rm } from "node:fs/promises";
import { build } from "esbuild";

// `pnpm build`, after tsc: the server entry, packages/api/dist/main.js, replaced by one bundled
// file. Loading the ~1,000 modules of the unbundled build (Kysely, zod, Hono, kafkajs, the engine)
// took ~0.5 s of the server's start-up on the 2-core machine; one file of ~3.5 MB loads in ~0.2 s.
// PGlite stays a package of its own: it finds its WASM and data files beside its own modules.
// The rest of dist/ (the CLI, the library entries) stays as tsc made it.

const api = new URL("../packages/api/", import.meta.url);

await build({
  entryPoints: [new URL("src/main.ts", api).pathname],
  outfile: new URL("dist/main.js", api).pathname,
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

// The migration runner reads db/migrations beside the module that runs it: in the bundle, beside dist/main.js.
const migrations = new URL("dist/migrations/", api);
await rm(migrations, { recursive: true, force: true });
await cp(new URL("../db/migrations/", import.meta.url), migrations, { recursive: true, filter: (source) => !source.endsWith("~") });
