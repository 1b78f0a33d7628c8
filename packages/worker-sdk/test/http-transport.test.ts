import { MAX_BATCH_ITEMS } from "@baton/contract";
import { describe, expect, it } from "vitest";
import { BatonError, createHttpTransport, createWorker, isTransientError, silentLogger, type WorkerEvent } from "../src/index.ts";
import { EventLog, gate } from "./support/harness.ts";

/** A fetch that answers from a script, one entry per call, and records what it was asked. */
function scriptedFetch(answers: ((body: unknown) => Response | Promise<Response>)[]) {
  const calls: { url: string; method: string; body: unknown }[] = [];
  const fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const body = init?.body ? JSON.parse(String(init.body)) : undefined;
    calls.push({ url: String(input), method: init?.method ?? "GET", body });
    const next = answers.shift();
    if (!next) throw new Error("no more scripted answers");
    return next(body);
  }) as typeof globalThis.fetch;
  return { fetch, calls };
}

/**
 * Like scriptedFetch, with one script per path. An acquire past its script answers no tasks after
 * a few milliseconds, as an idle server would (an answer without a wait would starve the timers).
 */
function routedFetch(scripts: Record<string, ((body: unknown) => Response | Promise<Response>)[]>) {
  const calls: { url: string; method: string; body: unknown }[] = [];
  const fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const body = init?.body ? JSON.parse(String(init.body)) : undefined;
    calls.push({ url: String(input), method: init?.method ?? "GET", body });
    const path = new URL(String(input)).pathname;
    const next = scripts[path]?.shift() ?? (path === "/v1/tasks/acquire" ? idle : undefined);
    if (!next) throw new Error(`no more scripted answers for ${path}`);
    return next(body);
  }) as typeof globalThis.fetch;
  return { fetch, calls };
}

const json = (status: number, body: unknown) => () =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
const idle = async () => {
  await new Promise((resolve) => setTimeout(resolve, 5));
  return json(200, { tasks: [] })();
};
const refused = () => {
  throw new TypeError("fetch failed", { cause: Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }) });
};

async function rejection(call: Promise<unknown>): Promise<BatonError> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BatonError);
  return error as BatonError;
}

const task = {
  executionId: "6f1c7c3e-8a4b-4bb4-9d57-3d35e2a4c001",
  instanceId: "6f1c7c3e-8a4b-4bb4-9d57-3d35e2a4c002",
  workflowName: "wf",
  namespace: "default",
  taskId: "work",
  kind: "DO",
  queue: "wf.work",
  attempt: 1,
  fenceToken: 7,
  leaseExpiresAt: new Date(Date.now() + 60_000).toISOString(),
  input: { n: 1 },
};

