import { mkdir } from "node:fs/promises";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createEngine, type DatabaseConfig, type Engine } from "@baton/engine";
import { serve } from "@hono/node-server";
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Logger } from "pino";
import type { Config } from "./config.ts";
import { type AppOptions, createApp } from "./http/app.ts";
import type { AppEnv } from "./http/env.ts";
import { ApiMetrics } from "./http/metrics.ts";
import { startHttpStepRunner } from "./http-steps/index.ts";
import { createLogger } from "./logger.ts";

export interface StartOptions {
  /** Serve this engine instead of opening one from the config; it is left open on close. */
  engine?: Engine;
  logger?: Logger;
  /** Passed to createApp (body limit and logger come from the config unless given here). */
  app?: Omit<AppOptions, "shutdown">;
}

export interface RunningServer {
  /** Where the API answers, e.g. http://localhost:8080 (the real port when the config asked for 0). */
  url: string;
  port: number;
  engine: Engine;
  app: OpenAPIHono<AppEnv>;
  /**
   * Ends waiting long-polls, stops accepting requests, waits for the ones in flight, stops the
   * HTTP-step runner (calls in flight get 10 s), closes the engine.
   */
  close(): Promise<void>;
}

/**
 * Where the engine keeps its data: Postgres when DATABASE_URL is set, else PGlite in the data dir
 * (created when missing).
 */
export async function databaseConfigOf(config: Pick<Config, "databaseUrl" | "dataDir">): Promise<DatabaseConfig> {
  if (config.databaseUrl) return { kind: "postgres", url: config.databaseUrl };
  await mkdir(config.dataDir, { recursive: true });
  return { kind: "pglite", dataDir: config.dataDir };
}

/** Opens the engine the config describes: its database (migrations applied), reaper and housekeeping. */
export async function openEngine(config: Config, logger: Logger): Promise<Engine> {
  const retentionMs = config.retentionDays === undefined ? 0 : Math.round(config.retentionDays * 86_400_000);
  return createEngine({ database: await databaseConfigOf(config), logger, retentionMs });
}

/**
 * Makes the access settings true before the port opens: BATON_ADMIN_KEY exists; a server reachable
 * from elsewhere (or told BATON_AUTH=on) has at least one key, generating an admin key and
 * printing it once to stderr (never to the log) when there is none; an open server says so.
 */
export async function prepareAuth(engine: Engine, config: Config, logger: Logger): Promise<void> {
  if (config.adminKey) await engine.access.ensureKey(config.adminKey, { name: "BATON_ADMIN_KEY", role: "admin", namespaces: ["*"] });
  const loopback = isLoopback(config.host);
  if (config.auth === "off") {
    if (!loopback)
      logger.warn({ host: config.host }, "BATON_AUTH=off on a non-loopback address: anyone who can reach this port may do anything");
    else logger.info("BATON_AUTH=off: every caller may do anything (loopback only)");
    return;
  }
  if ((await engine.access.activeKeyCount()) > 0) return;
  if (loopback && config.auth === "auto") {
    logger.info(
      { host: config.host },
      "auth is off until the first API key exists (POST /v1/keys); listening on loopback only. " +
        "Set HOST to listen elsewhere: a first admin key is then generated and printed once.",
    );
    return;
  }
  const { key, token } = await engine.access.createKey({ name: "first admin key (generated)", role: "admin", namespaces: ["*"] });
  process.stderr.write(
    `\nBaton generated its first admin API key (id ${key.keyId}). It is shown this once; store it now:\n\n  ${token}\n\n` +
      "Send it as `Authorization: Bearer <key>`; create scoped keys with POST /v1/keys.\n\n",
  );
  logger.warn({ keyId: key.keyId }, "generated the first admin API key and printed it to stderr once");
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * Opens the engine (migrations applied) and serves the HTTP API on `config.host:config.port`.
 * @example
 * const server = await startServer(loadConfig({ PORT: "0" }));
 * await fetch(`${server.url}/healthz`);
 * await server.close();
 */
export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  const logger = options.logger ?? createLogger(config);
  const ownsEngine = options.engine === undefined;
  const engine = options.engine ?? (await openEngine(config, logger));
  try {
    await prepareAuth(engine, config, logger);
  } catch (error) {
    if (ownsEngine) await engine.close();
    throw error;
  }
  const shutdown = new AbortController();
  const metrics = options.app?.metrics ?? new ApiMetrics(engine);
  // Always started: it runs no worker while no definition has an HTTP step, and looks again every few seconds.
  const httpSteps = await startHttpStepRunner(engine, {
    policy: config.httpStepHosts,
    breaker: config.httpBreaker,
    secrets: config.httpStepSecrets,
    logger: logger.child({ component: "http-steps" }),
    metrics: metrics.registry,
  });
  const app = createApp(engine, {
    logger,
    bodyLimitBytes: config.bodyLimitBytes,
    maxRequestsInFlight: config.maxRequestsInFlight,
    auth: config.auth,
    metricsPublic: config.metricsPublic,
    ...(config.metricsNetworks ? { metricsNetworks: config.metricsNetworks } : {}),
    httpSteps,
    ...options.app,
    metrics,
    shutdown: shutdown.signal,
  });

  let server: Server;
  try {
    server = await new Promise<Server>((resolve, reject) => {
      // serve() creates a plain node:http server unless told otherwise.
      const s = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, () => resolve(s as Server));
      s.once("error", reject);
    });
  } catch (error) {
    await httpSteps.stop();
    if (ownsEngine) await engine.close();
    throw error;
  }
  const port = (server.address() as AddressInfo).port;
  const host =
    config.host === "0.0.0.0" || config.host === "::" ? "localhost" : config.host.includes(":") ? `[${config.host}]` : config.host;

  let closing: Promise<void> | undefined;
  const running = engine;
  return {
    url: `http://${host}:${port}`,
    port,
    engine,
    app,
    close() {
      closing ??= (async () => {
        shutdown.abort();
        const stoppingHttpSteps = httpSteps.stop();
        await new Promise<void>((resolve) => {
          // Requests in flight get a few seconds to finish; then their connections are cut.
          const force = setTimeout(() => server.closeAllConnections(), 5000);
          // A keep-alive connection whose request ends now (a long-poll just answered) would
          // otherwise stay open until the client's keep-alive timeout.
          const idle = setInterval(() => server.closeIdleConnections(), 50);
          server.close(() => {
            clearTimeout(force);
            clearInterval(idle);
            resolve();
          });
          server.closeIdleConnections();
        });
        await stoppingHttpSteps;
        if (ownsEngine) await running.close();
      })();
      return closing;
    },
  };
}
