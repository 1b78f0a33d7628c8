import { BRIDGE_WORKER_ID, createApp } from "@baton/api";
import { createEngine, type Engine } from "@baton/engine";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../../../test-support/database.ts";
import { acquireOne, type Harness, startHarness, uniqueWorkflow } from "./http-harness.ts";

// Remembered `as: worker` registrations (issue 11): readiness in three cases, a run waiting on a
// step nobody serves, the audit trail, and a registration that outlives the process.

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

type App = ReturnType<typeof createApp>;
type Served = { serving: string; workers: string[]; services: { service: string; transport: string; lastContactAt: string }[] };

async function registerWorkflow(steps: string[] = ["charge"]) {
  const { name, queue } = uniqueWorkflow("reg");
  const definition = { name, steps: steps.map((step) => ({ name: step, queue: `${queue}.${step}`, undo: true })) };
  expect((await h.call("POST", "/v1/workflows", definition)).status).toBe(201);
  return { name, queue: `${queue}.${steps[0]}` };
}

const registerService = (workflow: string, service: string, steps: string[]) =>
  h.call(
    "POST",
    "/v1/workflows",
    { orchName: workflow, as: "worker", steps: steps.map((name) => ({ name })) },
    { "x-service-name": service },
  );

async function firstStep(workflow: string): Promise<Served & { undo: Served }> {
  const res = await h.call("GET", `/v1/workflows/${workflow}`);
  expect(res.status).toBe(200);
  return res.body.steps[0];
}

describe("step readiness", () => {
  it("tells nobody, a registered service (with its last contact) and a polling worker apart; the Kafka bridge's polls do not count", async () => {
    const { name, queue } = await registerWorkflow();
    expect(await firstStep(name)).toMatchObject({ ready: false, serving: "nobody", workers: [], services: [] });

    // The bridge relays commands of Kafka steps: its polls make nothing ready.
    await h.call("POST", "/v1/tasks/acquire", { workerId: BRIDGE_WORKER_ID, queues: [queue] });
    await expect
      .poll(async () => (await h.call("GET", "/v1/workers")).body.items.map((w: { id: string }) => w.id), { timeout: 5000 })
      .toContain(BRIDGE_WORKER_ID);
    expect(await firstStep(name)).toMatchObject({ ready: false, serving: "nobody", workers: [] });

    expect((await registerService(name, "billing", ["charge"])).status).toBe(200);
    const registered = await firstStep(name);
    expect(registered).toMatchObject({
      ready: true,
      serving: "registered",
      workers: [],
      services: [{ service: "billing", transport: "http" }],
      undo: { ready: true, serving: "registered", services: [{ service: "billing" }] },
    });
    const registeredAt = registered.services[0]?.lastContactAt as string;

    // A poll by the service is contact; a worker polling the queue makes the step `polling`.
    await h.call("POST", "/v1/tasks/acquire", { workerId: "billing", queues: [queue] });
    await expect.poll(async () => (await firstStep(name)).serving, { timeout: 5000 }).toBe("polling");
    const polled = await firstStep(name);
    expect(polled).toMatchObject({ workers: ["billing"], services: [{ service: "billing" }] });
    expect(Date.parse(polled.services[0]?.lastContactAt as string)).toBeGreaterThan(Date.parse(registeredAt));
    expect(polled.undo.serving).toBe("registered");
  });

  it("shows a run waiting on a step nobody serves, in its view and on its console page; it moves on once a service registers and works", async () => {
    const { name, queue } = await registerWorkflow();
    const started = await h.call("POST", `/v1/workflows/${name}/runs`, { input: { amount: 5 } });
    const id = started.body.instanceId as string;
    const view = await h.call("GET", `/v1/instances/${id}`);
    expect(view.body.waiting).toEqual([{ taskId: "charge", kind: "DO", queue, attempt: 1, serving: "nobody", services: [] }]);
    const page = await (await h.app.request(`/ui/instances/${id}`)).text();
    expect(page).toContain("NOBODY");
    expect(page).toContain("the run waits here until one does");

    await registerService(name, "billing", ["charge"]);
    const waiting = (await h.call("GET", `/v1/instances/${id}`)).body.waiting;
    expect(waiting).toEqual([
      expect.objectContaining({ taskId: "charge", serving: "registered", services: [expect.objectContaining({ service: "billing" })] }),
    ]);
    expect(await (await h.app.request(`/ui/instances/${id}`)).text()).toContain("REGISTERED");

    // Nothing to re-trigger: the task waited PENDING, and the service takes it.
    const task = await acquireOne(h, queue, "billing");
    const done = await h.call("POST", `/v1/tasks/${task.executionId}/complete`, {
      workerId: "billing",
      fenceToken: task.fenceToken,
      output: {},
    });
    expect(done.status).toBe(200);
    const ended = await h.call("GET", `/v1/instances/${id}`);
    expect([ended.body.state, ended.body.waiting]).toEqual(["COMPLETED", []]);
  });
});

