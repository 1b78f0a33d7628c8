import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp, HostPolicy, loadConfig, startServer } from "@baton/api";
import { MAX_ACQUIRE } from "@baton/engine";
import { directDb } from "@baton/engine/internal";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createTestDatabase, onPglite } from "../../../test-support/database.ts";
import { createTestEngine } from "../../../test-support/engine.ts";
import { acquireOne, type Harness, startHarness, startOneRun } from "./http-harness.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

/** The value of one sample line of the Prometheus text, or undefined. */
function sample(text: string, name: string, labels = ""): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

describe("probes", () => {
  it("/healthz answers while the process is up; /readyz while the database answers and is migrated", async () => {
    expect(await h.call("GET", "/healthz")).toMatchObject({ status: 200, body: { status: "ok" } });
    expect(await h.call("GET", "/readyz")).toMatchObject({ status: 200, body: { status: "ok" } });
  });

  it("/readyz is 503 UNAVAILABLE with a pending migration, and when the database is gone", async () => {
    const engine = await createTestEngine();
    const app = createApp(engine);
    await directDb(engine.database)
      .deleteFrom("baton_migrations" as never)
      .execute();
    const pending = await app.request("/readyz");
    expect(pending.status).toBe(503);
    expect(await pending.json()).toMatchObject({ error: { code: "UNAVAILABLE", details: { pending: expect.any(Array) } } });
    await engine.destroy();
    const gone = await app.request("/readyz");
    expect(gone.status).toBe(503);
    expect(await gone.json()).toMatchObject({ error: { code: "UNAVAILABLE" } });
  });
});

describe("/metrics", () => {
  it("counts tasks per queue, lease expiries, instances by state, and request latency by route pattern", async () => {
    const { queue, instanceId } = await startOneRun(h);
    const task = await acquireOne(h, queue);
    await h.call("POST", `/v1/tasks/${task.executionId}/fail`, { workerId: "w1", fenceToken: task.fenceToken });
    const retry = await acquireOne(h, queue);
    await h.engine.expireLease(retry.executionId);
    await h.engine.tasks.reapExpiredLeases();
    await h.call("GET", `/v1/instances/${instanceId}`);
    const other = await startOneRun(h);
    const done = await acquireOne(h, other.queue);
    await h.call("POST", `/v1/tasks/${done.executionId}/complete`, { workerId: "w1", fenceToken: done.fenceToken });

    const res = await fetch(`${h.url}/metrics`);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(sample(text, "baton_tasks_acquired_total", `{queue="${queue}"}`)).toBe(2);
    expect(sample(text, "baton_tasks_failed_total", `{queue="${queue}"}`)).toBe(1);
    expect(sample(text, "baton_tasks_completed_total", `{queue="${other.queue}"}`)).toBe(1);
    expect(sample(text, "baton_lease_expiries_total")).toBeGreaterThanOrEqual(1);
    expect(sample(text, "baton_instances", '{state="COMPLETED"}')).toBeGreaterThanOrEqual(1);
    expect(sample(text, "baton_acquire_wait_seconds_count", '{outcome="tasks"}')).toBeGreaterThanOrEqual(3);
    expect(text).toContain('route="/v1/instances/:id"');
    expect(text).not.toContain(instanceId);
  });
});

describe("errors and limits", () => {
  it("answers an unknown route with 404 NOT_FOUND in the error shape", async () => {
    const res = await h.call("GET", "/v2/nothing");
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: { code: "NOT_FOUND", message: expect.any(String), details: expect.any(Object) } });
  });

  it("refuses a body over the limit with 413 PAYLOAD_TOO_LARGE", async () => {
    const big = JSON.stringify({ workerId: "w1", queues: ["q"], pad: "x".repeat(1024 * 1024) });
    const res = await h.call("POST", "/v1/tasks/acquire", big);
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe("PAYLOAD_TOO_LARGE");

    const small = createApp(h.engine, { bodyLimitBytes: 100 });
    const yaml = `name: x\nsteps:\n${"  - name: s\n".repeat(20)}`;
    const limited = await small.request("/v1/workflows", { method: "POST", body: yaml, headers: { "content-type": "application/yaml" } });
    expect(limited.status).toBe(413);
  });

  it("echoes the caller's X-Request-Id, or makes one", async () => {
    const mine = await h.call("GET", "/healthz", undefined, { "x-request-id": "trace-123" });
    expect(mine.headers.get("x-request-id")).toBe("trace-123");
    const made = await h.call("GET", "/healthz");
    expect(made.headers.get("x-request-id")).toMatch(/^[\w-]{8,}$/);
  });
});

