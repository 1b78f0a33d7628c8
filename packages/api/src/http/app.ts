import { setMaxListeners } from "node:events";
import { BatonError, type Engine } from "@baton/engine";
import type { OpenAPIHono } from "@hono/zod-openapi";
import { requestId } from "hono/request-id";
import pino, { type Logger } from "pino";
import { BRIDGE_WORKER_ID } from "../kafka/bridge.ts";
import { browserSession, UI_PUBLIC_PATHS } from "../ui/browser-session.ts";
import { uiRoutes } from "../ui/ui-routes.ts";
import { type AuthMode, authenticate, requireAction } from "./auth.ts";
import { bodyLimit, DEFAULT_BODY_LIMIT_BYTES } from "./body-limit.ts";
import { DOCS_ASSET_PATHS, docsRoutes } from "./docs-page.ts";
import type { ApiDeps, AppEnv } from "./env.ts";
import { errorResponse, onError } from "./errors.ts";
import type { KafkaBridgeState } from "./health.ts";
import { ApiMetrics } from "./metrics.ts";
import { parseNetworks } from "./networks.ts";
import { requestLog } from "./request-log.ts";
import { DEFAULT_MAX_REQUESTS_IN_FLIGHT, requestsInFlight } from "./requests-in-flight.ts";
import { createRouter, noQuery } from "./router.ts";
import { doUndoExampleRoutes } from "./routes/compat/do-undo-examples.ts";
import { fastapiRoutes } from "./routes/compat/fastapi.ts";
import { COMPAT_HEALTH_PATHS } from "./routes/compat/health-facts.ts";
import { springRoutes } from "./routes/compat/spring.ts";
import { instanceRoutes } from "./routes/instances.ts";
import { keyRoutes } from "./routes/keys.ts";
import { operationRoutes } from "./routes/operations.ts";
import { queueRoutes } from "./routes/queues.ts";
import { reaperRoutes } from "./routes/reaper.ts";
import { registrationRoutes } from "./routes/registrations.ts";
import { taskRoutes } from "./routes/tasks.ts";
import { workerRoutes } from "./routes/workers.ts";
import { workflowRoutes } from "./routes/workflows.ts";

export interface AppOptions {
  /** Request and error logging (default: a silent logger). */
  logger?: Logger;
  /** Largest request body accepted, in bytes (default 1 MiB); larger ones answer 413. */
  bodyLimitBytes?: number;
  /** Requests worked on at once, long-polls included (default 2,000); past it 503 at once. */
  maxRequestsInFlight?: number;
  /** A step is ready while a worker polled its queue within this window (default 30 s). */
  readinessWindowMs?: number;
  /** Aborting it ends every waiting long-poll at once (used on shutdown). */
  shutdown?: AbortSignal;
  /** Who may call (default: `auto`, open until the first API key exists). */
  auth?: AuthMode;
  /** Let anyone read /metrics (a scraper on a trusted network) even when auth is on. */
  metricsPublic?: boolean;
  /** Let requests from these addresses and CIDR blocks (a scraper's network) read /metrics without a key. */
  metricsNetworks?: readonly string[];
  /** Metrics registry to count into (default: a new one per app). */
  metrics?: ApiMetrics;
  /** Where the Kafka bridge of this process stands, as /healthz reports it (default: always `off`). */
  kafkaBridge?: () => KafkaBridgeState;
  /** The HTTP-step runner, whose circuit breakers the instance view shows (default: none). */
  httpSteps?: ApiDeps["httpSteps"];
}

/**
 * The Baton HTTP API (DESIGN §7) over an engine: /v1 routes, probes, metrics, the OpenAPI
 * document at /openapi.json and interactive docs at /docs. Opens no port: serve it with
 * `@hono/node-server`, or call `app.request()` in tests.
 * @example
 * const app = createApp(await createEngine({ database: { kind: "pglite" } }));
 * const res = await app.request("/v1/workflows");
 */
