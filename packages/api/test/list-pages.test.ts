import { PAGE_LIMITS } from "@baton/engine";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { acquireOne, type Harness, startHarness, uniqueWorkflow } from "./http-harness.ts";

// Lists paginated everywhere (issue 10): definitions, an instance's attempts and its history answer
// a page at a time with exact cursors; the instance view holds at most one full page of each.

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ reapIntervalMs: 0 });
});
afterAll(() => h?.close());

/** Follows nextCursor from the first page to the last; answers every item and the pages' sizes. */
async function readAll<T>(path: string, limit: number): Promise<{ items: T[]; pages: number[] }> {
  const items: T[] = [];
  const pages: number[] = [];
  let cursor: string | null = null;
  do {
    const sep = path.includes("?") ? "&" : "?";
    const res = await h.call("GET", `${path}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    items.push(...res.body.items);
    pages.push(res.body.items.length);
    cursor = res.body.nextCursor;
  } while (cursor !== null && pages.length < 1000);
  return { items, pages };
}

/** A parallel workflow of `steps` steps (all scheduled by the start, in one statement) and one run of it. */
async function parallelRun(steps: number) {
  const { name, queue } = uniqueWorkflow("pages");
  const definition = {
    name,
    type: "parallel",
    steps: Array.from({ length: steps }, (_, i) => ({ name: `s${i}`, queue, retry: { maxAttempts: 3, backoffMs: 0 } })),
  };
  expect((await h.call("POST", "/v1/workflows", definition)).status).toBe(201);
  const started = await h.call("POST", `/v1/workflows/${name}/runs`, { input: {} });
  expect(started.status).toBe(201);
  return { name, queue, instanceId: started.body.instanceId as string };
}

function expectCursorRefused(res: { status: number; body: { error?: { code: string; details: { fields?: { field: string }[] } } } }) {
  expect(res.status, JSON.stringify(res.body)).toBe(400);
  expect(res.body.error?.code).toBe("VALIDATION_ERROR");
  expect(res.body.error?.details.fields?.map((f) => f.field)).toEqual(["cursor"]);
}

const MALFORMED = ["nonsense!", Buffer.from("[1,2,3]").toString("base64url"), Buffer.from('{"a":1}').toString("base64url"), "AAAA"];

describe("GET /v1/workflows", () => {
  it("answers a page at a time by namespace then name; following nextCursor lists every definition once", async () => {
    const namespace = `pages-${crypto.randomUUID().slice(0, 8)}`;
    const names = ["e", "a", "d", "b", "c"].map((n) => `wf-${n}`);
    for (const name of names) {
      const res = await h.call("POST", "/v1/workflows", { name, namespace, steps: [{ name: "s", queue: `${namespace}.${name}` }] });
      expect(res.status).toBe(201);
    }
    // A second version of one of them: still listed once, as its latest version.
    await h.call("POST", "/v1/workflows", { name: "wf-c", namespace, steps: [{ name: "t", queue: `${namespace}.wf-c` }] });

    const { items, pages } = await readAll<{ name: string; version: number }>(`/v1/workflows?namespace=${namespace}`, 2);
    expect(items.map((i) => i.name)).toEqual([...names].sort());
    expect(items.find((i) => i.name === "wf-c")?.version).toBe(2);
    expect(pages).toEqual([2, 2, 1]);

    const whole = await h.call("GET", `/v1/workflows?namespace=${namespace}`);
    expect(whole.body).toMatchObject({ nextCursor: null });
    expect(whole.body.items).toHaveLength(5);
    // Across namespaces the order is namespace, then name, and no page repeats a row.
    const everything = await readAll<{ namespace: string; name: string }>("/v1/workflows", 3);
    const keys = everything.items.map((i) => `${i.namespace}\u0000${i.name}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys.filter((k) => k.startsWith(`${namespace}\u0000`))).toHaveLength(5);
  });

  it("refuses a malformed cursor naming `cursor`, and a limit out of 1..500 naming `limit`", async () => {
    for (const cursor of MALFORMED) expectCursorRefused(await h.call("GET", `/v1/workflows?cursor=${cursor}`));
    for (const limit of ["0", String(PAGE_LIMITS.maxLimit + 1), "x"]) {
      const res = await h.call("GET", `/v1/workflows?limit=${limit}`);
      expect(res.status).toBe(400);
      expect(res.body.error.details.fields.map((f: { field: string }) => f.field)).toEqual(["limit"]);
    }
  });
});

