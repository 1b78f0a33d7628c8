import { z } from "@hono/zod-openapi";
import apiPackage from "../../../../package.json" with { type: "json" };
import type { ApiDeps } from "../../env.ts";
import { probeDatabase } from "../operations.ts";

/** The old services' health checks: probes, readable without a key like /healthz. */
export const COMPAT_HEALTH_PATHS = ["/api/orchestration/health", "/health"] as const;

export const HealthFactsSchema = z.object({
  database: z.enum(["postgres", "pglite"]).meta({ description: "The database Baton runs on" }),
  version: z.string().meta({ description: "Baton's version" }),
});
export type HealthFacts = z.infer<typeof HealthFactsSchema>;

/**
 * What the compatibility health routes report beside their old `status`: the database and the
 * version. The database is probed as /healthz probes it, and a broken session answers 503 the same way.
 */
export async function healthFacts({ engine }: Pick<ApiDeps, "engine">): Promise<HealthFacts> {
  const probe = await probeDatabase(engine.database);
  if (probe?.broken) throw probe.error;
  return { database: engine.database.kind, version: apiPackage.version };
}
