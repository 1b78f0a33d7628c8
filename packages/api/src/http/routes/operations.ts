import { BatonError } from "@baton/engine";
import { createRoute, z } from "@hono/zod-openapi";
import { requireAccess } from "../auth.ts";
import type { ApiDeps } from "../env.ts";
import { HealthFactsSchema, healthFacts } from "../health.ts";
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
  responses: {
    200: jsonContent(
      StatusSchema.extend(HealthFactsSchema.shape),
      "Up: which database, whether the Kafka bridge is connected, the version",
    ),
    ...errorResponses(503),
  },
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
export function operationRoutes(deps: ApiDeps) {
  const { engine, metrics } = deps;
  const router = createRouter();

  router.openapi(healthz, async (c) => c.json({ status: "ok" as const, ...(await healthFacts(deps)) }, 200));

  router.openapi(readyz, async (c) => {
    const probe = await engine.probeDatabase();
    if (probe) throw probe.error;
    const pending = await engine.migrationsPending();
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
