import { ErrorBodySchema } from "@baton/engine";
import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "./env.ts";
import { validationHook } from "./errors.ts";

/** A router whose validation failures become 400 VALIDATION_ERROR answers. */
export function createRouter(): OpenAPIHono<AppEnv> {
  return new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
}

const ERROR_DESCRIPTIONS = {
  400: "Invalid request; `error.details.fields` names each field at fault",
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
