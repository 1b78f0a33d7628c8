import { loadConfig, prepareAuth } from "@baton/api";
import type { Role } from "@baton/engine";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness } from "./http-harness.ts";

// Who may do what (issue #10): every route, every role, in and out of namespace, over real HTTP.

interface Keys {
  admin: string;
  operator: string;
  starter: string;
  worker: string;
  /** The same roles, scoped to another namespace. */
  otherOperator: string;
  otherStarter: string;
  otherWorker: string;
  revoked: string;
}
type Who = keyof Keys | "none" | "garbage";

const NS = "acme";
const WORKFLOW = { name: "orders", namespace: NS, steps: [{ name: "pay", queue: "acme.pay", undo: true }] };

let h: Harness;
let keys: Keys;

async function key(role: Role, namespaces: string[], queues?: string[]): Promise<string> {
  return (await h.engine.access.createKey({ name: `${role} of ${namespaces.join(",")}`, role, namespaces, ...(queues ? { queues } : {}) }))
    .token;
}

function as(who: Who): Record<string, string> {
  if (who === "none") return {};
  if (who === "garbage") return { authorization: `Bearer baton_${"0".repeat(16)}_${"A".repeat(43)}` };
  return { authorization: `Bearer ${keys[who]}` };
}

let runs = 0;
async function startRun(): Promise<string> {
  const res = await h.call("POST", "/v1/workflows/orders/runs", { namespace: NS, runId: `r${runs++}`, input: {} }, as("admin"));
  expect(res.status).toBe(201);
  return res.body.instanceId;
}

beforeAll(async () => {
  h = await startHarness();
  keys = {
    admin: await key("admin", ["*"]),
    operator: await key("operator", [NS]),
    starter: await key("starter", [NS]),
    worker: await key("worker", [NS], ["acme.*"]),
    otherOperator: await key("operator", ["globex"]),
    otherStarter: await key("starter", ["globex"]),
    otherWorker: await key("worker", ["globex"]),
    revoked: await key("operator", [NS]),
  };
  const revokedId = keys.revoked.slice("baton_".length, "baton_".length + 16);
  await h.engine.access.revokeKey(revokedId);
  const registered = await h.call("POST", "/v1/workflows", WORKFLOW, as("admin"));
  expect(registered.status).toBe(201);
});

afterAll(async () => {
  await h?.close();
});

const everyone: Who[] = [
  "admin",
  "operator",
  "starter",
  "worker",
  "otherOperator",
  "otherStarter",
  "otherWorker",
  "revoked",
  "none",
  "garbage",
];

/** A route of the matrix: how to call it, and who may. Everyone else is refused (401, 403 or 404). */
interface Row {
  route: string;
  call: (who: Who) => Promise<{ status: number; body: unknown }>;
  allowed: Who[];
}

const lease = { executionId: "00000000-0000-7000-8000-000000000000", workerId: "w", fenceToken: 1 };