describe("GET /v1/registrations and /v1/registrations/changes", () => {
  it("keeps the first registration and each change in the audit trail, newest first; a repeat changes nothing", async () => {
    const { name } = await registerWorkflow(["charge", "refund"]);
    expect((await registerService(name, "payments", ["charge"])).body).toMatchObject({ steps: ["charge"], change: "created" });
    expect((await registerService(name, "payments", ["charge"])).body).toMatchObject({ change: "unchanged" });
    expect((await registerService(name, "payments", ["refund", "charge"])).body).toMatchObject({
      steps: ["charge", "refund"],
      change: "changed",
    });
    // The same service on the registration topic: the transport moves.
    await h.engine.registrations.register({
      workflow: name,
      service: "payments",
      steps: ["refund"],
      transport: "kafka",
      by: { keyId: null, name: "kafka:orchestrator.registration" },
    });

    const changes = await h.call("GET", `/v1/registrations/changes?workflow=${name}`);
    expect(changes.status).toBe(200);
    const by = { keyId: null, name: "anyone (auth off)" };
    expect(changes.body.items).toEqual([
      expect.objectContaining({
        change: "changed",
        stepsAdded: [],
        transport: "kafka",
        transportBefore: "http",
        by: { keyId: null, name: "kafka:orchestrator.registration" },
      }),
      expect.objectContaining({
        change: "changed",
        steps: ["charge", "refund"],
        stepsAdded: ["refund"],
        transport: "http",
        transportBefore: null,
        by,
      }),
      expect.objectContaining({
        service: "payments",
        workflow: name,
        namespace: "default",
        change: "created",
        steps: ["charge"],
        stepsAdded: ["charge"],
        by,
      }),
    ]);
    const [newest, , oldest] = changes.body.items as { changeId: number; at: string }[];
    expect((newest as { changeId: number }).changeId).toBeGreaterThan((oldest as { changeId: number }).changeId);

    const registrations = await h.call("GET", `/v1/registrations?workflow=${name}`);
    expect(registrations.body).toEqual({
      items: [
        {
          namespace: "default",
          workflow: name,
          service: "payments",
          steps: ["charge", "refund"],
          queues: [`q.${name}.charge`, `q.${name}.charge.undo`, `q.${name}.refund`, `q.${name}.refund.undo`],
          transport: "kafka",
          firstRegisteredAt: expect.any(String),
          lastRegisteredAt: expect.any(String),
          lastContactAt: expect.any(String),
        },
      ],
      nextCursor: null,
    });
  });

  it("pages both lists with cursors", async () => {
    const { name } = await registerWorkflow();
    for (const service of ["s1", "s2", "s3"]) await registerService(name, service, ["charge"]);
    const services: string[] = [];
    let cursor: string | null = null;
    do {
      const res: { body: { items: { service: string }[]; nextCursor: string | null } } = await h.call(
        "GET",
        `/v1/registrations?workflow=${name}&limit=2${cursor ? `&cursor=${cursor}` : ""}`,
      );
      services.push(...res.body.items.map((r) => r.service));
      cursor = res.body.nextCursor;
    } while (cursor);
    expect(services).toEqual(["s1", "s2", "s3"]);
    const first = await h.call("GET", `/v1/registrations/changes?workflow=${name}&limit=2`);
    const rest = await h.call("GET", `/v1/registrations/changes?workflow=${name}&limit=2&cursor=${first.body.nextCursor}`);
    expect([...first.body.items, ...rest.body.items].map((c: { service: string }) => c.service)).toEqual(["s3", "s2", "s1"]);
    expect(rest.body.nextCursor).toBeNull();
    const bad = await h.call("GET", "/v1/registrations?cursor=AAAA");
    expect([bad.status, bad.body.error.details.fields[0].field]).toEqual([400, "cursor"]);
  });

  it("refuses a step the registered workflow does not have (404) and remembers nothing of it", async () => {
    const { name } = await registerWorkflow();
    const res = await registerService(name, "billing", ["charge", "nope"]);
    expect([res.status, res.body.error.code, res.body.error.details.steps]).toEqual([404, "NOT_FOUND", ["nope"]]);
    expect((await h.call("GET", `/v1/registrations?workflow=${name}`)).body.items).toEqual([]);
  });
});

