import { RegistrationChangePageSchema, RegistrationListQuerySchema, ServiceRegistrationPageSchema } from "@baton/engine";
import { createRoute } from "@hono/zod-openapi";
import { listNamespace } from "../auth.ts";
import type { ApiDeps } from "../env.ts";
import { createRouter, errorResponses, jsonContent } from "../router.ts";

const list = createRoute({
  method: "get",
  path: "/",
  tags: ["workers"],
  summary: "Services' remembered `as: worker` registrations, by namespace, workflow, then service, a page at a time",
  description:
    "One entry per service and workflow: the steps it serves, how it registered (HTTP or the registration topic), when it " +
    "first and last registered, and when Baton last heard from it (a registration, a poll of one of its queues, a Kafka " +
    "reply for one of its steps). Registrations are kept until deleted from the database; they survive restarts.",
  request: { query: RegistrationListQuerySchema },
  responses: { 200: jsonContent(ServiceRegistrationPageSchema, "One page of registrations"), ...errorResponses(400, 401, 403) },
});

const changes = createRoute({
  method: "get",
  path: "/changes",
  tags: ["workers"],
  summary: "The registrations' audit trail, newest first, a page at a time",
  description:
    "Append-only: each service's first registration for a workflow and every registration that changed it (steps added, " +
    "another transport), with who registered (the API key, or `kafka:<topic>`) and when. A registration that changed " +
    "nothing only moves the registration's `lastRegisteredAt`.",
  request: { query: RegistrationListQuerySchema },
  responses: { 200: jsonContent(RegistrationChangePageSchema, "One page of changes"), ...errorResponses(400, 401, 403) },
});

/** GET /v1/registrations and its audit trail; a key of one namespace sees that namespace's only. */
export function registrationRoutes({ engine }: ApiDeps) {
  const router = createRouter();
  router.openapi(list, async (c) => {
    const { namespace: named, ...query } = c.req.valid("query");
    const namespace = listNamespace(c, "workers.read", named);
    return c.json(await engine.registrations.page({ ...query, ...(namespace ? { namespace } : {}) }), 200);
  });
  router.openapi(changes, async (c) => {
    const { namespace: named, ...query } = c.req.valid("query");
    const namespace = listNamespace(c, "workers.read", named);
    return c.json(await engine.registrations.history({ ...query, ...(namespace ? { namespace } : {}) }), 200);
  });
  return router;
}