describe("documentation", () => {
  it("serves an OpenAPI 3.1 document generated from the wire schemas, and the docs page", async () => {
    const doc = await h.call("GET", "/openapi.json");
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toBe("3.1.0");
    expect(Object.keys(doc.body.paths)).toEqual(
      expect.arrayContaining([
        "/v1/workflows",
        "/v1/workflows/{name}/runs",
        "/v1/tasks/acquire",
        "/v1/tasks/{executionId}/complete",
        "/metrics",
      ]),
    );
    const schemas = doc.body.components.schemas;
    expect(schemas.AcquiredTask.properties.fenceToken.type).toBe("integer");
    expect(schemas.AcquireRequest.properties.max).toMatchObject({ minimum: 1, maximum: MAX_ACQUIRE, default: 1 });
    expect(schemas.WorkflowDefinition.properties.steps.type).toBe("array");
    expect(schemas.Error.properties.error).toBeDefined();
    const complete = doc.body.paths["/v1/tasks/{executionId}/complete"].post;
    expect(Object.keys(complete.responses)).toEqual(expect.arrayContaining(["200", "400", "404", "409"]));

    const docs = await fetch(`${h.url}/docs`);
    expect(docs.status).toBe(200);
    expect(docs.headers.get("content-type")).toMatch(/text\/html/);
    expect(await docs.text()).toContain("/openapi.json");
  });
});