export function createApp(engine: Engine, options: AppOptions = {}): OpenAPIHono<AppEnv> {
  const logger = options.logger ?? pino({ level: "silent" });
  const metrics = options.metrics ?? new ApiMetrics(engine);
  const deps = {
    engine,
    metrics,
    readinessWindowMs: options.readinessWindowMs ?? 30_000,
    relayWorkers: [BRIDGE_WORKER_ID],
    shutdown: options.shutdown ?? new AbortController().signal,
    kafkaBridge: options.kafkaBridge ?? (() => "off" as const),
    ...(options.httpSteps ? { httpSteps: options.httpSteps } : {}),
  };
  const limit = options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES;
  const maxInFlight = options.maxRequestsInFlight ?? DEFAULT_MAX_REQUESTS_IN_FLIGHT;
  // Every request in flight may listen for the shutdown (a waiting long-poll does): that many
  // listeners are expected, not a leak for Node to warn about.
  setMaxListeners(maxInFlight + 16, deps.shutdown);

  const app = createRouter();
  app.use(requestId({ headerName: "X-Request-Id" }));
  app.use(requestLog(logger, metrics));
  const probes = new Set(["/healthz", "/readyz", "/metrics", ...COMPAT_HEALTH_PATHS]);
  app.use(requestsInFlight(maxInFlight, probes, metrics));
  const publicPaths = new Set([
    "/healthz",
    "/readyz",
    ...COMPAT_HEALTH_PATHS,
    ...DOCS_ASSET_PATHS,
    ...UI_PUBLIC_PATHS,
    ...(options.metricsPublic ? ["/metrics"] : []),
  ]);
  const publicFrom = options.metricsNetworks ? new Map([["/metrics", parseNetworks(options.metricsNetworks)]]) : undefined;
  app.use(browserSession());
  app.use(authenticate(engine, { mode: options.auth ?? "auto", publicPaths, ...(publicFrom ? { publicFrom } : {}) }));
  // Served outside the OpenAPI routers, so they name their action here.
  app.use("/openapi.json", requireAction("docs.read"), noQuery);
  app.use("/docs", requireAction("docs.read"), noQuery);
  app.use("/v1/*", bodyLimit(limit));
  app.use("/api/*", bodyLimit(limit));
  app.use("/ui/*", bodyLimit(limit));
  app.onError(onError);
  app.notFound((c) =>
    errorResponse(c, new BatonError("NOT_FOUND", `No route for ${c.req.method} ${c.req.path}`, { method: c.req.method, path: c.req.path })),
  );

  app.route("/", operationRoutes(deps));
  app.route("/v1/workflows", workflowRoutes(deps));
  app.route("/v1/instances", instanceRoutes(deps));
  app.route("/v1/tasks", taskRoutes(deps));
  app.route("/v1/workers", workerRoutes(deps));
  app.route("/v1/registrations", registrationRoutes(deps));
  app.route("/v1/queues", queueRoutes(deps));
  app.route("/v1/reaper", reaperRoutes(deps));
  app.route("/v1/keys", keyRoutes(deps));
  // The replaced orchestrators' routes (docs/migrating.md), over the same coordinators.
  app.route("/api/orchestration", springRoutes(deps));
  app.route("/api/orchestrations", doUndoExampleRoutes(deps));
  app.route("/", fastapiRoutes(deps));

  // Built once, on first request: every route is registered by then, and building it walks every
  // schema. The server is relative, so the document never reflects a caller's Host header.
  let document: ReturnType<typeof app.getOpenAPI31Document> | undefined;
  app.openAPIRegistry.registerComponent("securitySchemes", "apiKey", {
    type: "http",
    scheme: "bearer",
    description: "An API key (`baton_...`), required once the server has keys (BATON_AUTH)",
  });
  app.get("/openapi.json", (c) => {
    document ??= app.getOpenAPI31Document({
      openapi: "3.1.0",
      info: {
        title: "Baton API",
        version: "1",
        description:
          "Lease-based workflow orchestration. Workers acquire tasks under leases and report with the lease's fence token; " +
          'every error answers `{"error": {"code", "message", "details"}}`.',
      },
      servers: [{ url: "/" }],
      security: [{ apiKey: [] }],
    });
    return c.json(document);
  });
  app.route("/", docsRoutes());
  app.route("/ui", uiRoutes(app, deps));
  return app;
}