describe("an instance's tasks and events", () => {
  it("pages attempts created in one statement (one shared created_at) exactly: none skipped, none repeated", async () => {
    const { instanceId } = await parallelRun(7);
    const view = (await h.call("GET", `/v1/instances/${instanceId}`)).body;
    expect(view.tasks).toHaveLength(7);
    expect(view.tasksNextCursor).toBeNull();
    expect(new Set(view.tasks.map((t: { createdAt: string }) => t.createdAt)).size).toBe(1);

    const tasks = await readAll<{ executionId: string; taskId: string }>(`/v1/instances/${instanceId}/tasks`, 3);
    expect(tasks.pages).toEqual([3, 3, 1]);
    expect(tasks.items).toEqual(view.tasks);
  });

  it("pages the history by sequence number, also through one commit's several events", async () => {
    const { instanceId } = await parallelRun(4);
    const view = (await h.call("GET", `/v1/instances/${instanceId}`)).body;
    expect(view.eventsNextCursor).toBeNull();
    const events = await readAll<{ sequenceNumber: number }>(`/v1/instances/${instanceId}/events`, 2);
    expect(events.items).toEqual(view.events);
    expect(events.items.map((e) => e.sequenceNumber)).toEqual(Array.from({ length: view.events.length }, (_, i) => i + 1));
    expect(events.pages.every((n) => n <= 2)).toBe(true);
  });

  it("holds at most 500 attempts and events in the instance view, and says where the rest go on", async () => {
    const { queue, instanceId } = await parallelRun(500);
    // One failed attempt is retried: 501 attempts in all.
    const task = await acquireOne(h, queue);
    expect((await h.call("POST", `/v1/tasks/${task.executionId}/fail`, { workerId: "w1", fenceToken: task.fenceToken })).status).toBe(200);

    const view = (await h.call("GET", `/v1/instances/${instanceId}`)).body;
    expect(view.tasks).toHaveLength(PAGE_LIMITS.maxLimit);
    expect(view.events).toHaveLength(PAGE_LIMITS.maxLimit);
    expect(view.tasksNextCursor).toEqual(expect.any(String));
    expect(view.eventsNextCursor).toEqual(expect.any(String));

    const restOfTasks = await h.call("GET", `/v1/instances/${instanceId}/tasks?cursor=${view.tasksNextCursor}`);
    expect(restOfTasks.body.nextCursor).toBeNull();
    const all = [...view.tasks, ...restOfTasks.body.items];
    expect(all).toHaveLength(501);
    expect(new Set(all.map((t: { executionId: string }) => t.executionId)).size).toBe(501);
    expect(all.filter((t: { taskId: string }) => t.taskId === task.taskId).map((t: { attempt: number }) => t.attempt)).toEqual([1, 2]);

    const restOfEvents = await h.call("GET", `/v1/instances/${instanceId}/events?cursor=${view.eventsNextCursor}&limit=500`);
    const history = [...view.events, ...restOfEvents.body.items].map((e: { sequenceNumber: number }) => e.sequenceNumber);
    expect(history).toEqual(Array.from({ length: history.length }, (_, i) => i + 1));
    expect(history.length).toBeGreaterThan(500);
  });

  it("answers 404 for an unknown instance and 400 naming `cursor` for a malformed one", async () => {
    const { instanceId } = await parallelRun(1);
    for (const list of ["tasks", "events"]) {
      const missing = await h.call("GET", `/v1/instances/${crypto.randomUUID()}/${list}`);
      expect([missing.status, missing.body.error.code]).toEqual([404, "NOT_FOUND"]);
      for (const cursor of MALFORMED) expectCursorRefused(await h.call("GET", `/v1/instances/${instanceId}/${list}?cursor=${cursor}`));
    }
    for (const seq of [0, -1, 1.5, "1"]) {
      const cursor = Buffer.from(JSON.stringify([seq])).toString("base64url");
      expectCursorRefused(await h.call("GET", `/v1/instances/${instanceId}/events?cursor=${cursor}`));
    }
    // A cursor past the end is an empty last page, not an error.
    const past = Buffer.from(JSON.stringify([1_000_000])).toString("base64url");
    expect((await h.call("GET", `/v1/instances/${instanceId}/events?cursor=${past}`)).body).toEqual({ items: [], nextCursor: null });
  });
});
