import { cp, rm } from "node:fs/promises";

// `pnpm build`, after tsc: db/migrations (the only source of the schema) copied beside the compiled
// migration runner, packages/engine/dist/db/migrations, which is where the built engine reads them.
// Replaced whole, so a migration file removed from the repository leaves the build too.
const from = new URL("../db/migrations/", import.meta.url);
const to = new URL("../packages/engine/dist/db/migrations/", import.meta.url);

await rm(to, { recursive: true, force: true });
await cp(from, to, { recursive: true, filter: (source) => !source.endsWith("~") });
