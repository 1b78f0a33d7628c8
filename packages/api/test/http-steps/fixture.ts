import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { ApiMetrics, createApp, HostPolicy, type HttpStepRunner, type HttpStepRunnerOptions, startHttpStepRunner } from "@baton/api";
import { createTestEngine, type TestEngine } from "../../../../test-support/engine.ts";

/** A request as a loopback service saw it. */
export interface SeenRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: unknown;
}

export interface LoopbackService {
  url: string;
  port: number;
  requests: SeenRequest[];
  /** Requests being answered right now, and the most there were at once. */
  inFlight: number;
  maxInFlight: number;
  close(): Promise<void>;
}

/**
 * A real HTTP service on 127.0.0.1 (an ephemeral port). `answer` gets each request (body read and
 * parsed as JSON) and its 0-based number, and writes the response.
 */
export async function startService(
  answer: (req: SeenRequest, res: ServerResponse, n: number) => void | Promise<void>,
): Promise<LoopbackService> {
  const requests: SeenRequest[] = [];
  const service = { requests, inFlight: 0, maxInFlight: 0 } as LoopbackService;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const seen = { method: req.method ?? "", path: req.url ?? "", headers: req.headers, body: text ? JSON.parse(text) : undefined };
      requests.push(seen);
      service.inFlight++;
      service.maxInFlight = Math.max(service.maxInFlight, service.inFlight);
      res.on("close", () => service.inFlight--);
      Promise.resolve(answer(seen, res, requests.length - 1)).catch((error: unknown) => {
        res.statusCode = 599;
        res.end(String(error));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  service.port = (server.address() as AddressInfo).port;
  service.url = `http://127.0.0.1:${service.port}`;
  service.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return service;
}

/** Answers JSON with a status. */
export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

// biome-ignore lint/suspicious/noExplicitAny: tests read whatever the API answered
export type Body = any;

export interface HttpStepsFixture {
  engine: TestEngine;
  runner: HttpStepRunner;
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: Body; text: string }>;
  /** Registers a workflow (its steps on their own queues), has the runner serve it, starts one run; answers the instance id. */
  run(definition: Record<string, unknown>, input?: Record<string, unknown>): Promise<string>;
  /** The instance view once the run has ended. */
  ended(instanceId: string, timeoutMs?: number): Promise<Body>;
  close(): Promise<void>;
}

const TERMINAL = new Set(["COMPLETED", "FAILED", "CANCELLED", "COMPENSATED", "COMPENSATION_FAILED"]);

/** An engine on a fresh test database, an HTTP-step runner over it, and the API (through `app.request`). */
export async function startHttpSteps(
  options: Partial<Omit<HttpStepRunnerOptions, "policy">> & { hosts?: string } = {},
): Promise<HttpStepsFixture> {
  const engine = await createTestEngine();
  const metrics = new ApiMetrics(engine);
  const { hosts, ...runnerOptions } = options;
  const runner = await startHttpStepRunner(engine, {
    policy: HostPolicy.parse(hosts ?? "127.0.0.1"),
    metrics: metrics.registry,
    refreshMs: 60_000,
    ...runnerOptions,
  });
  const app = createApp(engine, { metrics, httpSteps: runner });
  const api: HttpStepsFixture["api"] = async (method, path, body) => {
    const res = await app.request(path, {
      method,
      ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, text, body: res.headers.get("content-type")?.includes("json") ? JSON.parse(text) : text };
  };
  return {
    engine,
    runner,
    api,
    async run(definition, input = {}) {
      const registered = await api("POST", "/v1/workflows", definition);
      if (registered.status >= 300) throw new Error(`register failed: ${registered.text}`);
      await runner.refresh();
      const started = await api("POST", `/v1/workflows/${definition.name}/runs`, { input });
      if (started.status !== 201) throw new Error(`start failed: ${started.text}`);
      return started.body.instanceId as string;
    },
    async ended(instanceId, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const view = await api("GET", `/v1/instances/${instanceId}`);
        if (TERMINAL.has(view.body.state)) return view.body;
        if (Date.now() > deadline) throw new Error(`instance ${instanceId} still ${view.body.state}: ${view.text}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async close() {
      await runner.stop();
      await engine.destroy();
    },
  };
}

/** A workflow name no other test uses (so its queues are its own). */
export const uniqueName = (prefix: string) => `${prefix}-${crypto.randomUUID().slice(0, 8)}`;

/** Polls until `check` returns something other than undefined or false. */
export async function eventually<T>(check: () => T | Promise<T>, what: string, timeoutMs = 15_000): Promise<Exclude<T, undefined | false>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value as Exclude<T, undefined | false>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
