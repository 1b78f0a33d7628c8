import type { MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import type { Logger } from "pino";
import type { AppEnv } from "./env.ts";
import type { ApiMetrics } from "./metrics.ts";

/**
 * Binds a child logger with the request id to the context, then logs one line per request
 * (method, route pattern, status, duration; never payloads) and times it for /metrics.
 */
export function requestLog(logger: Logger, metrics: ApiMetrics): MiddlewareHandler<AppEnv> {
  return async function requestLog(c, next) {
    const started = performance.now();
    const log = logger.child({ reqId: c.var.requestId });
    c.set("logger", log);
    await next();
    const seconds = (performance.now() - started) / 1000;
    const route = routePattern(c);
    metrics.httpDuration.observe({ method: c.req.method, route, status: String(c.res.status) }, seconds);
    const line = { method: c.req.method, path: c.req.path, route, status: c.res.status, ms: Math.round(seconds * 1000) };
    // Probes and scrapes come every few seconds; they only show at debug level.
    if (route === "/healthz" || route === "/readyz" || route === "/metrics") log.debug(line, "request");
    else log.info(line, "request");
  };
}

/**
 * The route pattern that answered (`/v1/instances/:id`), never the raw path, so metrics have one
 * series per route; "unmatched" when no route did.
 */
function routePattern(c: Parameters<MiddlewareHandler>[0]): string {
  const routes = matchedRoutes(c);
  const answered = routes[c.req.routeIndex];
  if (!answered || answered.path === "/*" || answered.path === "*") return "unmatched";
  return answered.path;
}
