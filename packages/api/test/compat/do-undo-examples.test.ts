import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness } from "../http-harness.ts";
import { workOver } from "./http-worker.ts";

/*
 * The REST execute of reference/do-undo-examples.md ("Using REST API"), with its exact body, over a
 * real port; then the flow it describes: createClient fails three times, createRealm is undone.
 */

// The initiator registration those examples send to orchestrator.registration.
const INITIATOR = {
  orchName: "tenantCreation",
  as: "initiator",
  type: "sequential",
  steps: [
    { seq: 1, name: "createRealm", objectType: "String" },
    { seq: 2, name: "createClient", objectType: "String" },
  ],
};
const EXECUTE = `{
    "orchestrationName": "tenantCreation",
    "payload": {
      "tenantName": "acme-corp",
      "domain": "acme.example.com"
    }
  }`;

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
  expect((await h.call("POST", "/api/orchestration/register", INITIATOR, { "X-Service-Name": "tenant-service" })).status).toBe(200);
});
afterAll(() => h.close());

describe("DO/UNDO examples: REST execute", () => {
  it("starts the run with the payload as its input; a failed step after its retries undoes the one before (UNDONE)", async () => {
    const started = await h.call("POST", "/api/orchestrations/execute", EXECUTE);
    expect(started.status).toBe(200);
    expect(started.body).toEqual({ status: "SUCCESS", flowId: expect.any(String), message: "Orchestration execution started" });
    const { flowId } = started.body;
    const path = `/v1/instances/${flowId}`;
    expect((await h.call("GET", path)).body.input).toEqual({ tenantName: "acme-corp", domain: "acme.example.com" });

    // "Sequential Flow (with Failure and Rollback)": attempts 1-3 of createClient fail (RETRY_EXHAUSTED).
    const failClient = (t: { taskId: string; kind: string }) => {
      if (t.taskId === "createClient" && t.kind === "DO") throw new Error("Realm with name 'acme-corp' already exists");
      return { ok: t.taskId };
    };
    const queues = ["tenantCreation.createRealm", "tenantCreation.createClient", "tenantCreation.createRealm.undo"];
    for (let i = 0; i < 50 && (await h.call("GET", path)).body.state !== "COMPENSATED"; i++) {
      await workOver(h, queues, failClient, { retryable: true });
      await h.engine.skipBackoff();
    }
    const view = (await h.call("GET", path)).body;
    expect(view.state).toBe("COMPENSATED");
    const attempts = view.tasks.map(
      (t: { kind: string; taskId: string; attempt: number; state: string }) => `${t.kind} ${t.taskId} #${t.attempt} ${t.state}`,
    );
    expect(attempts).toEqual([
      "DO createRealm #1 COMPLETED",
      "DO createClient #1 FAILED",
      "DO createClient #2 FAILED",
      "DO createClient #3 FAILED",
      "UNDO createRealm #1 COMPLETED",
    ]);
  });

  it("takes the payload as base64 bytes too, as on the Kafka start topic", async () => {
    const payload = Buffer.from('{"tenantName": "globex"}').toString("base64");
    const started = await h.call("POST", "/api/orchestrations/execute", { orchestrationName: "tenantCreation", payload });
    expect(started.status).toBe(200);
    expect((await h.call("GET", `/v1/instances/${started.body.flowId}`)).body.input).toEqual({ tenantName: "globex" });
  });

  it("refuses an unknown field or workflow with a 4xx in the old shape that names it", async () => {
    const extra = await h.call("POST", "/api/orchestrations/execute", { ...JSON.parse(EXECUTE), runId: "r1" });
    expect(extra.status).toBe(400);
    expect(extra.body).toMatchObject({ status: "ERROR", message: expect.stringContaining("runId"), error: { code: "VALIDATION_ERROR" } });
    const unknown = await h.call("POST", "/api/orchestrations/execute", { orchestrationName: "nope", payload: {} });
    expect(unknown).toMatchObject({ status: 404, body: { status: "ERROR", error: { code: "NOT_FOUND" } } });
    const noName = await h.call("POST", "/api/orchestrations/execute", { payload: {} });
    expect(noName).toMatchObject({ status: 400, body: { error: { details: { fields: [{ field: "orchestrationName" }] } } } });
  });
});
