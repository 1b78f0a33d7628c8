import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, onPglite, type TestDatabase } from "../../../../test-support/database.ts";
import type { Db } from "../../src/db/database.ts";
import { executionNamespaces } from "../../src/store/execution-namespaces.ts";
import { leaseHolderList, queueLoadList } from "../../src/store/queue-load.ts";
import { taskAcquire, taskCloseIfLeased, taskHeartbeatMany } from "../../src/store/task-leases.ts";
import {
  parseQueueWake,
  queueWakePayloads,
  taskCancelMany,
  taskCancelPending,
  taskGet,
  taskGetLeasedByStep,
  taskListByInstances,
  taskListExpired,
  taskNamespace,
  taskPageByInstance,
  taskParkPending,
  taskTimeOutIfExpired,
} from "../../src/store/tasks.ts";
import { expireLease, seedRun, unique } from "./seed.ts";

// The store's attempt-side functions, called directly, on both dialects: reading attempts, the
// lease cycle (acquire, heartbeat, fenced close), closing without a report, and the queue views.

let testDb: TestDatabase;
let db: Db;
beforeAll(async () => {
  testDb = await createTestDatabase();
  db = testDb.database.db;
});
afterAll(() => testDb.drop());

/** Leases every available attempt of `queue` to `holder`, oldest first. */
async function acquireAll(queue: string, holder = "w1", n = 10) {
  return taskAcquire(db, { queues: [queue], holders: Array.from({ length: n }, () => holder) });
}

describe("reading attempts", () => {
  it("reads an attempt, an instance's attempts, and the namespace of executions", async () => {
    const queue = unique("q");
    const { instance, tasks } = await seedRun(db, [queue, queue], { namespace: unique("ns") });
    const [t0, t1] = tasks.map((t) => t.executionId) as [string, string];
    const got = await taskGet(db, t0);
    expect(got).toMatchObject({
      executionId: t0,
      instanceId: instance.instanceId,
      taskId: "s0",
      kind: "DO",
      queue,
      attempt: 1,
      maxAttempts: 3,
    });
    expect(got).toMatchObject({
      state: "PENDING",
      leaseHolder: null,
      leaseExpiresAt: null,
      fenceToken: null,
      startedAt: null,
      finishedAt: null,
    });
    expect(got?.availableAt.getTime()).toBeLessThanOrEqual(Date.now() + 5_000);
    expect(await taskGet(db, crypto.randomUUID())).toBeNull();
    expect((await taskListByInstances(db, [instance.instanceId])).map((t) => t.executionId).sort()).toEqual([t0, t1].sort());
    expect(await taskListByInstances(db, [])).toEqual([]);
    expect(await taskNamespace(db, t0)).toBe(instance.namespace);
    expect(await taskNamespace(db, crypto.randomUUID())).toBeNull();
    const namespaces = await executionNamespaces(db, [t0, t0, t1, crypto.randomUUID()]);
    expect(namespaces).toEqual(
      new Map([
        [t0, instance.namespace],
        [t1, instance.namespace],
      ]),
    );
    expect(await executionNamespaces(db, [])).toEqual(new Map());
  });

  it("pages an instance's attempts in the order they were scheduled, with exact positions", async () => {
    const queue = unique("q");
    const { instance, tasks } = await seedRun(db, [queue, queue, queue]);
    // One creation time for all three: the execution id orders them.
    await sql`UPDATE task_executions SET created_at = '2026-12-02 10:00:00.000001+00' WHERE workflow_instance_id = ${instance.instanceId}`.execute(
      db,
    );
    const ordered = tasks.map((t) => t.executionId).sort();
    const page1 = await taskPageByInstance(db, { instanceId: instance.instanceId, limit: 2 });
    expect(page1.map((t) => t.executionId)).toEqual(ordered.slice(0, 2));
    expect(page1[0]?.position).toEqual({ createdAt: "2026-12-02T10:00:00.000001Z", id: ordered[0] });
    const page2 = await taskPageByInstance(db, { instanceId: instance.instanceId, after: page1[1]?.position, limit: 2 });
    expect(page2.map((t) => t.executionId)).toEqual(ordered.slice(2));
  });

  it("finds the attempt of a step that a holder has leased", async () => {
    const queue = unique("q");
    const { instance } = await seedRun(db, [queue]);
    const step = { instanceId: instance.instanceId, taskId: "s0", kind: "DO" as const };
    expect(await taskGetLeasedByStep(db, { ...step, holderId: "w1" })).toBeNull();
    const [leased] = await acquireAll(queue);
    expect((await taskGetLeasedByStep(db, { ...step, holderId: "w1" }))?.executionId).toBe(leased?.executionId);
    expect(await taskGetLeasedByStep(db, { ...step, holderId: "w2" })).toBeNull();
    expect(await taskGetLeasedByStep(db, { ...step, kind: "UNDO", holderId: "w1" })).toBeNull();
  });
});

