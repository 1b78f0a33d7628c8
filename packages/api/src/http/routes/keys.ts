import { API_KEY_HINTS, ROLES, strictFields } from "@baton/engine";
import { createRoute, z } from "@hono/zod-openapi";
import { requireAccess } from "../auth.ts";
import type { ApiDeps } from "../env.ts";
import { createRouter, errorResponses, jsonContent } from "../router.ts";

const NAMESPACE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
// Queue patterns: a queue name in which '*' stands for any run of characters.
const QUEUE_PATTERN = /^[A-Za-z0-9_.*-]{1,128}$/;

const ApiKeySchema = z
  .object({
    keyId: z.string(),
    name: z.string(),
    role: z.enum(ROLES),
    namespaces: z.array(z.string()),
    queues: z.array(z.string()),
    createdAt: z.string(),
    revokedAt: z.string().nullable(),
  })
  .meta({ id: "ApiKey" });

const CreateKeySchema = strictFields(
  {
    name: z.string().min(1).max(200).meta({ description: "Who the key is for", example: "billing-workers" }),
    role: z.enum(ROLES).meta({
      description:
        "admin: everything, every namespace, key management; operator: read, start, register and operate runs in its " +
        "namespaces; starter: start and read runs in its namespaces; worker: acquire and report tasks of its queues",
    }),
    namespaces: z
      .array(z.string().regex(NAMESPACE, "a namespace name, or '*' for all").or(z.literal("*")))
      .min(1)
      .max(100)
      .optional()
      .meta({ description: 'Namespaces the key acts in (default ["default"]; ignored for admin keys, which have all)' }),
    queues: z
      .array(z.string().regex(QUEUE_PATTERN, "a queue name; '*' matches any run of characters"))
      .min(1)
      .max(100)
      .optional()
      .meta({ description: 'Worker keys: queue patterns the key may work (default ["*"]: every queue of its namespaces)' }),
  },
  API_KEY_HINTS,
).meta({ id: "CreateApiKey" });

const KeyParams = z.object({
  keyId: z
    .string()
    .regex(/^[0-9a-f]{16}$/, "a key id: 16 hex digits")
    .meta({ param: { name: "keyId", in: "path" } }),
});

const create = createRoute({
  method: "post",
  path: "/",
  tags: ["keys"],
  summary: "Create an API key (admin); the token is in this answer only",
  request: { body: { required: true, content: { "application/json": { schema: CreateKeySchema } } } },
  responses: {
    201: jsonContent(z.object({ key: ApiKeySchema, token: z.string() }), "The key and its token (shown once)"),
    ...errorResponses(400, 401, 403),
  },
});

const list = createRoute({
  method: "get",
  path: "/",
  tags: ["keys"],
  summary: "List API keys (admin), revoked ones included; never their tokens",
  responses: { 200: jsonContent(z.object({ items: z.array(ApiKeySchema) }), "Every key"), ...errorResponses(401, 403) },
});

const revoke = createRoute({
  method: "delete",
  path: "/{keyId}",
  tags: ["keys"],
  summary: "Revoke an API key (admin); other servers stop honouring it within 10 s",
  request: { params: KeyParams },
  responses: { 200: jsonContent(ApiKeySchema, "The revoked key"), ...errorResponses(400, 401, 403, 404) },
});

/** API keys: created, listed and revoked by admins. */
export function keyRoutes({ engine }: ApiDeps) {
  const router = createRouter();

  router.openapi(create, async (c) => {
    requireAccess(c, "keys.manage");
    const body = c.req.valid("json");
    const created = await engine.access.createKey({ ...body, namespaces: body.namespaces ?? ["default"] });
    return c.json(created, 201);
  });

  router.openapi(list, async (c) => {
    requireAccess(c, "keys.manage");
    return c.json({ items: await engine.access.listKeys() }, 200);
  });

  router.openapi(revoke, async (c) => {
    requireAccess(c, "keys.manage");
    return c.json(await engine.access.revokeKey(c.req.valid("param").keyId), 200);
  });

  return router;
}