describe("config", () => {
  it("has the documented defaults", () => {
    expect(loadConfig({})).toEqual({
      port: 8080,
      host: "127.0.0.1",
      databaseUrl: undefined,
      dataDir: "./.baton/data",
      kafkaBrokers: [],
      kafkaUnfencedReplies: "match",
      kafkaMaxRedeliveries: 5,
      kafkaNamespaces: new Map([["default", "orchestrator"]]),
      kafkaSessionTimeoutMs: 30_000,
      kafkaMaxMessageBytes: 1_000_000,
      kafkaSasl: undefined,
      kafkaSsl: false,
      logLevel: "info",
      bodyLimitBytes: 1024 * 1024,
      maxRequestsInFlight: 2000,
      auth: "auto",
      adminKey: undefined,
      metricsPublic: false,
      retentionDays: undefined,
      httpStepHosts: HostPolicy.parse(""),
      httpBreaker: { failureThreshold: 5, coolDownMs: 30_000 },
      httpStepSecrets: {},
    });
    expect(loadConfig({ KAFKA_BROKERS: "a:9092, b:9093", KAFKA_UNFENCED_REPLIES: "Refuse", LOG_LEVEL: "DEBUG", PORT: "0" })).toMatchObject({
      kafkaBrokers: ["a:9092", "b:9093"],
      kafkaUnfencedReplies: "refuse",
      logLevel: "debug",
      port: 0,
    });
  });

  it("refuses bad values with a message naming the variable", () => {
    expect(() => loadConfig({ PORT: "eighty" })).toThrow(/PORT="eighty"/);
    expect(() => loadConfig({ DATABASE_URL: "mysql://x" })).toThrow(/DATABASE_URL/);
    expect(() => loadConfig({ KAFKA_BROKERS: "nohost" })).toThrow(/KAFKA_BROKERS/);
    expect(() => loadConfig({ LOG_LEVEL: "loud" })).toThrow(/LOG_LEVEL/);
    expect(() => loadConfig({ RETENTION_DAYS: "0" })).toThrow(/RETENTION_DAYS="0"/);
    expect(loadConfig({ RETENTION_DAYS: "0.5" }).retentionDays).toBe(0.5);
    expect(() => loadConfig({ KAFKA_MAX_REDELIVERIES: "0" })).toThrow(/KAFKA_MAX_REDELIVERIES="0"/);
    expect(() => loadConfig({ KAFKA_SESSION_TIMEOUT_MS: "500" })).toThrow(/KAFKA_SESSION_TIMEOUT_MS="500"/);
    expect(loadConfig({ KAFKA_SESSION_TIMEOUT_MS: "6000" }).kafkaSessionTimeoutMs).toBe(6000);
  });

  it("reads the Kafka namespaces and their topic prefixes; default is always served, under orchestrator", () => {
    expect([...loadConfig({}).kafkaNamespaces]).toEqual([["default", "orchestrator"]]);
    expect([...loadConfig({ KAFKA_NAMESPACES: " acme , beta=beta.orch " }).kafkaNamespaces]).toEqual([
      ["default", "orchestrator"],
      ["acme", "orchestrator.acme"],
      ["beta", "beta.orch"],
    ]);
    expect(() => loadConfig({ KAFKA_NAMESPACES: "acme=a=b" })).toThrow(/KAFKA_NAMESPACES.*'acme=a=b' is not a namespace/s);
    expect(() => loadConfig({ KAFKA_NAMESPACES: "acme=topic with spaces" })).toThrow(/may use only letters/);
    expect(() => loadConfig({ KAFKA_NAMESPACES: "../x" })).toThrow(/'..\/x' is not a namespace/);
  });

  it("reads Kafka SASL and TLS settings, all three SASL variables or none, and never echoes the password", () => {
    const sasl = { KAFKA_SASL_MECHANISM: "SCRAM-SHA-512", KAFKA_SASL_USERNAME: "baton", KAFKA_SASL_PASSWORD: "hunter2" };
    expect(loadConfig({ ...sasl, KAFKA_SSL: "true", KAFKA_MAX_REDELIVERIES: "3" })).toMatchObject({
      kafkaSasl: { mechanism: "scram-sha-512", username: "baton", password: "hunter2" },
      kafkaSsl: true,
      kafkaMaxRedeliveries: 3,
    });
    const refused = (env: Record<string, string>) => {
      try {
        loadConfig(env);
      } catch (error) {
        return (error as Error).message;
      }
      throw new Error("expected a ConfigError");
    };
    const missing = refused({ KAFKA_SASL_PASSWORD: "hunter2" });
    expect(missing).toMatch(/KAFKA_SASL_MECHANISM=.*must be set with the other KAFKA_SASL_\* variables/);
    expect(missing).toMatch(/KAFKA_SASL_USERNAME=/);
    const badMechanism = refused({ ...sasl, KAFKA_SASL_MECHANISM: "gssapi", KAFKA_SSL: "maybe" });
    expect(badMechanism).toMatch(/KAFKA_SASL_MECHANISM="gssapi"/);
    expect(badMechanism).toMatch(/KAFKA_SSL="maybe"/);
    expect(`${missing}${badMechanism}`).not.toContain("hunter2");
    expect(() => loadConfig({ KAFKA_UNFENCED_REPLIES: "sometimes" })).toThrow(/KAFKA_UNFENCED_REPLIES="sometimes"/);
    expect(() => loadConfig({ BODY_LIMIT_BYTES: "-1" })).toThrow(/BODY_LIMIT_BYTES/);
    expect(() => loadConfig({ BATON_MAX_REQUESTS_IN_FLIGHT: "0" })).toThrow(/BATON_MAX_REQUESTS_IN_FLIGHT/);
  });
});

describe("startServer", () => {
  it("opens the engine from the config, serves the API, and on close ends waiting long-polls at once", async () => {
    const testDb = onPglite ? undefined : await createTestDatabase();
    const dataDir = onPglite ? await mkdtemp(join(tmpdir(), "baton-api-")) : undefined;
    try {
      const env = testDb?.url ? { DATABASE_URL: testDb.url } : { BATON_DATA_DIR: dataDir };
      const server = await startServer(loadConfig({ PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "silent", ...env }));
      expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
      const waiting = fetch(`${server.url}/v1/tasks/acquire`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ workerId: "w1", queues: ["nothing"], waitMs: 30_000 }),
      });
      await vi.waitFor(() => expect(server.engine.dispatcher.waiting).toBe(1), { timeout: 5000, interval: 10 });
      const closing = Date.now();
      await server.close();
      const answer = await waiting;
      expect(answer.status).toBe(200);
      expect(await answer.json()).toEqual({ tasks: [] });
      expect(Date.now() - closing).toBeLessThan(20_000);
    } finally {
      if (testDb) {
        await sql`SELECT 1`.execute(directDb(testDb.database)).catch(() => {});
        await testDb.drop();
      }
      if (dataDir) await rm(dataDir, { recursive: true, force: true });
    }
  });
});
