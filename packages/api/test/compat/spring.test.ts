import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseStart } from "../../src/kafka/index.ts";
import { type Harness, startHarness } from "../http-harness.ts";
import { workOver } from "./http-worker.ts";

/*
 * The Spring orchestrator's routes, driven with the exact requests of
 * reference/orchestrator-service-spring.md over a real port, and answered in its shapes.
 */

// "1. Register Orchestration (Initiator)", the curl's headers and body as written there.
const INITIATOR_JSON = `{
    "orchName": "tenantCreation",
    "as": "initiator",
    "type": "sequential",
    "steps": [
      {"seq": 1, "name": "createRealm", "objectType": "String"},
      {"seq": 2, "name": "createClient", "objectType": "String"}
    ]
  }`;
// The same registration as the YAML of "Kafka Event (YAML)".
const INITIATOR_YAML = `orchName: tenantCreation
as: initiator
type: sequential
steps:
  - seq: 1
    name: createRealm
    objectType: String
  - seq: 2
    name: createClient
    objectType: String
`;
// "2. Register Worker".
const WORKER_JSON = `{
    "orchName": "tenantCreation",
    "as": "worker",
    "steps": [
      {"name": "createRealm", "objectType": "String"}
    ]
  }`;
// "3. Execute Orchestration": the body is sent as application/octet-stream.
const EXECUTE_BODY = '{"tenantId": "test-tenant", "realmName": "test-realm"}';

const QUEUES = ["tenantCreation.createRealm", "tenantCreation.createClient"];
const UNDO_QUEUES = QUEUES.map((q) => `${q}.undo`);

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

