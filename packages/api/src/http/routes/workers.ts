import { WorkerListSchema, workerList } from "@baton/engine";
import { createRoute } from "@hono/zod-openapi";
import type { ApiDeps } from "../env.ts";
import { workerViews } from "../readiness.ts";
import { createRouter, jsonContent } from "../router.ts";

const list = createRoute({
  method: "get",
  path: "/",
  tags: ["workers"],
  summary: "Workers that polled (or registered for) queues, with when they were last seen",
  responses: { 200: jsonContent(WorkerListSchema, "Known workers") },
});

export function workerRoutes({ engine, readinessWindowMs }: ApiDeps) {
  const router = createRouter();
  router.openapi(list, async (c) => c.json({ items: workerViews(await workerList(engine.database.db, readinessWindowMs)) }, 200));
  return router;
}
