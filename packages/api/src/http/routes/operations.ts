import { BatonError, type Database, migrationsPending } from "@baton/engine";
import { createRoute, z } from "@hono/zod-openapi";
import { requireAccess } from "../auth.ts";
import type { ApiDeps } from "../env.ts";
import { createRouter, errorResponses, jsonContent } from "../router.ts";

const StatusSchema = z.object({ status: z.literal("ok") });

const healthz = createRoute({
  method: "get",
  path: "/healthz",
  tags: ["operations"],
  summary: "Liveness: the process is up and its database session is sound",
  description:
    "503 when the database session is broken: it answers a query wrongly, or the embedded database fails. Only a " +
    "restart helps then. A Postgres server that cannot be reached leaves the process alive (see /readyz).",
  responses: { 200: jsonContent(StatusSchema, "Up"), ...errorResponses(503) },
});

const readyz = createRoute({
  method: "get",
  path: "/readyz",
  tags: ["operations"],
  summary: "Readiness: the database answers and every migration is applied",
  responses: { 200: jsonContent(StatusSchema, "Ready"), ...errorResponses(503) },
});

const metricsRoute = createRoute({
  method: "get",
  path: "/metrics",
  tags: ["operations"],
  summary: "Prometheus metrics (text exposition format)",
  responses: { 200: { description: "Metrics", content: { "text/plain": { schema: z.string() } } } },
});

/** Probes and metrics, at the root (not under /v1). */
export function operationRoutes({ engine, metrics }: ApiDeps) {
  const router = createRouter();

  router.openapi(healthz, async (c) => {
    const probe = await probeDatabase(engine.database);
    if (probe?.broken) throw probe.error;
    return c.json({ status: "ok" as const }, 200);
  });

  router.openapi(readyz, async (c) => {
    const probe = await probeDatabase(engine.database);
    if (probe) throw probe.error;
    const pending = await migrationsPending(engine.database);
    if (pending.length > 0) throw new BatonError("UNAVAILABLE", "Migrations are pending", { pending });
    return c.json({ status: "ok" as const }, 200);
  });

  router.openapi(metricsRoute, async (c) => {
    requireAccess(c, "metrics.read");
    const { contentType, body } = await metrics.render();
    return c.text(body, 200, { "content-type": contentType });
  });

  return router;
}

/**
 * Asks the database `SELECT 1`: null when it answers 1, else why not. The answer is `broken` when
 * only a restart can help: a session that answers wrongly (a PGlite session a malformed statement
 * left out of step answers every query with no rows) or an embedded database that fails. Both
 * probes read this one check, so they cannot disagree about a broken session.
 */
export async function probeDatabase(database: Database): Promise<{ broken: boolean; error: BatonError } | null> {
  let rows: { one: number }[];
  try {
    rows = await database.db.selectNoFrom((eb) => eb.lit(1).as("one")).execute();
  } catch (error) {
    const reason = (error as Error).message;
    const broken = database.kind === "pglite";
    return { broken, error: new BatonError("UNAVAILABLE", "The database does not answer", { reason, broken }) };
  }
  if (rows.length === 1 && Number(rows[0]?.one) === 1) return null;
  return {
    broken: true,
    error: new BatonError("UNAVAILABLE", "The database session is broken: SELECT 1 answered wrongly; restart the process", {
      broken: true,
      rows: rows.length,
    }),
  };
}
