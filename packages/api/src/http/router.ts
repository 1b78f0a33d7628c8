import { BatonError, ErrorBodySchema, jsonTypeOf, strictQuery } from "@baton/engine";
import { OpenAPIHono, type RouteConfig, type z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { setBodyCache } from "./body-limit.ts";
import type { AppEnv } from "./env.ts";
import { validationError, validationHook } from "./errors.ts";

/**
 * A router whose validation failures become 400 VALIDATION_ERROR answers, and whose every route
 * refuses a query parameter it does not declare (none, when it declares no query), naming it: an
 * unknown parameter would otherwise be ignored without a word. Routes declare their query as a
 * plain `z.object`; the router makes it strict when the route is registered.
 */
export function createRouter(): OpenAPIHono<AppEnv> {
  const router = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const register = router.openapi as (route: RouteConfig, ...rest: unknown[]) => unknown;
  router.openapi = ((route: RouteConfig, ...rest: unknown[]) =>
    register({ ...route, request: { ...route.request, query: routeQuery(route.request?.query) } }, ...rest)) as typeof router.openapi;
  return router;
}

/** Names callers use for a query parameter a route takes: unknown name -> the parameter to use. */
const QUERY_ALIASES: Readonly<Record<string, string>> = {
  ...Object.fromEntries(["page", "offset", "skip", "after", "next", "nextCursor", "pageToken"].map((n) => [n, "cursor"])),
  ...Object.fromEntries(["pageSize", "page_size", "per_page", "perPage", "size", "count", "max"].map((n) => [n, "limit"])),
  ...Object.fromEntries(["status", "states"].map((n) => [n, "state"])),
  ...Object.fromEntries(["workflowName", "workflow_name", "orchName", "name"].map((n) => [n, "workflow"])),
  ns: "namespace",
};

/** A route's declared query (or none), strict, with hints for the aliases of the parameters it takes. */
function routeQuery(declared: unknown) {
  const shape = (declared as { shape?: z.ZodRawShape } | undefined)?.shape ?? {};
  const hints = Object.entries(QUERY_ALIASES).filter(([, to]) => Object.hasOwn(shape, to));
  return strictQuery(shape, Object.fromEntries(hints.map(([from, to]) => [from, `use \`${to}\``])));
}

/** For routes served outside the OpenAPI routers (/openapi.json, /docs): they take no query parameters. */
export const noQuery: MiddlewareHandler = async function noQuery(c, next) {
  const query = Object.fromEntries(Object.entries(c.req.queries()).map(([k, v]) => [k, v.length === 1 ? v[0] : v]));
  const parsed = NO_QUERY.safeParse(query);
  if (!parsed.success) throw validationError(parsed.error.issues, "query");
  await next();
};
const NO_QUERY = strictQuery({});

const ERROR_DESCRIPTIONS = {
  400: "Invalid request; `error.details.fields` names each field at fault",
  401: "No valid API key (when auth is on): send `Authorization: Bearer <key>`",
  403: "The key's role or scope (namespaces, queues) does not allow this",
  404: "Not found",
  409: "Conflict with the current state (e.g. STALE_FENCE, LEASE_EXPIRED, NOT_LEASED, ALREADY_COMPLETED, INVALID_STATE)",
  413: "Body larger than the limit",
  415: "Unsupported content type",
  503: "Not ready",
} as const;

/** OpenAPI `responses` entries for the error answers a route can give. */
export function errorResponses<S extends keyof typeof ERROR_DESCRIPTIONS>(...statuses: S[]) {
  return Object.fromEntries(
    statuses.map((s) => [s, { description: ERROR_DESCRIPTIONS[s], content: { "application/json": { schema: ErrorBodySchema } } }]),
  ) as unknown as { [K in S]: { description: string; content: { "application/json": { schema: typeof ErrorBodySchema } } } };
}

/** JSON content of an OpenAPI request or response. */
export function jsonContent<T>(schema: T, description: string) {
  return { description, content: { "application/json": { schema } } };
}

/**
 * For routes whose JSON body is optional: an empty body sent with a JSON content type (as
 * `curl -H 'content-type: application/json' -X POST` does) reads as `{}` instead of malformed JSON.
 */
export const optionalJsonBody: MiddlewareHandler = async function optionalJsonBody(c, next) {
  // text() keeps what it read in the request's body cache, where the validator after this
  // middleware reads it again; an empty body is replaced there by "{}".
  if (c.req.header("content-type") && (await c.req.text()).trim() === "") {
    setBodyCache(c, { text: "{}" });
  }
  await next();
};

/**
 * For routes that take no body (pause, resume, cancel): a body with fields would be ignored
 * without a word, so it is refused, each field named. An empty body or `{}` is fine.
 */
export const noJsonBody: MiddlewareHandler = async function noJsonBody(c, next) {
  const text = (await c.req.text()).trim();
  if (text !== "" && text !== "{}") {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = text;
    }
    const route = `${c.req.method} ${c.req.routePath.replace(/:(\w+)/g, "{$1}")}`;
    const keys = typeof value === "object" && value !== null && !Array.isArray(value) ? Object.keys(value) : [];
    const message = (field: string) => `unknown field \`${field}\` (${route} takes no body)`;
    const fields =
      keys.length > 0
        ? keys.map((k) => ({ field: k, message: message(k) }))
        : [{ field: "(body)", message: `${route} takes no body; got ${jsonTypeOf(value)}` }];
    throw new BatonError("VALIDATION_ERROR", `Invalid request body: ${fields.map((f) => f.message).join("; ")}`, { in: "body", fields });
  }
  await next();
};
