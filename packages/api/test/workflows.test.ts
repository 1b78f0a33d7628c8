import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness, uniqueWorkflow } from "./http-harness.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

describe("POST /v1/workflows", () => {
  it("stores a new definition (201), answers an identical one with 200 and a changed one with a new version", async () => {
    const { name, queue } = uniqueWorkflow();
    const definition = { name, steps: [{ name: "charge", queue }] };
    const first = await h.call("POST", "/v1/workflows", definition);
    expect(first.status).toBe(201);
    expect(first.body).toEqual({ namespace: "default", name, version: 1, created: true });
    const again = await h.call("POST", "/v1/workflows", definition);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ version: 1, created: false });
    const changed = await h.call("POST", "/v1/workflows", { ...definition, steps: [{ name: "charge", queue, leaseMs: 5000 }] });
    expect(changed.status).toBe(201);
    expect(changed.body).toMatchObject({ version: 2, created: true });
  });

  it("accepts YAML as application/yaml and as text/yaml", async () => {
    const { name } = uniqueWorkflow();
    const yaml = `name: ${name}\ntype: dag\nsteps:\n  - name: a\n    undo: true\n  - name: b\n    dependsOn: [a]\n`;
    const res = await h.call("POST", "/v1/workflows", yaml, { "content-type": "application/yaml" });
    expect(res.status).toBe(201);
    const same = await h.call("POST", "/v1/workflows", yaml, { "content-type": "text/yaml; charset=utf-8" });
    expect(same.status).toBe(200);
    const shown = await h.call("GET", `/v1/workflows/${name}`);
    expect(shown.body.type).toBe("dag");
    expect(shown.body.steps.map((s: { name: string; dependsOn: string[] }) => [s.name, s.dependsOn])).toEqual([
      ["a", []],
      ["b", ["a"]],
    ]);
    expect(shown.body.steps[0].undo).toMatchObject({ queue: `${name}.a.undo` });
  });

  it("accepts the legacy orchName/as/type/steps format: as: initiator registers Kafka steps with an UNDO, in seq order", async () => {
    const { name } = uniqueWorkflow("legacy");
    const yaml = [
      `orchName: ${name}`,
      "as: initiator",
      "type: sequential",
      "steps:",
      "  - seq: 2",
      "    name: createClient",
      "    objectType: client",
      "  - seq: 1",
      "    name: createRealm",
      "    objectType: realm",
    ].join("\n");
    const res = await h.call("POST", "/v1/workflows", yaml, { "content-type": "application/yaml" });
    expect(res.status).toBe(201);
    const shown = await h.call("GET", `/v1/workflows/${name}`);
    expect(shown.body.steps.map((s: { name: string }) => s.name)).toEqual(["createRealm", "createClient"]);
    for (const step of shown.body.steps) {
      expect(step.transport).toBe("kafka");
      expect(step.retry.maxAttempts).toBe(3);
      expect(step.undo).not.toBeNull();
    }
  });

  it("remembers a legacy as: worker registration as the service of those steps' DO and UNDO queues", async () => {
    const { name } = uniqueWorkflow("legacy");
    await h.call("POST", "/v1/workflows", { orchName: name, as: "initiator", steps: [{ name: "createRealm" }, { name: "createClient" }] });
    const fromField = await h.call("POST", "/v1/workflows", {
      orchName: name,
      as: "worker",
      service: "realm-service",
      steps: [{ name: "createRealm" }],
    });
    expect(fromField.status).toBe(200);
    expect(fromField.body).toEqual({
      workerId: "realm-service",
      queues: [`${name}.createRealm`, `${name}.createRealm.undo`],
      steps: ["createRealm"],
      change: "created",
    });
    const yaml = `orchName: ${name}\nas: worker\nsteps:\n  - name: createClient\n`;
    const fromHeader = await h.call("POST", "/v1/workflows", yaml, {
      "content-type": "application/yaml",
      "x-service-name": "client-service",
    });
    expect(fromHeader.status).toBe(200);
    expect(fromHeader.body.workerId).toBe("client-service");

    const shown = await h.call("GET", `/v1/workflows/${name}`);
    expect(shown.body.ready).toBe(true);
    type Served = { serving: string; workers: string[]; services: { service: string }[] };
    const served = (s: Served) => [s.serving, s.workers, s.services.map((x) => x.service)];
    expect(shown.body.steps.map((s: Served & { undo: Served }) => [served(s), served(s.undo)])).toEqual([
      [
        ["registered", [], ["realm-service"]],
        ["registered", [], ["realm-service"]],
      ],
      [
        ["registered", [], ["client-service"]],
        ["registered", [], ["client-service"]],
      ],
    ]);
    const registrations = await h.call("GET", `/v1/registrations?workflow=${name}`);
    expect(registrations.body.items).toEqual([
      expect.objectContaining({ service: "client-service", steps: ["createClient"], transport: "http" }),
      expect.objectContaining({ service: "realm-service", queues: [`${name}.createRealm`, `${name}.createRealm.undo`] }),
    ]);
  });

  it("refuses a legacy worker registration without a service name, naming the field", async () => {
    const res = await h.call("POST", "/v1/workflows", { orchName: "x", as: "worker", steps: [{ name: "a" }] });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("VALIDATION_ERROR");
    expect(res.body.error.details.fields[0].field).toBe("service");
  });

  it("rejects an invalid definition with 400 naming the field", async () => {
    const res = await h.call("POST", "/v1/workflows", { name: "bad", steps: [{ name: "a", leaseMs: "soon" }] });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("INVALID_DEFINITION");
    expect(res.body.error.details.fields).toContainEqual(expect.objectContaining({ field: "steps.0.leaseMs" }));
    const empty = await h.call("POST", "/v1/workflows", { name: "bad", steps: [] });
    expect(empty.body.error.details.fields[0].field).toBe("steps");
  });

  it("answers malformed JSON and YAML with 400, an unknown content type with 415, never 500", async () => {
    const json = await h.call("POST", "/v1/workflows", '{"name": ', { "content-type": "application/json" });
    expect(json.status).toBe(400);
    expect(json.body.error.code).toBe("VALIDATION_ERROR");
    expect(json.body.error.message).toMatch(/Malformed JSON/);
    const yaml = await h.call("POST", "/v1/workflows", "name: [unclosed", { "content-type": "application/yaml" });
    expect(yaml.status).toBe(400);
    expect(yaml.body.error.message).toMatch(/Malformed YAML/);
    const text = await h.call("POST", "/v1/workflows", "name: x", { "content-type": "text/plain" });
    expect(text.status).toBe(415);
    expect(text.body.error.code).toBe("UNSUPPORTED_MEDIA_TYPE");
    const scalar = await h.call("POST", "/v1/workflows", "42", { "content-type": "application/json" });
    expect(scalar.status).toBe(400);
  });
});