const matrix: Row[] = [
  {
    route: "GET /v1/workflows",
    call: (w) => h.call("GET", `/v1/workflows?namespace=${NS}`, undefined, as(w)),
    allowed: ["admin", "operator", "starter", "worker"],
  },
  {
    route: "GET /v1/workflows/{name}",
    call: (w) => h.call("GET", `/v1/workflows/orders?namespace=${NS}`, undefined, as(w)),
    allowed: ["admin", "operator", "starter", "worker"],
  },
  { route: "POST /v1/workflows", call: (w) => h.call("POST", "/v1/workflows", WORKFLOW, as(w)), allowed: ["admin", "operator"] },
  {
    route: "POST /v1/workflows (as: worker)",
    call: (w) =>
      h.call("POST", "/v1/workflows", { orchName: "orders", as: "worker", namespace: NS, service: "svc", steps: [{ name: "pay" }] }, as(w)),
    allowed: ["admin", "operator", "worker"],
  },
  {
    route: "POST /v1/workflows/{name}/runs",
    call: (w) => h.call("POST", "/v1/workflows/orders/runs", { namespace: NS, input: {} }, as(w)),
    allowed: ["admin", "operator", "starter"],
  },
  {
    route: "POST /v1/workflows/{name}/runs/batch",
    call: (w) => h.call("POST", "/v1/workflows/orders/runs/batch", { namespace: NS, runs: [{ input: {} }] }, as(w)),
    allowed: ["admin", "operator", "starter"],
  },
  {
    route: "GET /v1/instances",
    call: (w) => h.call("GET", `/v1/instances?namespace=${NS}`, undefined, as(w)),
    allowed: ["admin", "operator", "starter"],
  },
  {
    route: "GET /v1/instances/{id}",
    call: async (w) => h.call("GET", `/v1/instances/${await startRun()}`, undefined, as(w)),
    allowed: ["admin", "operator", "starter"],
  },
  ...(["tasks", "events"] as const).map((list) => ({
    route: `GET /v1/instances/{id}/${list}`,
    call: async (w: Who) => h.call("GET", `/v1/instances/${await startRun()}/${list}`, undefined, as(w)),
    allowed: ["admin", "operator", "starter"] as Who[],
  })),
  ...(["pause", "cancel", "compensate"] as const).map((action) => ({
    route: `POST /v1/instances/{id}/${action}`,
    call: async (w: Who) => h.call("POST", `/v1/instances/${await startRun()}/${action}`, undefined, as(w)),
    allowed: ["admin", "operator"] as Who[],
  })),
  {
    route: "POST /v1/instances/{id}/resume",
    call: async (w) => {
      const id = await startRun();
      await h.call("POST", `/v1/instances/${id}/pause`, undefined, as("admin"));
      return h.call("POST", `/v1/instances/${id}/resume`, undefined, as(w));
    },
    allowed: ["admin", "operator"],
  },
  {
    route: "POST /v1/instances/{id}/tasks/{taskId}/retry",
    call: async (w) => h.call("POST", `/v1/instances/${await startRun()}/tasks/pay/retry`, undefined, as(w)),
    allowed: ["admin", "operator"],
  },
  {
    route: "POST /v1/tasks/acquire",
    call: (w) => h.call("POST", "/v1/tasks/acquire", { workerId: "w", queues: ["acme.pay"], max: 1, waitMs: 0 }, as(w)),
    allowed: ["admin", "worker"],
  },
  ...(["heartbeat", "complete", "fail", "release"] as const).map((action) => ({
    route: `POST /v1/tasks/${action}`,
    call: (w: Who) =>
      h.call("POST", `/v1/tasks/${action}`, { items: [{ ...lease, ...(action === "fail" ? { error: { message: "x" } } : {}) }] }, as(w)),
    // Any worker key may report; a lease it does not hold is refused item by item (see "binds a lease").
    allowed: ["admin", "worker", "otherWorker"] as Who[],
  })),
  ...(["heartbeat", "complete", "fail"] as const).map((action) => ({
    route: `POST /v1/tasks/{executionId}/${action}`,
    call: (w: Who) =>
      h.call(
        "POST",
        `/v1/tasks/${lease.executionId}/${action}`,
        { workerId: "w", fenceToken: 1, ...(action === "fail" ? { error: { message: "x" } } : {}) },
        as(w),
      ),
    allowed: ["admin", "worker", "otherWorker"] as Who[],
  })),
  {
    route: "GET /v1/workers",
    call: (w) => h.call("GET", "/v1/workers", undefined, as(w)),
    allowed: ["admin", "operator", "otherOperator"],
  },
  {
    route: "GET /v1/queues",
    call: (w) => h.call("GET", "/v1/queues", undefined, as(w)),
    allowed: ["admin", "operator", "otherOperator"],
  },
  {
    route: "GET /v1/registrations",
    call: (w) => h.call("GET", `/v1/registrations?namespace=${NS}`, undefined, as(w)),
    allowed: ["admin", "operator"],
  },
  {
    route: "GET /v1/registrations/changes",
    call: (w) => h.call("GET", `/v1/registrations/changes?namespace=${NS}`, undefined, as(w)),
    allowed: ["admin", "operator"],
  },
  {
    route: "GET /v1/reaper/poisoned",
    call: (w) => h.call("GET", `/v1/reaper/poisoned?namespace=${NS}`, undefined, as(w)),
    allowed: ["admin", "operator", "starter"],
  },
  { route: "GET /metrics", call: (w) => h.call("GET", "/metrics", undefined, as(w)), allowed: ["admin", "operator", "otherOperator"] },
  { route: "GET /v1/keys", call: (w) => h.call("GET", "/v1/keys", undefined, as(w)), allowed: ["admin"] },
  {
    route: "POST /v1/keys",
    call: (w) => h.call("POST", "/v1/keys", { name: "made in the matrix", role: "starter", namespaces: [NS] }, as(w)),
    allowed: ["admin"],
  },
  {
    route: "GET /openapi.json",
    call: (w) => h.call("GET", "/openapi.json", undefined, as(w)),
    allowed: ["admin", "operator", "starter", "worker", "otherOperator", "otherStarter", "otherWorker"],
  },
  { route: "GET /healthz", call: (w) => h.call("GET", "/healthz", undefined, as(w)), allowed: everyone },
];

