import { ConfigError, loadConfig, startServer } from "@baton/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestEngine, type TestEngine } from "../../../../test-support/engine.ts";
import { type Body, json, type LoopbackService, startService, uniqueName } from "./fixture.ts";

// The HTTP-step runner as `pnpm start` runs it: configured from the environment, started with
// the server, fed by definitions registered over HTTP (YAML here), stopped with the server.

const services: LoopbackService[] = [];
let engine: TestEngine;
beforeAll(async () => {
  engine = await createTestEngine();
});
afterAll(async () => {
  await Promise.all(services.map((s) => s.close()));
  await engine.destroy();
});

describe("HTTP steps in the server", () => {
  it("run from a YAML definition with a secret from the environment, and stop with the server", async () => {
    const svc = await startService((req, res) => json(res, 200, { token: req.headers["x-shop-token"], sku: (req.body as Body)?.sku }));
    services.push(svc);
    const config = loadConfig({
      PORT: "0",
      HOST: "127.0.0.1",
      LOG_LEVEL: "silent",
      BATON_HTTP_STEP_HOSTS: `127.0.0.1:${svc.port}`,
      BATON_SECRET_SHOP_TOKEN: "tok-123",
    });
    const server = await startServer(config, { engine });
    try {
      const call = async (method: string, path: string, body?: string, type = "application/json") => {
        const res = await fetch(`${server.url}${path}`, { method, ...(body ? { body, headers: { "content-type": type } } : {}) });
        return { status: res.status, body: (await res.json()) as Body };
      };
      const name = uniqueName("shop");
      const yaml = [
        `name: ${name}`,
        "steps:",
        "  - name: reserve",
        "    transport: http",
        `    url: ${svc.url}/stock/{input.sku}/reserve`,
        "    method: PUT",
        "    headers:",
        "      X-Shop-Token: '{env.BATON_SECRET_SHOP_TOKEN}'",
        "    timeoutMs: 2000",
        "",
      ].join("\n");
      expect((await call("POST", "/v1/workflows", yaml, "application/yaml")).status).toBe(201);
      const started = await call("POST", `/v1/workflows/${name}/runs`, JSON.stringify({ input: { sku: "sku-7" }, waitMs: 20_000 }));
      expect(started.body).toMatchObject({ state: "COMPLETED", output: { reserve: { token: "tok-123", sku: "sku-7" } } });
      expect(svc.requests.map((r) => [r.method, r.path])).toEqual([["PUT", "/stock/sku-7/reserve"]]);

      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      expect(metrics).toContain(`baton_http_step_calls_total{host="127.0.0.1:${svc.port}",outcome="success"} 1`);
      expect(metrics).toContain(`baton_http_step_circuit_state{host="127.0.0.1:${svc.port}"} 0`);
      const workers = await call("GET", "/v1/workers");
      expect(
        workers.body.items.some(
          (w: { id: string; queues: string[] }) => w.id.startsWith("baton-http-steps-") && w.queues.includes(`${name}.reserve`),
        ),
      ).toBe(true);

      const definition = await call("GET", `/v1/workflows/${name}`);
      expect(definition.body.steps[0]).toMatchObject({
        transport: "http",
        ready: true,
        http: { do: { method: "PUT", headerNames: ["X-Shop-Token"] } },
      });
    } finally {
      const closing = Date.now();
      await server.close();
      expect(Date.now() - closing).toBeLessThan(10_000);
    }
  });

  it("refuses a definition whose HTTP step could reach elsewhere than it names, naming the field", async () => {
    const server = await startServer(loadConfig({ PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "silent" }), { engine });
    try {
      const res = await fetch(`${server.url}/v1/workflows`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          name: uniqueName("bad"),
          steps: [{ name: "a", transport: "http", url: "http://{input.host}/x" }],
        }),
      });
      expect(res.status).toBe(400);
      const body = (await res.json()) as Body;
      expect(body.error.code).toBe("INVALID_DEFINITION");
      expect(body.error.details.fields).toEqual([
        {
          field: "steps.0.url",
          message: "a placeholder may not stand in the scheme, host or port: only the path and query take values from the input",
        },
      ]);
    } finally {
      await server.close();
    }
  });
});

describe("HTTP-step settings", () => {
  it("are read from the environment, and a bad one is named without echoing secrets", () => {
    const config = loadConfig({ BATON_HTTP_STEP_HOSTS: "a.example, *.b.example:8443", BATON_SECRET_X: "hidden", OTHER_SECRET: "not read" });
    expect(config.httpStepHosts.entries).toEqual(["a.example", "*.b.example:8443"]);
    expect(config.httpStepSecrets).toEqual({ BATON_SECRET_X: "hidden" });
    expect(config.httpBreaker).toEqual({ failureThreshold: 5, coolDownMs: 30_000 });
    expect(loadConfig({}).httpStepHosts.entries).toEqual([]);
    let refused: unknown;
    try {
      loadConfig({ BATON_HTTP_STEP_HOSTS: "https://a.example/x", BATON_HTTP_BREAKER_FAILURES: "0", BATON_SECRET_X: "hidden" });
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(ConfigError);
    const message = (refused as Error).message;
    expect(message).toContain("BATON_HTTP_STEP_HOSTS");
    expect(message).toContain("is not a host: write the host alone");
    expect(message).toContain("BATON_HTTP_BREAKER_FAILURES");
    expect(message).not.toContain("hidden");
  });
});