describe("GET /v1/workflows", () => {
  it("lists the latest version of each definition, filtered by namespace", async () => {
    const { name, queue } = uniqueWorkflow();
    await h.call("POST", "/v1/workflows", { name, namespace: "listing", steps: [{ name: "a", queue }] });
    await h.call("POST", "/v1/workflows", { name, namespace: "listing", steps: [{ name: "a", queue, leaseMs: 1000 }] });
    const res = await h.call("GET", "/v1/workflows?namespace=listing");
    expect(res.status).toBe(200);
    expect(res.body.items).toEqual([expect.objectContaining({ namespace: "listing", name, version: 2, ready: false })]);
  });

  it("shows a step as ready once a worker polled its queue, with the worker ids", async () => {
    const { name, queue } = uniqueWorkflow();
    await h.call("POST", "/v1/workflows", { name, steps: [{ name: "a", queue, undo: true }] });
    const before = await h.call("GET", `/v1/workflows/${name}`);
    expect(before.body.steps[0]).toMatchObject({
      ready: false,
      serving: "nobody",
      workers: [],
      undo: { queue: `${queue}.undo`, ready: false, serving: "nobody" },
    });
    await h.call("POST", "/v1/tasks/acquire", { workerId: "poller-1", queues: [queue, `${queue}.undo`] });
    // The poll is recorded off the response path; wait for the write.
    await expect
      .poll(async () => (await h.call("GET", `/v1/workflows/${name}`)).body, { timeout: 5000 })
      .toMatchObject({
        ready: true,
        steps: [
          { ready: true, serving: "polling", workers: ["poller-1"], undo: { ready: true, serving: "polling", workers: ["poller-1"] } },
        ],
      });
  });

  it("answers 404 for an unknown workflow", async () => {
    const res = await h.call("GET", "/v1/workflows/no-such-workflow");
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe("NOT_FOUND");
  });
});

describe("POST /v1/workflows/:name/runs", () => {
  it("starts a run (201), returns the same instance for the same runId (200), and refuses other input (409)", async () => {
    const { name, queue } = uniqueWorkflow();
    await h.call("POST", "/v1/workflows", { name, steps: [{ name: "a", queue }] });
    const first = await h.call("POST", `/v1/workflows/${name}/runs`, { runId: "order-1", input: { amount: 5 } });
    expect(first.status).toBe(201);
    expect(first.body).toEqual({ instanceId: expect.any(String), runId: "order-1", state: "RUNNING", created: true });
    const again = await h.call("POST", `/v1/workflows/${name}/runs`, { runId: "order-1", input: { amount: 5 } });
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ ...first.body, created: false });
    const conflict = await h.call("POST", `/v1/workflows/${name}/runs`, { runId: "order-1", input: { amount: 6 } });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.code).toBe("RUN_ID_CONFLICT");
    const generated = await h.call("POST", `/v1/workflows/${name}/runs`, {});
    expect(generated.status).toBe(201);
    expect(generated.body.runId).toEqual(expect.any(String));
  });

  it("answers 404 for an unknown workflow and 400 naming the field for bad input", async () => {
    const missing = await h.call("POST", "/v1/workflows/nope/runs", { input: {} });
    expect(missing.status).toBe(404);
    const { name, queue } = uniqueWorkflow();
    await h.call("POST", "/v1/workflows", { name, steps: [{ name: "a", queue }] });
    const bad = await h.call("POST", `/v1/workflows/${name}/runs`, { input: [1, 2] });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: "VALIDATION_ERROR", details: { in: "body", fields: [{ field: "input" }] } });
  });
});