describe("role × route matrix", () => {
  for (const row of matrix) {
    it(row.route, async () => {
      for (const who of everyone) {
        const res = await row.call(who);
        const refused = res.status === 401 || res.status === 403 || (res.status === 404 && row.route.includes("{id}"));
        const what = `${row.route} as ${who}: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`;
        if (row.allowed.includes(who)) expect(refused, what).toBe(false);
        else {
          expect(refused, what).toBe(true);
          if (who === "none" || who === "garbage" || who === "revoked") expect(res.status, what).toBe(401);
        }
        expect(res.status, what).toBeLessThan(500);
      }
    });
  }
});

describe("isolation", () => {
  it("refuses a definition of another namespace that names a claimed queue", async () => {
    const res = await h.call(
      "POST",
      "/v1/workflows",
      { name: "steal", namespace: "globex", steps: [{ name: "s", queue: "acme.pay" }] },
      as("admin"),
    );
    expect(res.status).toBe(400);
    expect(res.body.error.message).toContain("acme.pay");
  });

  it("binds a lease to the key that acquired it: another key's report is NOT_LEASED and learns no fence", async () => {
    const otherKeyOfAcme = await key("worker", [NS], ["acme.*"]);
    await startRun();
    const acquired = await h.call("POST", "/v1/tasks/acquire", { workerId: "w1", queues: ["acme.pay"], max: 1, waitMs: 0 }, as("worker"));
    const [task] = acquired.body.tasks;
    expect(task).toBeDefined();

    // Same worker id, same fence, another key: refused, and the answer does not reveal the fence.
    const impostor = await h.call(
      "POST",
      `/v1/tasks/${task.executionId}/complete`,
      { workerId: "w1", fenceToken: task.fenceToken, output: { stolen: true } },
      { authorization: `Bearer ${otherKeyOfAcme}` },
    );
    expect(impostor.status).toBe(409);
    expect(impostor.body.error.code).toBe("NOT_LEASED");
    expect(impostor.body.error.details.currentFenceToken).toBeUndefined();
    expect(impostor.body.error.details.state).toBeUndefined();
    const guessed = await h.call(
      "POST",
      `/v1/tasks/${task.executionId}/complete`,
      { workerId: "w1", fenceToken: task.fenceToken + 1, output: {} },
      { authorization: `Bearer ${otherKeyOfAcme}` },
    );
    expect(guessed.body.error.code).toBe("NOT_LEASED");
    expect(guessed.body.error.details.currentFenceToken).toBeUndefined();

    // The starter sees the attempt, but not its fence or holder; the admin sees both.
    const asStarter = await h.call("GET", `/v1/instances/${task.instanceId}`, undefined, as("starter"));
    const attempt = asStarter.body.tasks.find((t: { executionId: string }) => t.executionId === task.executionId);
    expect(attempt).toMatchObject({ state: "LEASED", fenceToken: null, leaseHolder: null });
    const asAdmin = await h.call("GET", `/v1/instances/${task.instanceId}`, undefined, as("admin"));
    expect(asAdmin.body.tasks.find((t: { executionId: string }) => t.executionId === task.executionId).fenceToken).toBe(task.fenceToken);
    // The same on the page of attempts.
    const paged = await h.call("GET", `/v1/instances/${task.instanceId}/tasks`, undefined, as("starter"));
    expect(paged.body.items.find((t: { executionId: string }) => t.executionId === task.executionId)).toMatchObject({
      state: "LEASED",
      fenceToken: null,
      leaseHolder: null,
    });
    const pagedAsAdmin = await h.call("GET", `/v1/instances/${task.instanceId}/tasks`, undefined, as("admin"));
    expect(pagedAsAdmin.body.items.find((t: { executionId: string }) => t.executionId === task.executionId).fenceToken).toBe(
      task.fenceToken,
    );

    // The real worker completes.
    const done = await h.call(
      "POST",
      `/v1/tasks/${task.executionId}/complete`,
      { workerId: "w1", fenceToken: task.fenceToken, output: {} },
      as("worker"),
    );
    expect(done.status).toBe(200);
    // Nor does the history show a non-admin the fence and holder the finished attempt had.
    const outcome = (events: { eventType: string; payload: Record<string, unknown> }[]) =>
      events.find((e) => e.eventType === "TASK_COMPLETED" && e.payload.executionId === task.executionId)?.payload;
    const history = await h.call("GET", `/v1/instances/${task.instanceId}`, undefined, as("starter"));
    expect(outcome(history.body.events)).not.toHaveProperty("fenceToken");
    expect(outcome(history.body.events)).not.toHaveProperty("workerId");
    const eventPage = await h.call("GET", `/v1/instances/${task.instanceId}/events`, undefined, as("starter"));
    expect(outcome(eventPage.body.items)).toMatchObject({ taskId: expect.any(String), output: {} });
    expect(outcome(eventPage.body.items)).not.toHaveProperty("fenceToken");
    const adminHistory = await h.call("GET", `/v1/instances/${task.instanceId}/events`, undefined, as("admin"));
    expect(outcome(adminHistory.body.items)).toMatchObject({ fenceToken: task.fenceToken, workerId: expect.stringContaining("/w1") });
  });

  // Found by the keyed fuzz: a repeat of an attempt's recorded outcome was answered as a duplicate
  // success to any key, telling it how the attempt ended.
  it("refuses another key's repeat of a recorded outcome as NOT_LEASED, without the attempt's state", async () => {
    await startRun();
    const acquired = await h.call("POST", "/v1/tasks/acquire", { workerId: "w9", queues: ["acme.pay"], max: 1, waitMs: 0 }, as("worker"));
    const [task] = acquired.body.tasks;
    const report = { workerId: "w9", fenceToken: task.fenceToken, error: { message: "no" }, retryable: false };
    expect((await h.call("POST", `/v1/tasks/${task.executionId}/fail`, report, as("worker"))).status).toBe(200);
    const otherKeyOfAcme = await key("worker", [NS], ["acme.*"]);
    const repeat = await h.call("POST", `/v1/tasks/${task.executionId}/fail`, report, { authorization: `Bearer ${otherKeyOfAcme}` });
    expect(repeat.status).toBe(409);
    expect(repeat.body.error.code).toBe("NOT_LEASED");
    expect(JSON.stringify(repeat.body)).not.toMatch(/"state"|FAILED/);
    // The key that held the lease still gets its repeat answered as a duplicate.
    const own = await h.call("POST", `/v1/tasks/${task.executionId}/fail`, report, as("worker"));
    expect([own.status, own.body]).toEqual([200, { executionId: task.executionId, state: "FAILED", duplicate: true }]);
  });

  // A key of another namespace got NOT_LEASED, STALE_FENCE or ALREADY_COMPLETED for a real
  // execution id and NOT_FOUND for a made-up one: an oracle for which ids exist in other tenants.
  it("answers reports on another namespace's executions exactly as on executions that do not exist", async () => {
    await startRun();
    await startRun();
    const acquired = await h.call("POST", "/v1/tasks/acquire", { workerId: "w5", queues: ["acme.pay"], max: 2, waitMs: 0 }, as("worker"));
    const [leased, finished] = acquired.body.tasks;
    const done = { workerId: "w5", fenceToken: finished.fenceToken, output: {} };
    expect((await h.call("POST", `/v1/tasks/${finished.executionId}/complete`, done, as("worker"))).status).toBe(200);

    /** An answer with the execution id it names taken out. */
    const shape = (answer: { status: number; body: unknown }, id: string) => [
      answer.status,
      JSON.stringify(answer.body).replaceAll(id, "<id>"),
    ];
    const unknown = crypto.randomUUID();
    const reports = [
      { action: "heartbeat", body: (t: { fenceToken: number }) => ({ workerId: "w5", fenceToken: t.fenceToken }) },
      { action: "complete", body: (t: { fenceToken: number }) => ({ workerId: "w5", fenceToken: t.fenceToken, output: {} }) },
      { action: "complete", body: (t: { fenceToken: number }) => ({ workerId: "w5", fenceToken: t.fenceToken + 1, output: {} }) },
      { action: "fail", body: (t: { fenceToken: number }) => ({ workerId: "w5", fenceToken: t.fenceToken, error: { message: "x" } }) },
    ];
    for (const task of [leased, finished]) {
      for (const { action, body } of reports) {
        const foreign = await h.call("POST", `/v1/tasks/${task.executionId}/${action}`, body(task), as("otherWorker"));
        const madeUp = await h.call("POST", `/v1/tasks/${unknown}/${action}`, body(task), as("otherWorker"));
        expect(shape(foreign, task.executionId), `${action} of a ${task === leased ? "leased" : "completed"} execution`).toEqual(
          shape(madeUp, unknown),
        );
        expect(foreign.status).toBe(404);
      }
      // The batch routes answer each item the same way.
      for (const action of ["heartbeat", "complete", "fail"]) {
        const item = (executionId: string) => ({ executionId, ...(reports.find((r) => r.action === action)?.body(task) ?? {}) });
        const batch = await h.call("POST", `/v1/tasks/${action}`, { items: [item(task.executionId), item(unknown)] }, as("otherWorker"));
        expect(batch.status).toBe(200);
        const [foreign, madeUp] = batch.body.results;
        expect(shape({ status: 200, body: foreign }, task.executionId)).toEqual(shape({ status: 200, body: madeUp }, unknown));
        expect(foreign.error.code).toBe("NOT_FOUND");
      }
    }
    // The lease is untouched: its worker still completes it.
    const own = await h.call(
      "POST",
      `/v1/tasks/${leased.executionId}/complete`,
      { workerId: "w5", fenceToken: leased.fenceToken, output: {} },
      as("worker"),
    );
    expect(own.status).toBe(200);
  });

  it("does not let a worker acquire another namespace's queue, even with a matching pattern", async () => {
    const greedy = await key("worker", ["globex"], ["*"]);
    const res = await h.call(
      "POST",
      "/v1/tasks/acquire",
      { workerId: "g", queues: ["acme.pay"], waitMs: 0 },
      { authorization: `Bearer ${greedy}` },
    );
    expect(res.status).toBe(403);
    expect(res.body.error.details.queues).toEqual(["acme.pay"]);
  });

  it("hides instances of other namespaces as not found, and makes a multi-namespace key name one to list", async () => {
    const id = await startRun();
    const res = await h.call("GET", `/v1/instances/${id}`, undefined, as("otherOperator"));
    expect(res.status).toBe(404);
    const unnamed = await h.call("GET", "/v1/instances", undefined, as("operator"));
    expect(unnamed.status).toBe(200);
    expect(unnamed.body.items.every((i: { namespace: string }) => i.namespace === NS)).toBe(true);
    const both = await key("operator", [NS, "globex"]);
    const listed = await h.call("GET", "/v1/instances", undefined, { authorization: `Bearer ${both}` });
    expect(listed.status).toBe(403);
  });

  it("never returns a key's secret after creation, and a revoked key stops working", async () => {
    const created = await h.call("POST", "/v1/keys", { name: "short-lived", role: "starter", namespaces: [NS] }, as("admin"));
    expect(created.status).toBe(201);
    const { token, key: view } = created.body;
    expect((await h.call("GET", `/v1/instances?namespace=${NS}`, undefined, { authorization: `Bearer ${token}` })).status).toBe(200);
    const listed = await h.call("GET", "/v1/keys", undefined, as("admin"));
    expect(JSON.stringify(listed.body)).not.toContain(token.slice(-43));
    expect((await h.call("DELETE", `/v1/keys/${view.keyId}`, undefined, as("admin"))).body.revokedAt).not.toBeNull();
    expect((await h.call("GET", `/v1/instances?namespace=${NS}`, undefined, { authorization: `Bearer ${token}` })).status).toBe(401);
  });
});