describe("a registration outlives the process", () => {
  // Its own database, with a migration and four scrypt-hashed keys: slow on PGlite on a loaded machine.
  it("survives a restart on the same database, records the key that registered, and is read in the key's namespace only", async () => {
    const testDb = await createTestDatabase();
    const open = async () => {
      const engine = await createEngine({ database: testDb.database, migrate: false, reapIntervalMs: 0 });
      return { engine, app: createApp(engine, { auth: "on" }) };
    };
    let first: { engine: Engine; app: App } | undefined;
    let second: typeof first;
    try {
      first = await open();
      const admin = await first.engine.access.createKey({ name: "admin", role: "admin", namespaces: ["*"] });
      const worker = await first.engine.access.createKey({ name: "realm worker", role: "worker", namespaces: ["acme"], queues: ["*"] });
      const operator = await first.engine.access.createKey({ name: "acme operator", role: "operator", namespaces: ["acme"] });
      const other = await first.engine.access.createKey({ name: "globex operator", role: "operator", namespaces: ["globex"] });
      const call = (app: App, token: string, path: string, body?: unknown) =>
        app.request(path, {
          method: body === undefined ? "GET" : "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "x-service-name": "realm-service" },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
      const definition = { name: "tenants", namespace: "acme", steps: [{ name: "createRealm", queue: "acme.realm", undo: true }] };
      expect((await call(first.app, admin.token, "/v1/workflows", definition)).status).toBe(201);
      const registration = { orchName: "tenants", namespace: "acme", as: "worker", steps: [{ name: "createRealm" }] };
      expect((await call(first.app, worker.token, "/v1/workflows", registration)).status).toBe(200);
      await first.engine.close();

      second = await open();
      const { app } = second;
      // biome-ignore lint/suspicious/noExplicitAny: tests read whatever the API answered
      const read = async (token: string, path: string): Promise<any> => (await call(app, token, path)).json();
      const step = (await read(operator.token, "/v1/workflows/tenants?namespace=acme")).steps[0];
      expect(step).toMatchObject({ serving: "registered", services: [{ service: "realm-service", transport: "http" }] });
      const changes = await read(operator.token, "/v1/registrations/changes");
      expect(changes.items).toEqual([
        expect.objectContaining({ service: "realm-service", by: { keyId: worker.key.keyId, name: "realm worker" } }),
      ]);

      // A key of another namespace sees none of it.
      expect((await read(other.token, "/v1/registrations")).items).toEqual([]);
      expect((await call(app, other.token, "/v1/registrations?namespace=acme")).status).toBe(403);

      // The service polling with its key (lease holder `<keyId>/realm-service`) is contact.
      const before = (await read(operator.token, "/v1/registrations")).items[0].lastContactAt;
      await call(app, worker.token, "/v1/tasks/acquire", { workerId: "realm-service", queues: ["acme.realm"] });
      await expect
        .poll(async () => (await read(operator.token, "/v1/registrations")).items[0].lastContactAt, { timeout: 5000 })
        .not.toBe(before);
    } finally {
      await second?.engine.close();
      if (first && !second) await first.engine.close().catch(() => undefined);
      await testDb.drop();
    }
  }, 120_000);
});