describe("HTTP transport", () => {
  it("rebuilds the server's error with its code, message and details", async () => {
    const { fetch } = scriptedFetch([json(409, { error: { code: "STALE_FENCE", message: "stale", details: { currentFenceToken: 9 } } })]);
    const error = await rejection(createHttpTransport({ url: "http://baton.test", fetch }).complete({ ...task, workerId: "w", output: 1 }));
    expect(error).toMatchObject({ code: "STALE_FENCE", message: "stale", details: { currentFenceToken: 9 } });
    expect(isTransientError(error)).toBe(false);
  });

  it("reports unreachable servers and proxy error pages as UNAVAILABLE, which is transient", async () => {
    const { fetch } = scriptedFetch([refused, () => new Response("<html>Bad Gateway</html>", { status: 502 })]);
    const transport = createHttpTransport({ url: "http://baton.test/", fetch });
    const down = await rejection(transport.get("x"));
    expect(down.code).toBe("UNAVAILABLE");
    expect(down.message).toMatch(/ECONNREFUSED/);
    const proxy = await rejection(transport.get("x"));
    expect(proxy).toMatchObject({ code: "UNAVAILABLE", details: { status: 502 } });
    expect(isTransientError(proxy)).toBe(true);
  });

  it("names an error answer without a Baton error body by its status", async () => {
    const expected: Record<number, string> = {
      400: "VALIDATION_ERROR",
      404: "NOT_FOUND",
      409: "INVALID_STATE",
      418: "VALIDATION_ERROR",
      429: "RATE_LIMITED",
      500: "INTERNAL",
      501: "INTERNAL",
      503: "UNAVAILABLE",
      504: "UNAVAILABLE",
    };
    const statuses = Object.keys(expected).map(Number);
    const { fetch } = scriptedFetch(statuses.map((status) => () => new Response("<html>a proxy's page</html>", { status })));
    const transport = createHttpTransport({ url: "http://baton.test", fetch });
    const codes: Record<number, string> = {};
    for (const status of statuses) codes[status] = (await rejection(transport.get("x"))).code;
    expect(codes).toEqual(expected);
  });

  it("sends the wire shapes of DESIGN §7 and keeps acquire within the server's limits", async () => {
    const { fetch, calls } = scriptedFetch([
      json(200, { tasks: [] }),
      json(200, { executionId: task.executionId, state: "FAILED", duplicate: false }),
      json(201, { instanceId: task.instanceId, runId: "r", state: "RUNNING", created: true }),
      json(200, { items: [], nextCursor: null }),
      json(200, { state: "COMPENSATING" }),
      json(200, { released: 1 }),
    ]);
    const transport = createHttpTransport({ url: "http://baton.test", fetch });
    await transport.acquire({ workerId: "w", queues: ["a", "b"], max: 5000, waitMs: 90_000 });
    await transport.fail({ executionId: task.executionId, workerId: "w", fenceToken: 7, error: { message: "x" }, retryable: false });
    await transport.start("tenant creation", { runId: "r", input: { a: 1 } });
    await transport.list({ workflow: "wf", state: "RUNNING", limit: 10 });
    await transport.compensate(task.instanceId, "createRealm");
    expect(await transport.release([{ executionId: task.executionId, workerId: "w", fenceToken: 7 }])).toEqual({ released: 1 });
    expect(calls).toEqual([
      { url: "http://baton.test/v1/tasks/acquire", method: "POST", body: { workerId: "w", queues: ["a", "b"], max: 1000, waitMs: 30_000 } },
      {
        url: `http://baton.test/v1/tasks/${task.executionId}/fail`,
        method: "POST",
        body: { workerId: "w", fenceToken: 7, error: { message: "x" }, retryable: false },
      },
      { url: "http://baton.test/v1/workflows/tenant%20creation/runs", method: "POST", body: { runId: "r", input: { a: 1 } } },
      { url: "http://baton.test/v1/instances?workflow=wf&state=RUNNING&limit=10", method: "GET", body: undefined },
      { url: `http://baton.test/v1/instances/${task.instanceId}/compensate`, method: "POST", body: { fromTaskId: "createRealm" } },
      {
        url: "http://baton.test/v1/tasks/release",
        method: "POST",
        body: { items: [{ executionId: task.executionId, workerId: "w", fenceToken: 7 }] },
      },
    ]);
  });
});

