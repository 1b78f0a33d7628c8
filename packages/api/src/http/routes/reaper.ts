import { INSTANCE_STATES, PageQuerySchema } from "@baton/engine";
import { createRoute, z } from "@hono/zod-openapi";
import { listNamespace } from "../auth.ts";
import type { ApiDeps } from "../env.ts";
import { REPLICA_ID } from "../replica.ts";
import { createRouter, errorResponses, jsonContent } from "../router.ts";

const PoisonedInstanceSchema = z
  .object({
    instanceId: z.string(),
    namespace: z.string(),
    workflowName: z.string(),
    state: z.enum(INSTANCE_STATES),
    reason: z.string().meta({ description: "Why reaping it failed (the last error; secrets redacted, at most 500 characters)" }),
    firstFailedAt: z.string().meta({ description: "The first of the passes in a row that failed on it" }),
    lastFailedAt: z.string(),
    failedPasses: z.number().int().meta({ description: "How many passes in a row failed on it" }),
  })
  .meta({ id: "PoisonedInstance" });

const PoisonedPageSchema = z
  .object({
    items: z.array(PoisonedInstanceSchema),
    nextCursor: z.string().nullable().meta({ description: "Pass back as `cursor` for the next page; null on the last page" }),
    replica: z.string().meta({
      description: "The process that answered (host:pid): the list is its reaper's, as the `replica` label of the gauge is",
    }),
  })
  .meta({ id: "PoisonedInstancePage" });

const poisoned = createRoute({
  method: "get",
  path: "/poisoned",
  tags: ["operations"],
  summary: "Instances whose expired leases this process's lease reaper could not time out (poisoned rows), by id",
  description:
    "The reaper skips such an instance for the pass, reaps every other, and tries it again on the next pass; this lists " +
    "those its latest passes failed on, with the error (also counted in the `baton_poisoned_instances` gauge). Each " +
    "process answers for its own reaper (kept in memory, not shared) and says which it is (`replica`): with several " +
    "replicas, ask each, or watch the gauge, labelled the same. A caller " +
    "scoped to namespaces sees its namespace's instances (name one with `namespace` when it has several).",
  request: {
    query: PageQuerySchema.extend({
      namespace: z.string().min(1).max(128).optional().meta({ description: "Only this namespace's instances" }),
    }),
  },
  responses: { 200: jsonContent(PoisonedPageSchema, "One page of poisoned instances"), ...errorResponses(400) },
});

/** What the background lease reaper could not do, for operators. */
export function reaperRoutes({ engine }: ApiDeps) {
  const router = createRouter();
  router.openapi(poisoned, async (c) => {
    const { namespace: named, ...page } = c.req.valid("query");
    const namespace = listNamespace(c, "runs.read", named);
    const marked = await engine.tasks.poisonedInstances({ ...page, ...(namespace ? { namespace } : {}) });
    return c.json({ ...marked, replica: REPLICA_ID }, 200);
  });
  return router;
}
