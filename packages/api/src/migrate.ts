import { migrateDatabase } from "@baton/engine";
import { ConfigError, loadConfig } from "./config.ts";
import { createLogger } from "./logger.ts";
import { databaseConfigOf } from "./server.ts";

// `pnpm migrate`: applies pending migrations to DATABASE_URL (or the PGlite data dir) and exits.
try {
  const config = loadConfig();
  const logger = createLogger(config);
  const applied = await migrateDatabase(await databaseConfigOf(config));
  logger.info({ applied }, applied.length ? `applied ${applied.length} migration(s)` : "nothing to apply");
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
}