describe("HTTP transport batches", () => {
  const report = (n: number) => ({
    executionId: `6f1c7c3e-8a4b-4bb4-9d57-${String(n).padStart(12, "0")}`,
    workerId: "w",
    fenceToken: n,
    output: n,
  });
  const completed = (body: unknown) =>
    json(200, {
      results: (body as { items: { executionId: string }[] }).items.map((i) => ({
        executionId: i.executionId,
        state: "COMPLETED",
        duplicate: false,
      })),
    })();

  it("answers each item on its own, rebuilding a refused item's error as single calls do", async () => {
    const { fetch, calls } = scriptedFetch([
      json(200, {
        results: [
          { executionId: report(1).executionId, state: "COMPLETED", duplicate: true },
          { executionId: report(2).executionId, error: { code: "STALE_FENCE", message: "stale", details: { currentFenceToken: 9 } } },
        ],
      }),
    ]);
    const answers = await createHttpTransport({ url: "http://baton.test", fetch }).completeMany([report(1), report(2)]);
    expect(calls).toEqual([{ url: "http://baton.test/v1/tasks/complete", method: "POST", body: { items: [report(1), report(2)] } }]);
    expect(answers[0]).toEqual({ executionId: report(1).executionId, state: "COMPLETED", duplicate: true });
    expect(answers[1]).toBeInstanceOf(BatonError);
    expect(answers[1]).toMatchObject({ code: "STALE_FENCE", message: "stale", details: { currentFenceToken: 9 } });
  });

  it("rejects as a whole when the request got no answer, so every item can be sent again", async () => {
    const { fetch } = scriptedFetch([refused]);
    const error = await rejection(createHttpTransport({ url: "http://baton.test", fetch }).heartbeatMany([report(1), report(2)]));
    expect(error.code).toBe("UNAVAILABLE");
  });

  it("sends at most MAX_BATCH_ITEMS per request and halves a body the server finds too large", async () => {
    const tooLarge = json(413, { error: { code: "PAYLOAD_TOO_LARGE", message: "too large", details: {} } });
    const { fetch, calls } = scriptedFetch([completed, completed, tooLarge, tooLarge, completed, tooLarge, completed]);
    const transport = createHttpTransport({ url: "http://baton.test", fetch });
    const many = Array.from({ length: MAX_BATCH_ITEMS + 1 }, (_, n) => report(n));
    expect(await transport.completeMany(many)).toHaveLength(MAX_BATCH_ITEMS + 1);
    expect(calls.map((c) => (c.body as { items: unknown[] }).items.length)).toEqual([MAX_BATCH_ITEMS, 1]);

    // [1, 2, 3] is too large, then [1, 2]; [3] fits, [1] alone is too large (its own refusal), [2] fits.
    const answers = await transport.completeMany([report(1), report(2), report(3)]);
    expect(calls.slice(2).map((c) => (c.body as { items: { fenceToken: number }[] }).items.map((i) => i.fenceToken))).toEqual([
      [1, 2, 3],
      [1, 2],
      [3],
      [1],
      [2],
    ]);
    expect(answers[0]).toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
    expect(answers.slice(1)).toEqual([
      { executionId: report(2).executionId, state: "COMPLETED", duplicate: false },
      { executionId: report(3).executionId, state: "COMPLETED", duplicate: false },
    ]);
  });
});

describe("worker over a flaky network", () => {
  it("keeps polling through failures, retries a 503 on complete, and drops a result the server answers 409 for", async () => {
    const second = { ...task, executionId: "6f1c7c3e-8a4b-4bb4-9d57-3d35e2a4c003", fenceToken: 8 };
    // Acquires and reports travel side by side (a slot is free before its report is answered), so
    // each route follows its own script; the second task comes once the first one's report is
    // answered, so the two reports cannot share a request.
    const firstRecorded = gate();
    const { fetch, calls } = routedFetch({
      "/v1/tasks/acquire": [
        refused,
        json(503, { error: { code: "UNAVAILABLE", message: "draining", details: {} } }),
        json(200, { tasks: [task] }),
        async () => {
          await firstRecorded.promise;
          return json(200, { tasks: [second] })();
        },
      ],
      "/v1/tasks/complete": [
        json(503, { error: { code: "UNAVAILABLE", message: "database restarting", details: {} } }),
        () => {
          firstRecorded.open();
          return json(200, { results: [{ executionId: task.executionId, state: "COMPLETED", duplicate: false }] })();
        },
        json(200, {
          results: [{ executionId: second.executionId, error: { code: "LEASE_EXPIRED", message: "the lease expired", details: {} } }],
        }),
      ],
    });
    const events = new EventLog();
    const worker = createWorker({
      url: "http://baton.test",
      fetch,
      workflow: "wf",
      concurrency: 1,
      pollWaitMs: 0,
      logger: silentLogger,
      retry: { minDelayMs: 1, maxDelayMs: 2 },
      onEvent: events.push,
      handlers: { work: (ctx) => ({ fence: ctx.fenceToken }) },
    });
    const lost = await events.next("lease-lost");
    await worker.stop();
    expect(lost).toMatchObject({ phase: "complete", task: { executionId: second.executionId }, error: { code: "LEASE_EXPIRED" } });
    expect(events.ofType("poll-error")).toHaveLength(2);
    expect(events.ofType("task-completed").map((e: Extract<WorkerEvent, { type: "task-completed" }>) => e.output)).toEqual([{ fence: 7 }]);
    const writes = calls.filter((c) => !c.url.endsWith("/acquire"));
    expect(writes.map((c) => c.url)).toEqual(Array(3).fill("http://baton.test/v1/tasks/complete"));
    expect(writes[2]?.body).toEqual({
      items: [{ executionId: second.executionId, workerId: worker.id, fenceToken: 8, output: { fence: 8 } }],
    });
  });
});
