import { BatonError } from "@baton/engine";
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "./env.ts";
import { errorResponse } from "./errors.ts";
import type { ApiMetrics } from "./metrics.ts";

/** Requests the server works on at once unless configured (`BATON_MAX_REQUESTS_IN_FLIGHT`). */
export const DEFAULT_MAX_REQUESTS_IN_FLIGHT = 2000;

/**
 * Bounds the requests this server works on at once, long-polls included. Past `max`, a request is
 * answered at once with 503 UNAVAILABLE and `Retry-After: 1` instead of joining the queue: callers
 * that do not bound themselves (the SDK opens at most 64 connections; a bare `fetch` loop opens as
 * many as it likes) must not grow the server's memory without bound. Paths in `exempt` (the probes)
 * answer regardless, so an orchestrator does not restart a server for being busy.
 */
export function requestsInFlight(max: number, exempt: ReadonlySet<string>, metrics: ApiMetrics): MiddlewareHandler<AppEnv> {
  let inFlight = 0;
  return async function requestsInFlight(c, next) {
    if (exempt.has(c.req.path)) return next();
    if (inFlight >= max) {
      metrics.requestsShed.inc();
      c.header("Retry-After", "1");
      return errorResponse(
        c,
        new BatonError("UNAVAILABLE", "The server is at its limit of requests in flight; try again shortly", { limit: max }),
      );
    }
    metrics.requestsInFlight.set(++inFlight);
    try {
      await next();
    } finally {
      metrics.requestsInFlight.set(--inFlight);
    }
  };
}