/** A raw request over the port (any body, any content type); the answer's JSON body. */
async function send(method: string, path: string, body?: string | Uint8Array, headers: Record<string, string> = {}) {
  const res = await fetch(`${h.url}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function execute(body: string | Uint8Array) {
  return send("POST", "/api/orchestration/execute/tenantCreation", body, { "Content-Type": "application/octet-stream" });
}

describe("Spring orchestrator routes", () => {
  it("registers the initiator from its JSON (X-Service-Name) and again from its YAML", async () => {
    const json = await send("POST", "/api/orchestration/register", INITIATOR_JSON, {
      "Content-Type": "application/json",
      "X-Service-Name": "tenant-service",
    });
    expect(json).toEqual({
      status: 200,
      body: expect.objectContaining({ status: "SUCCESS", message: "Registration initiated for orchestration: tenantCreation" }),
    });
    const yaml = await send("POST", "/api/orchestration/register", INITIATOR_YAML, { "Content-Type": "application/yaml" });
    expect(yaml.status).toBe(200);
    expect(yaml.body).toMatchObject({ status: "SUCCESS", name: "tenantCreation", version: 1, created: false });
    // What it meant there: every step over Kafka, with an UNDO, in seq order.
    const workflow = await h.call("GET", "/v1/workflows/tenantCreation");
    const steps = workflow.body.steps as { name: string; transport: string; undo: unknown; dependsOn: string[] }[];
    expect(steps.map((s) => `${s.name}:${s.transport}:${s.undo ? "undo" : "-"}:${s.dependsOn}`)).toEqual([
      "createRealm:kafka:undo:",
      "createClient:kafka:undo:createRealm",
    ]);
  });

  it("registers a worker named by X-Service-Name for its steps", async () => {
    const res = await send("POST", "/api/orchestration/register", WORKER_JSON, {
      "Content-Type": "application/json",
      "X-Service-Name": "realm-service",
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      status: "SUCCESS",
      message: "Registration initiated for orchestration: tenantCreation",
      workerId: "realm-service",
      queues: ["tenantCreation.createRealm", "tenantCreation.createRealm.undo"],
    });
    const registrations = await h.call("GET", "/v1/registrations?service=realm-service");
    expect(registrations.body.items).toEqual([
      expect.objectContaining({
        workflow: "tenantCreation",
        steps: ["createRealm"],
        queues: ["tenantCreation.createRealm", "tenantCreation.createRealm.undo"],
        transport: "http",
      }),
    ]);
    const step = (await h.call("GET", "/v1/workflows/tenantCreation")).body.steps[0];
    expect(step).toMatchObject({ name: "createRealm", serving: "registered", services: [{ service: "realm-service" }] });
  });

  it("executes with the payload as the run's input, and undoes the finished run in reverse order", async () => {
    const started = await execute(EXECUTE_BODY);
    expect(started.status).toBe(200);
    expect(started.body).toEqual({ status: "SUCCESS", flowId: expect.any(String), message: "Orchestration execution started" });
    const { flowId } = started.body;
    expect((await h.call("GET", `/v1/instances/${flowId}`)).body.input).toEqual({ tenantId: "test-tenant", realmName: "test-realm" });

    expect(await workOver(h, QUEUES, (t) => ({ created: t.taskId }))).toEqual(["DO createRealm", "DO createClient"]);
    expect((await h.call("GET", `/v1/instances/${flowId}`)).body.state).toBe("COMPLETED");

    // "5. Manual Undo": no body, no headers.
    const undo = await send("POST", `/api/orchestration/undo/${flowId}`);
    expect(undo).toEqual({
      status: 200,
      body: { status: "SUCCESS", flowId, state: "COMPENSATING", message: `Undo initiated for flowId: ${flowId}` },
    });
    expect(await workOver(h, UNDO_QUEUES, (t) => ({ deleted: t.taskId }))).toEqual(["UNDO createClient", "UNDO createRealm"]);
    const view = (await h.call("GET", `/v1/instances/${flowId}`)).body;
    expect(view.state).toBe("COMPENSATED");
    const asked = view.events.find((e: { eventType: string }) => e.eventType === "COMPENSATION_STARTED");
    expect(asked.payload).toMatchObject({ fromState: "COMPLETED", requestedBy: { keyId: null, name: "anyone (auth off)" } });

    // Undone already: refused in the old words, with Baton's error beside them.
    const again = await send("POST", `/api/orchestration/undo/${flowId}`);
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({
      status: "ERROR",
      message: `Cannot undo flow ${flowId}: it is UNDONE (Baton state COMPENSATED)`,
      error: { code: "INVALID_STATE", details: { legacyStatus: "UNDONE" } },
    });
  });

  it("keeps a binary payload as base64, as the Kafka start does", async () => {
    const bytes = new Uint8Array([0xff, 0x00, 0x01, 0xfe]);
    const started = await execute(bytes);
    expect(started.status).toBe(200);
    expect((await h.call("GET", `/v1/instances/${started.body.flowId}`)).body.input).toEqual({ payload: "/wAB/g==" });
    // The Kafka start of the reference ("payload": base64 of JSON) and a binary one read the same way.
    const kafka = parseStart(Buffer.from('{"orchName": "tenantCreation", "payload": "eyJ0ZW5hbnRJZCI6ICJ0ZXN0In0="}'));
    expect(kafka.input).toEqual({ tenantId: "test" });
    expect(parseStart(Buffer.from(JSON.stringify({ orchName: "t", payload: "/wAB/g==" }))).input).toEqual({ payload: "/wAB/g==" });
    // No body at all: an empty input.
    const empty = await execute(new Uint8Array());
    expect((await h.call("GET", `/v1/instances/${empty.body.flowId}`)).body.input).toEqual({});
  });

  it("answers health as UP with the database and version", async () => {
    const res = await send("GET", "/api/orchestration/health");
    // What /healthz reports may stand beside the old `status`.
    expect(res).toMatchObject({
      status: 200,
      body: { status: "UP", database: expect.stringMatching(/^(postgres|pglite)$/), version: expect.any(String) },
    });
  });

  it("refuses bad requests with a 4xx in the old shape that names the fault", async () => {
    const unknown = await send("POST", "/api/orchestration/execute/noSuchFlow", "{}", { "Content-Type": "application/json" });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ status: "ERROR", message: expect.stringContaining("noSuchFlow"), error: { code: "NOT_FOUND" } });
    const badId = await send("POST", "/api/orchestration/undo/not-a-uuid");
    expect(badId.status).toBe(400);
    expect(badId.body).toMatchObject({ status: "ERROR", error: { code: "VALIDATION_ERROR", details: { fields: [{ field: "flowId" }] } } });
    const missing = await send("POST", `/api/orchestration/undo/${crypto.randomUUID()}`);
    expect(missing).toMatchObject({ status: 404, body: { status: "ERROR", error: { code: "NOT_FOUND" } } });
    const media = await send("POST", "/api/orchestration/register", "<xml/>", { "Content-Type": "application/xml" });
    expect(media).toMatchObject({ status: 415, body: { status: "ERROR", error: { code: "UNSUPPORTED_MEDIA_TYPE" } } });
    const noName = await send("POST", "/api/orchestration/register", WORKER_JSON, { "Content-Type": "application/json" });
    expect(noName).toMatchObject({ status: 400, body: { status: "ERROR", error: { details: { fields: [{ field: "service" }] } } } });
    const tooBig = await execute(new Uint8Array(2 * 1024 * 1024));
    expect(tooBig).toMatchObject({ status: 413, body: { error: { code: "PAYLOAD_TOO_LARGE" } } });
  });
});

describe("Spring orchestrator routes with API keys", () => {
  it("need a key like the /v1 routes, except health; the undo records which key asked", async () => {
    const admin = await h.call("POST", "/v1/keys", { name: "admin", role: "admin" });
    const operator = await h.call("POST", "/v1/keys", { name: "ops", role: "operator" }, { authorization: `Bearer ${admin.body.token}` });
    const starter = await h.call("POST", "/v1/keys", { name: "starter", role: "starter" }, { authorization: `Bearer ${admin.body.token}` });
    const as = (token: string) => ({ authorization: `Bearer ${token}` });

    expect((await execute(EXECUTE_BODY)).status).toBe(401);
    expect((await send("GET", "/api/orchestration/health")).status).toBe(200);
    const started = await send("POST", "/api/orchestration/execute/tenantCreation", EXECUTE_BODY, as(starter.body.token));
    expect(started.status).toBe(200);
    const { flowId } = started.body;
    const refused = await send("POST", `/api/orchestration/undo/${flowId}`, undefined, as(starter.body.token));
    expect(refused).toMatchObject({ status: 403, body: { status: "ERROR", error: { code: "FORBIDDEN" } } });
    const undone = await send("POST", `/api/orchestration/undo/${flowId}`, undefined, as(operator.body.token));
    expect(undone.status).toBe(200);
    const view = (await h.call("GET", `/v1/instances/${flowId}`, undefined, as(admin.body.token))).body;
    const asked = view.events.find((e: { eventType: string }) => e.eventType === "COMPENSATION_STARTED");
    expect(asked.payload.requestedBy).toEqual({ keyId: operator.body.key.keyId, name: "ops", role: "operator" });
  });
});