describe("acquire", () => {
  it("leases the oldest available attempts across queues, the n-th holder's in slot n, each with a fresh fence", async () => {
    const [qa, qb] = [unique("q"), unique("q")];
    const { tasks: a } = await seedRun(db, [qa, qa]);
    const { tasks: b } = await seedRun(db, [qb]);
    // b's attempt became available first, then a's two (at one time: the execution id orders them).
    await sql`UPDATE task_leases SET available_at = now() - interval '1 minute' WHERE execution_id = ${b[0]?.executionId}`.execute(db);
    const [firstOfA, secondOfA] = a.map((t) => t.executionId).sort();
    const leased = await taskAcquire(db, { queues: [qa, qb], holders: ["w1", "w2"] });
    // Which of the chosen attempts goes to which holder: see the next test.
    expect(leased.map((t) => t.executionId).sort()).toEqual([b[0]?.executionId, firstOfA].sort());
    expect(leased.map((t) => [t.slot, t.leaseHolder]).sort()).toEqual([
      [0, "w1"],
      [1, "w2"],
    ]);
    for (const t of leased) {
      expect(t).toMatchObject({ state: "LEASED", namespace: "default", workflowName: expect.stringMatching(/^wf-/) });
      expect(t.leaseExpiresAt?.getTime()).toBeGreaterThan(t.startedAt?.getTime() as number);
    }
    expect(leased[1]?.fenceToken).toBeGreaterThan(leased[0]?.fenceToken as number);
    const [last] = await taskAcquire(db, { queues: [qa, qb], holders: ["w3", "w3"] });
    expect(last?.executionId).toBe(secondOfA);
    expect(await taskAcquire(db, { queues: [qa, qb], holders: ["w4"] })).toEqual([]);
  });

  it("gives the n-th oldest attempt to the n-th holder, in slot n", async () => {
    const [qa, qb] = [unique("q"), unique("q")];
    const { tasks: a } = await seedRun(db, [qa, qa]);
    const { tasks: b } = await seedRun(db, [qb]);
    // Oldest first: a's second attempt, then b's, then a's first.
    const age = (t: { executionId: string } | undefined, minutes: number) =>
      sql`UPDATE task_leases SET available_at = now() - make_interval(mins => ${minutes}) WHERE execution_id = ${t?.executionId}`.execute(
        db,
      );
    await age(a[1], 3);
    await age(b[0], 2);
    await age(a[0], 1);
    const leased = await taskAcquire(db, { queues: [qa, qb], holders: ["w1", "w2", "w3"] });
    expect(leased.map((t) => [t.slot, t.leaseHolder, t.executionId]).sort()).toEqual([
      [0, "w1", a[1]?.executionId],
      [1, "w2", b[0]?.executionId],
      [2, "w3", a[0]?.executionId],
    ]);
  });

  it("leases nothing for no holders or no queues, and only the named execution when one is named", async () => {
    const queue = unique("q");
    const { tasks } = await seedRun(db, [queue, queue]);
    expect(await taskAcquire(db, { queues: [queue], holders: [] })).toEqual([]);
    expect(await taskAcquire(db, { queues: [], holders: ["w1"] })).toEqual([]);
    const named = tasks[1]?.executionId as string;
    expect((await taskAcquire(db, { queues: [queue], holders: ["w1", "w1"], executionId: named })).map((t) => t.executionId)).toEqual([
      named,
    ]);
  });

  it("does not lease attempts waiting out a backoff or parked by a pause, and gives parked ones back on resume", async () => {
    const queue = unique("q");
    const { instance, tasks } = await seedRun(db, [queue]);
    expect(await taskParkPending(db, instance.instanceId, true)).toEqual([queue]);
    expect((await taskGet(db, tasks[0]?.executionId as string))?.availableAt.toISOString()).toBe("9999-01-01T00:00:00.000Z");
    expect(await acquireAll(queue)).toEqual([]);
    expect(await taskParkPending(db, instance.instanceId, false)).toEqual([queue]);
    expect(await acquireAll(queue)).toHaveLength(1);
    expect(await taskParkPending(db, instance.instanceId, true)).toEqual([]); // nothing pending is left to park
  });

  it.skipIf(onPglite)(
    "skips attempts another transaction has locked (SKIP LOCKED; PGlite has one session, so no second transaction)",
    async () => {
      const queue = unique("q");
      const { tasks } = await seedRun(db, [queue, queue]);
      const holder = await db.startTransaction().execute();
      try {
        await sql`SELECT 1 FROM task_leases WHERE execution_id = ${tasks[0]?.executionId} FOR UPDATE`.execute(holder);
        expect((await acquireAll(queue)).map((t) => t.executionId)).toEqual([tasks[1]?.executionId]);
      } finally {
        await holder.rollback().execute();
      }
    },
  );
});

