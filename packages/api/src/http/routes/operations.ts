import { BatonError, migrationsPending } from "@baton/engine";
import { createRoute, z } from "@hono/zod-openapi";
import type { ApiDeps } from "../env.ts";
import { createRouter, errorResponses, jsonContent } from "../router.ts";

const StatusSchema = z.object({ status: z.literal("ok") });

const healthz = createRoute({
  method: "get",
  path: "/healthz",
  tags: ["operations"],
  summary: "Liveness: the process is up",
  responses: { 200: jsonContent(StatusSchema, "Up") },
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

  router.openapi(healthz, (c) => c.json({ status: "ok" as const }, 200));

  router.openapi(readyz, async (c) => {
    try {
      await engine.database.db.selectNoFrom((eb) => eb.lit(1).as("one")).execute();
    } catch (error) {
      throw new BatonError("UNAVAILABLE", "The database does not answer", { reason: (error as Error).message });
    }
    const pending = await migrationsPending(engine.database);
    if (pending.length > 0) throw new BatonError("UNAVAILABLE", "Migrations are pending", { pending });
    return c.json({ status: "ok" as const }, 200);
  });

  router.openapi(metricsRoute, async (c) => {
    const { contentType, body } = await metrics.render();
    return c.text(body, 200, { "content-type": contentType });
  });

  return router;
}
