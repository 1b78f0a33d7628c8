import { allNamespaces } from "@baton/engine";
import { createRoute, z } from "@hono/zod-openapi";
import { requireAccess } from "../auth.ts";
import type { ApiDeps } from "../env.ts";
import { createRouter, errorResponses, jsonContent } from "../router.ts";

const isoTime = z.string().meta({ format: "date-time" });

const QueueLoadSchema = z
  .object({
    queue: z.string(),
    ready: z.number().int().meta({ description: "PENDING attempts a worker may take now" }),
    waiting: z.number().int().meta({ description: "PENDING attempts waiting out a retry backoff, or parked by a pause" }),
    leased: z.number().int(),
    nextLeaseExpiry: isoTime.nullable().meta({ description: "The earliest expiry among the leased attempts" }),
  })
  .meta({ id: "QueueLoad" });

const LeaseHolderSchema = z
  .object({
    holder: z.string().meta({ description: "The lease holder: `<keyId>/<workerId>` when auth is on, else the worker id" }),
    queue: z.string(),
    leased: z.number().int(),
    nextLeaseExpiry: isoTime,
  })
  .meta({ id: "LeaseHolder" });

const QueueLoadListSchema = z
  .object({
    queues: z.array(QueueLoadSchema).meta({ description: "Queues with open attempts, by name (at most 500)" }),
    holders: z
      .array(LeaseHolderSchema)
      .meta({ description: "Who holds leases, by holder then queue (at most 500); empty for non-admin keys, as lease holders are" }),
  })
  .meta({ id: "QueueLoadList" });

const list = createRoute({
  method: "get",
  path: "/",
  tags: ["workers"],
  summary: "Open attempts per queue (ready, waiting, leased, the next lease expiry) and who holds the leases",
  responses: { 200: jsonContent(QueueLoadListSchema, "Queue load"), ...errorResponses(401, 403) },
});

/** GET /v1/queues: what the console's overview and workers pages show of the work in flight. */
export function queueRoutes({ engine }: ApiDeps) {
  const router = createRouter();
  router.openapi(list, async (c) => {
    const caller = requireAccess(c, "workers.read");
    const scope = allNamespaces(caller) ? {} : { namespaces: caller.namespaces };
    const [queues, holders] = await Promise.all([
      engine.workers.queueLoad(scope),
      caller.role === "admin" ? engine.workers.leaseHolders(scope) : [],
    ]);
    return c.json(
      {
        queues: queues.map((q) => ({ ...q, nextLeaseExpiry: q.nextLeaseExpiry?.toISOString() ?? null })),
        holders: holders.map((h) => ({ ...h, nextLeaseExpiry: h.nextLeaseExpiry.toISOString() })),
      },
      200,
    );
  });
  return router;
}
