import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type AppOptions, createApp } from "@baton/api";
import type { EngineOptions } from "@baton/engine";
import { serve } from "@hono/node-server";
import { createTestEngine, type TestEngine } from "../../../test-support/engine.ts";

/** An engine on a fresh test database, the API over it, and the API served on an ephemeral port. */
export interface Harness {
  engine: TestEngine;
  app: ReturnType<typeof createApp>;
  url: string;
  shutdown: AbortController;
  /** JSON request over the real port; answers status and parsed body. */
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Answer>;
  close(): Promise<void>;
}

export interface Answer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: tests read whatever the API answered
  body: any;
  headers: Headers;
}

export async function startHarness(
  options: {
    poolSize?: number;
    pollIntervalMs?: number;
    reapIntervalMs?: number;
    /** Where the engine logs (default: pino at info on stdout). */
    logger?: EngineOptions["logger"];
    app?: Omit<AppOptions, "shutdown">;
  } = {},
): Promise<Harness> {
  const engine = await createTestEngine(options);
  const shutdown = new AbortController();
  const app = createApp(engine, { ...options.app, shutdown: shutdown.signal });
  const server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(s as Server));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    engine,
    app,
    url,
    shutdown,
    async call(method, path, body, headers = {}) {
      const res = await fetch(`${url}${path}`, {
        method,
        headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
        body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
      });
      const text = await res.text();
      return {
        status: res.status,
        body: text && res.headers.get("content-type")?.includes("json") ? JSON.parse(text) : text,
        headers: res.headers,
      };
    },
    async close() {
      shutdown.abort();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await engine.destroy();
    },
  };
}

/** A one-step workflow with its own queue, so tests never see each other's tasks. */
export function uniqueWorkflow(prefix = "wf") {
  const name = `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
  return { name, queue: `q.${name}` };
}

/** Registers a one-step workflow (its own queue) and starts one run of it. */
export async function startOneRun(h: Harness, options: { steps?: unknown[]; input?: Record<string, unknown> } = {}) {
  const { name, queue } = uniqueWorkflow();
  const steps = options.steps ?? [{ name: "work", queue, retry: { maxAttempts: 2, backoffMs: 0 } }];
  const registered = await h.call("POST", "/v1/workflows", { name, steps });
  if (registered.status !== 201) throw new Error(`register failed: ${JSON.stringify(registered.body)}`);
  const started = await h.call("POST", `/v1/workflows/${name}/runs`, { input: options.input ?? { n: 1 } });
  if (started.status !== 201) throw new Error(`start failed: ${JSON.stringify(started.body)}`);
  return { name, queue, instanceId: started.body.instanceId as string };
}

/** Acquires one task of `queue` over HTTP, failing the test when there is none. */
export async function acquireOne(h: Harness, queue: string, workerId = "w1") {
  const res = await h.call("POST", "/v1/tasks/acquire", { workerId, queues: [queue] });
  const [task] = res.body.tasks ?? [];
  if (res.status !== 200 || !task) throw new Error(`expected a task on ${queue}: ${res.status} ${JSON.stringify(res.body)}`);
  return task as {
    executionId: string;
    instanceId: string;
    fenceToken: number;
    leaseExpiresAt: string;
    queue: string;
    taskId: string;
    attempt: number;
  };
}
