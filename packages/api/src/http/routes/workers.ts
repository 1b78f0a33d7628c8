import { BatonError, PageQuerySchema, WorkerListSchema } from "@baton/engine";
import { createRoute } from "@hono/zod-openapi";
import { requireAccess } from "../auth.ts";
import type { ApiDeps } from "../env.ts";
import { workerViews } from "../readiness.ts";
import { createRouter, errorResponses, jsonContent } from "../router.ts";

const list = createRoute({
  method: "get",
  path: "/",
  tags: ["workers"],
  summary: "Workers that polled (or registered for) queues, with when they were last seen, by id, a page at a time",
  request: { query: PageQuerySchema },
  responses: { 200: jsonContent(WorkerListSchema, "Known workers"), ...errorResponses(400) },
});

export function workerRoutes({ engine, readinessWindowMs }: ApiDeps) {
  const router = createRouter();
  router.openapi(list, async (c) => {
    requireAccess(c, "workers.read");
    const { cursor, limit = 100 } = c.req.valid("query");
    const rows = await engine.workers.listWorkers({ recentMs: readinessWindowMs, after: decodeWorkerCursor(cursor), limit: limit + 1 });
    const items = workerViews(rows);
    const page = items.slice(0, limit);
    const last = page.at(-1);
    const nextCursor = items.length > limit && last ? Buffer.from(last.id).toString("base64url") : null;
    return c.json({ items: page, nextCursor }, 200);
  });
  return router;
}

function decodeWorkerCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined;
  const id = Buffer.from(cursor, "base64url").toString("utf8");
  if (id === "" || Buffer.from(id).toString("base64url") !== cursor) {
    throw new BatonError("VALIDATION_ERROR", "cursor: not a cursor returned by a previous page", {
      fields: [{ field: "cursor", message: "unknown cursor" }],
    });
  }
  return id;
}