describe("heartbeat and fenced close", () => {
  it("extends held leases and answers every refused item with the attempt as it stands, in item order", async () => {
    const queue = unique("q");
    await seedRun(db, [queue, queue]);
    const [a, b] = await acquireAll(queue);
    if (!a || !b) throw new Error("two leased");
    await expireLease(db, b.executionId);
    const unknown = crypto.randomUUID();
    const answers = await taskHeartbeatMany(db, [
      { executionId: a.executionId, workerId: "w1", fenceToken: a.fenceToken as number },
      { executionId: unknown, workerId: "w1", fenceToken: 1 },
      { executionId: b.executionId, workerId: "w1", fenceToken: b.fenceToken as number },
      { executionId: a.executionId, workerId: "w1", fenceToken: (a.fenceToken as number) - 1 },
    ]);
    expect(answers.map((x) => x.applied)).toEqual([true, false, false, false]);
    expect(answers[0]?.task?.leaseExpiresAt?.getTime()).toBeGreaterThanOrEqual(a.leaseExpiresAt?.getTime() as number);
    expect(answers[1]?.task).toBeNull();
    expect(answers[2]?.task).toMatchObject({ executionId: b.executionId, state: "LEASED", leaseHolder: "w1" });
    expect(answers[3]?.task?.fenceToken).toBe(a.fenceToken);
    expect(await taskHeartbeatMany(db, [])).toEqual([]);
  });

  it("closes leased attempts held with their fence, answers the refused ones, and carries JSON outcomes whole", async () => {
    const queue = unique("q");
    await seedRun(db, [queue, queue, queue]);
    const [a, b, c] = await acquireAll(queue);
    if (!a || !b || !c) throw new Error("three leased");
    await expireLease(db, c.executionId);
    const output = { text: "ok ✓ 🚀", nested: { list: [1, [2, [3]]], nothing: null } };
    const ref = (t: typeof a) => ({ executionId: t.executionId, workerId: "w1", fenceToken: t.fenceToken as number });
    const answers = await taskCloseIfLeased(db, [
      { ...ref(a), state: "COMPLETED", output, requireUnexpired: true },
      { ...ref(b), workerId: "someone-else", state: "COMPLETED", requireUnexpired: true },
      { ...ref(c), state: "FAILED", error: { message: "late" }, requireUnexpired: true },
      { executionId: crypto.randomUUID(), workerId: "w1", fenceToken: 1, state: "COMPLETED", requireUnexpired: true },
    ]);
    expect(answers.map((x) => x.applied)).toEqual([true, false, false, false]);
    expect(answers[0]?.task).toMatchObject({ state: "COMPLETED", output, leaseHolder: "w1", fenceToken: a.fenceToken });
    expect(answers[0]?.task?.finishedAt).toBeInstanceOf(Date);
    expect(answers[1]?.task).toMatchObject({ state: "LEASED", leaseHolder: "w1" });
    expect(answers[2]?.task).toMatchObject({ state: "LEASED" });
    expect(answers[3]?.task).toBeNull();
    expect((await taskGet(db, a.executionId))?.output).toEqual(output);

    // A release of unstarted work does not require the lease to be unexpired; exhaust makes it the last attempt.
    const [late] = await taskCloseIfLeased(db, [{ ...ref(c), state: "FAILED", error: null, exhaust: true, requireUnexpired: false }]);
    expect(late).toMatchObject({ applied: true, task: { state: "FAILED", error: null, maxAttempts: 1 } });
    expect(await taskCloseIfLeased(db, [])).toEqual([]);
  });

  it("acquires, extends and closes a batch of 1,000 leases in one statement each, answering every item in order", async () => {
    const queue = unique("q");
    await seedRun(
      db,
      Array.from({ length: 1000 }, () => queue),
    );
    const leased = await acquireAll(queue, "w1", 1000);
    expect(leased.map((t) => t.slot).sort((x, y) => x - y)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    const refs = leased.map((t) => ({ executionId: t.executionId, workerId: "w1", fenceToken: t.fenceToken as number }));
    // Every tenth item names a fence its lease never had: refused, the rest applied.
    const stale = (i: number) => i % 10 === 0;
    const beats = await taskHeartbeatMany(
      db,
      refs.map((r, i) => (stale(i) ? { ...r, fenceToken: r.fenceToken + 1_000_000 } : r)),
    );
    expect(beats.map((b) => b.applied)).toEqual(refs.map((_, i) => !stale(i)));
    expect(beats.map((b) => b.task?.executionId)).toEqual(refs.map((r) => r.executionId));
    const closes = await taskCloseIfLeased(
      db,
      refs.map((r, i) => ({ ...r, workerId: stale(i) ? "w2" : "w1", state: "COMPLETED" as const, output: { i }, requireUnexpired: true })),
    );
    expect(closes.map((c) => c.applied)).toEqual(refs.map((_, i) => !stale(i)));
    expect(closes.map((c) => c.task?.state)).toEqual(refs.map((_, i) => (stale(i) ? "LEASED" : "COMPLETED")));
    expect(closes[1]?.task?.output).toEqual({ i: 1 });
  });
});

describe("closing without a report", () => {
  it("cancels pending attempts, or pending and leased ones, and times out only expired leases", async () => {
    const queue = unique("q");
    const { tasks } = await seedRun(db, [queue, queue, queue, queue]);
    const ids = tasks.map((t) => t.executionId) as [string, string, string, string];
    const [l2, l3] = await taskAcquire(db, { queues: [queue], holders: ["w", "w"], executionId: ids[2] }).then(async (first) => [
      ...first,
      ...(await taskAcquire(db, { queues: [queue], holders: ["w"], executionId: ids[3] })),
    ]);
    if (!l2 || !l3) throw new Error("two leased");

    expect((await taskCancelPending(db, [ids[0], ids[2]])).map((t) => t.executionId)).toEqual([ids[0]]);
    expect(await taskTimeOutIfExpired(db, [ids[2], ids[3]])).toEqual([]);
    expect(await taskListExpired(db, [tasks[0]?.instanceId as string])).toEqual([]);
    await expireLease(db, ids[3]);
    expect(await taskListExpired(db, [tasks[0]?.instanceId as string])).toEqual([ids[3]]);
    const timedOut = await taskTimeOutIfExpired(db, [ids[2], ids[3]]);
    expect(timedOut).toHaveLength(1);
    expect(timedOut[0]).toMatchObject({ executionId: ids[3], state: "TIMED_OUT", error: { message: "lease expired" }, leaseHolder: "w" });
    const cancelled = await taskCancelMany(db, [ids[1], ids[2], ids[3]]);
    expect(cancelled.map((t) => [t.executionId, t.state]).sort()).toEqual(
      [
        [ids[1], "CANCELLED"],
        [ids[2], "CANCELLED"],
      ].sort(),
    );
    expect(cancelled.find((t) => t.executionId === ids[2])).toMatchObject({ leaseHolder: "w", fenceToken: l2.fenceToken });
    expect(await taskCancelMany(db, [])).toEqual([]);
    expect(await taskListExpired(db, [])).toEqual([]);
  });
});

describe("queue views and wakes", () => {
  it("counts open attempts by queue and lease holder, within namespaces when given", async () => {
    const queue = unique("q");
    const namespace = unique("ns");
    await seedRun(db, [queue, queue, queue], { namespace });
    const { instance: waiting } = await seedRun(db, [queue], { namespace });
    await taskParkPending(db, waiting.instanceId, true);
    await taskAcquire(db, { queues: [queue], holders: ["w1"] });
    const load = (await queueLoadList(db, { namespaces: [namespace] })).find((r) => r.queue === queue);
    expect(load).toMatchObject({ queue, ready: 2, waiting: 1, leased: 1 });
    expect(load?.nextLeaseExpiry).toBeInstanceOf(Date);
    expect((await queueLoadList(db)).find((r) => r.queue === queue)).toEqual(load);
    expect(await queueLoadList(db, { namespaces: [] })).toEqual([]);
    expect(await queueLoadList(db, { namespaces: [unique("ns")] })).toEqual([]);
    const holders = (await leaseHolderList(db, { namespaces: [namespace] })).filter((r) => r.queue === queue);
    expect(holders).toEqual([{ holder: "w1", queue, leased: 1, nextLeaseExpiry: load?.nextLeaseExpiry }]);
    expect((await leaseHolderList(db)).filter((r) => r.queue === queue)).toEqual(holders);
    expect(await leaseHolderList(db, { namespaces: [] })).toEqual([]);
  });

  it("writes one wake per queue, the soonest, and reads it back", () => {
    expect(queueWakePayloads([])).toEqual([]);
    const payloads = queueWakePayloads([
      { queue: "a", delayMs: 500 },
      { queue: "a", delayMs: 100 },
      { queue: "b@x", delayMs: 0 },
    ]);
    expect(payloads).toEqual(["a@100", "b@x"]);
    expect(payloads.map(parseQueueWake)).toEqual([
      { queue: "a", delayMs: 100 },
      { queue: "b@x", delayMs: 0 },
    ]);
    // A dispatcher that woke its own waiters names itself, and skips its own wake-up.
    const named = queueWakePayloads(
      [
        { queue: "a", delayMs: 100 },
        { queue: "c", delayMs: 0 },
      ],
      "0f3a9c",
    );
    expect(named).toEqual(["a@100#0f3a9c", "c#0f3a9c"]);
    expect(named.map(parseQueueWake)).toEqual([
      { queue: "a", delayMs: 100, sender: "0f3a9c" },
      { queue: "c", delayMs: 0, sender: "0f3a9c" },
    ]);
  });
});