describe("open by default only where it is safe", () => {
  // One fresh server (PGlite starts slowly) walks through the modes: open with no key, a first
  // admin key generated for a non-loopback address, open again once every key is revoked, closed
  // again by the first key created over the API, and BATON_ADMIN_KEY taken as given.
  it("is open only while no key exists, and has a key whenever it listens beyond loopback", async () => {
    const fresh = await startHarness();
    const lines: string[] = [];
    const logger = pino({ level: "info" }, { write: (line: string) => lines.push(line) });
    const written: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
    try {
      expect((await fresh.call("GET", "/v1/workflows")).status).toBe(200);

      process.stderr.write = ((chunk: string) => written.push(String(chunk)) > 0) as typeof process.stderr.write;
      await prepareAuth(fresh.engine, loadConfig({ HOST: "0.0.0.0" }), logger);
      process.stderr.write = write;
      const generated = /baton_[0-9a-f]{16}_[A-Za-z0-9_-]{43}/.exec(written.join(""))?.[0] as string;
      expect(generated).toBeDefined();
      expect(lines.join("")).not.toContain(generated);
      const refused = await fresh.call("GET", "/v1/workflows");
      expect(refused.status).toBe(401);
      expect(refused.body.error.code).toBe("UNAUTHORIZED");
      expect((await fresh.call("GET", "/v1/keys", undefined, bearer(generated))).status).toBe(200);

      await fresh.call("DELETE", `/v1/keys/${generated.slice(6, 22)}`, undefined, bearer(generated));
      expect((await fresh.call("GET", "/v1/workflows")).status).toBe(200);
      const created = await fresh.call("POST", "/v1/keys", { name: "first", role: "admin" });
      expect(created.status).toBe(201);
      expect((await fresh.call("GET", "/v1/workflows")).status).toBe(401);
      expect((await fresh.call("GET", "/v1/workflows", undefined, bearer(created.body.token))).status).toBe(200);

      const given = `baton_${"a".repeat(16)}_${"b".repeat(43)}`;
      await prepareAuth(fresh.engine, loadConfig({ BATON_ADMIN_KEY: given }), logger);
      await prepareAuth(fresh.engine, loadConfig({ BATON_ADMIN_KEY: given }), logger);
      expect((await fresh.call("GET", "/v1/keys", undefined, bearer(given))).status).toBe(200);
    } finally {
      process.stderr.write = write;
      await fresh.close();
    }
  });

  it("never echoes BATON_ADMIN_KEY in a configuration error", () => {
    expect(() => loadConfig({ BATON_ADMIN_KEY: "baton_secret-but-malformed" })).toThrow(/BATON_ADMIN_KEY=\(hidden\)/);
    expect(() => loadConfig({ BATON_ADMIN_KEY: "baton_secret-but-malformed" })).not.toThrow(/secret-but-malformed/);
  });
});
