import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, onPglite, type TestDatabase } from "../../../../test-support/database.ts";
import type { Db } from "../../src/db/database.ts";
import { changeWrite, startWrite } from "../../src/store/change-writes.ts";
import {
  definitionGet,
  definitionInsert,
  definitionLatestVersion,
  definitionListLatest,
  definitionListVersions,
  definitionLockName,
  definitionPageLatest,
} from "../../src/store/definitions.ts";
import { eventPageByInstance, reportKeysApplied, unpackHistory } from "../../src/store/events.ts";
import { eventListForRelay, eventRelayHorizon } from "../../src/store/events-relay.ts";
import {
  instanceCountByState,
  instanceGet,
  instanceList,
  instanceListByIds,
  instanceListByRunIds,
  instanceListStanding,
  instanceLock,
  instanceLockByExecutions,
  instanceLockPastDeadline,
  instanceLockWithExpiredLeases,
  instanceNamespace,
} from "../../src/store/instances.ts";
import { instancePruneFinished } from "../../src/store/retention.ts";
import { taskAcquire } from "../../src/store/task-leases.ts";
import { TASK_CHANNEL, taskListByInstances } from "../../src/store/tasks.ts";
import { expireLease, newInstance, newTask, seedDefinition, seedRun, startedEvent, unique } from "./seed.ts";

// The store's instance-side functions, called directly, on both dialects: definitions, starts and
// changes, instances, history and the relay's reads, retention.

let testDb: TestDatabase;
let db: Db;
beforeAll(async () => {
  testDb = await createTestDatabase();
  db = testDb.database.db;
});
afterAll(() => testDb.drop());

/** JSON a dialect could get wrong: non-ASCII and astral characters, escapes, deep nesting, a large string, extreme numbers. */
const awkwardJson = {
  text: 'Zürich — 東京 🚀 \u2028 "quoted" \\ back\tslash\n',
  nested: JSON.parse(`${"[".repeat(60)}{"deep":true}${"]".repeat(60)}`) as unknown,
  large: "x".repeat(300_000),
  numbers: [0, -1, 1.5, 1e300, -1e-300, Number.MAX_SAFE_INTEGER],
  empty: { list: [], object: {}, string: "" },
  nothing: null,
};

describe("definitions", () => {
  it("inserts versions and reads the latest, one version, or none", async () => {
    const definition = await seedDefinition(db);
    const v2 = await definitionInsert(db, { ...definition, description: "zweite Fassung ✓" }, 2);
    expect(v2.createdAt).toBeInstanceOf(Date);
    expect((await definitionGet(db, definition.namespace, definition.name))?.version).toBe(2);
    expect((await definitionGet(db, definition.namespace, definition.name))?.definition.description).toBe("zweite Fassung ✓");
    expect((await definitionGet(db, definition.namespace, definition.name, 1))?.definition).toEqual(definition);
    expect(await definitionGet(db, definition.namespace, definition.name, 3)).toBeNull();
    expect(await definitionGet(db, "elsewhere", definition.name)).toBeNull();
    expect(await definitionLatestVersion(db, definition.namespace, definition.name)).toBe(2);
    expect(await definitionLatestVersion(db, definition.namespace, unique("none"))).toBeNull();
  });

  it("refuses a version that is stored already", async () => {
    const definition = await seedDefinition(db);
    await expect(definitionInsert(db, definition, 1)).rejects.toThrow();
  });

  it("lists every version, oldest first, and pages the latest of each by namespace and name", async () => {
    const namespace = unique("ns");
    const [a, b, c] = [await seedDefinition(db, namespace), await seedDefinition(db, namespace), await seedDefinition(db, namespace)];
    if (!a || !b || !c) throw new Error("three definitions");
    await definitionInsert(db, b, 2);
    const versions = (await definitionListVersions(db)).filter((k) => k.namespace === namespace);
    expect(versions).toEqual([
      { namespace, name: a.name, version: 1 },
      { namespace, name: b.name, version: 1 },
      { namespace, name: c.name, version: 1 },
      { namespace, name: b.name, version: 2 },
    ]);
    const names = [a.name, b.name, c.name].sort();
    const latest = await definitionListLatest(db, namespace);
    expect(latest.map((d) => [d.name, d.version])).toEqual(names.map((n) => [n, n === b.name ? 2 : 1]));
    const first = await definitionPageLatest(db, { namespace, limit: 2 });
    expect(first.map((d) => d.name)).toEqual(names.slice(0, 2));
    const rest = await definitionPageLatest(db, { namespace, after: { namespace, name: names[1] as string }, limit: 2 });
    expect(rest.map((d) => d.name)).toEqual(names.slice(2));
    expect((await definitionListLatest(db)).some((d) => d.namespace === namespace)).toBe(true);
  });

  it("takes the per-name advisory lock inside a transaction", async () => {
    await db.transaction().execute(async (trx) => {
      await definitionLockName(trx, "default", "locked");
      await definitionLockName(trx, "default", "locked"); // re-entrant for its own transaction
    });
  });
});

describe("starts and changes", () => {
  it("starts instances with their attempts and history, and skips a run id that exists, with all its rows", async () => {
    const definition = await seedDefinition(db);
    const queue = unique("q");
    const first = newInstance(definition, { input: awkwardJson, timeoutMs: 60_000 });
    const task = newTask(first.instanceId, queue, { input: awkwardJson });
    const started = await startWrite(db, {
      instances: [first],
      tasks: [task],
      history: [startedEvent(first)],
      wakes: [{ queue, delayMs: 0 }],
    });
    expect([...started.inserted]).toEqual([first.instanceId]);
    expect(started.leased.size).toBe(0);

    const stored = await instanceGet(db, first.instanceId);
    expect(stored).toMatchObject({
      state: "RUNNING",
      input: awkwardJson,
      output: null,
      error: null,
      compensateFrom: null,
      sequenceNumber: 1,
    });
    expect(stored?.createdAt).toBeInstanceOf(Date);
    expect((await taskListByInstances(db, [first.instanceId]))[0]).toMatchObject({ state: "PENDING", input: awkwardJson, queue });

    // The same run id again, in a batch with a new one: only the new one and its rows are written.
    const again = newInstance(definition, { runId: first.runId });
    const other = newInstance(definition);
    const second = await startWrite(db, {
      instances: [again, other],
      tasks: [newTask(again.instanceId, queue), newTask(other.instanceId, queue)],
      history: [startedEvent(again), startedEvent(other)],
      wakes: [],
    });
    expect([...second.inserted]).toEqual([other.instanceId]);
    expect(await instanceGet(db, again.instanceId)).toBeNull();
    expect(await taskListByInstances(db, [again.instanceId])).toEqual([]);
    expect(await eventPageByInstance(db, { instanceId: again.instanceId, after: 0, limit: 10 })).toEqual([]);
    expect(
      (await instanceListByRunIds(db, { namespace: "default", workflowName: definition.name, runIds: [first.runId] }))[0]?.instanceId,
    ).toBe(first.instanceId);
    expect(await instanceListByRunIds(db, { namespace: "default", workflowName: definition.name, runIds: [] })).toEqual([]);
  });

  it("starts nothing from an empty batch", async () => {
    expect((await startWrite(db, { instances: [], tasks: [], history: [], wakes: [] })).inserted.size).toBe(0);
  });

  it("inserts a handed-off attempt already leased to its worker, with a fresh fence, and nothing for a run that existed", async () => {
    const definition = await seedDefinition(db);
    const queue = unique("q");
    const first = newInstance(definition);
    const handed = newTask(first.instanceId, queue, { taskId: "a" });
    const pending = newTask(first.instanceId, queue, { taskId: "b" });
    const started = await startWrite(
      db,
      { instances: [first], tasks: [handed, pending], history: [startedEvent(first)], wakes: [] },
      undefined,
      new Map([[handed.executionId, "worker-1"]]),
    );
    expect([...started.inserted]).toEqual([first.instanceId]);
    const lease = started.leased.get(handed.executionId);
    expect(lease?.fenceToken).toBeGreaterThan(0);
    expect(lease?.leaseExpiresAt.getTime()).toBeGreaterThan(Date.now() + 25_000);
    expect([...started.leased.keys()]).toEqual([handed.executionId]);
    const attempts = await taskListByInstances(db, [first.instanceId]);
    expect(attempts.find((t) => t.taskId === "a")).toMatchObject({
      state: "LEASED",
      leaseHolder: "worker-1",
      fenceToken: lease?.fenceToken,
    });
    expect(attempts.find((t) => t.taskId === "b")).toMatchObject({ state: "PENDING", leaseHolder: null, fenceToken: null });
    // An acquire finds only the attempt that was not handed off.
    const acquired = await taskAcquire(db, { queues: [queue], holders: ["worker-2", "worker-2"] });
    expect(acquired.map((t) => t.taskId)).toEqual(["b"]);

    const again = newInstance(definition, { runId: first.runId });
    const repeat = newTask(again.instanceId, queue);
    const second = await startWrite(
      db,
      { instances: [again], tasks: [repeat], history: [startedEvent(again)], wakes: [] },
      undefined,
      new Map([[repeat.executionId, "worker-1"]]),
    );
    expect(second.inserted.size).toBe(0);
    expect(second.leased.size).toBe(0);
  });

  it("wakes the queues of new work over NOTIFY, the soonest per queue", async () => {
    const queue = unique("q");
    const payloads: string[] = [];
    const unlisten = await testDb.database.listen(TASK_CHANNEL, (p) => payloads.push(p));
    try {
      const definition = await seedDefinition(db);
      const instance = newInstance(definition);
      const wakes = [
        { queue, delayMs: 500 },
        { queue, delayMs: 0 },
        { queue: `${queue}.later`, delayMs: 250 },
      ];
      await startWrite(db, { instances: [instance], tasks: [], history: [startedEvent(instance)], wakes });
      await expect.poll(() => payloads.filter((p) => p.startsWith(queue)).sort()).toEqual([queue, `${queue}.later@250`]);
    } finally {
      await unlisten();
    }
  });

  it("refuses a NUL character in JSON as the caller's input", async () => {
    const definition = await seedDefinition(db);
    const instance = newInstance(definition, { input: { text: "a\u0000b" } });
    await expect(startWrite(db, { instances: [instance], tasks: [], history: [], wakes: [] })).rejects.toMatchObject({
      code: "VALIDATION_ERROR",
    });
  });

  it("writes a change guarded by the sequence it read, and refuses one whose instance moved", async () => {
    const { instance, tasks } = await seedRun(db, [unique("q")]);
    const write = {
      instanceId: instance.instanceId,
      expectedSequence: 1,
      sequenceNumber: 3,
      state: "COMPLETED" as const,
      output: { done: "✓" },
      error: null,
      compensateFrom: null,
    };
    const retry = newTask(instance.instanceId, unique("q"), { attempt: 2 });
    const events = [
      { type: "A", payload: {} },
      { type: "B", payload: { n: 1 } },
    ];
    const history = (sequenceNumber: number) => [{ instanceId: instance.instanceId, sequenceNumber, events }];
    await db.transaction().execute((trx) => changeWrite(trx, { tasks: [retry], history: history(2), instances: [write], wakes: [] }));
    expect(await instanceGet(db, instance.instanceId)).toMatchObject({ state: "COMPLETED", output: { done: "✓" }, sequenceNumber: 3 });
    expect((await taskListByInstances(db, [instance.instanceId])).map((t) => t.executionId)).toEqual([
      tasks[0]?.executionId,
      retry.executionId,
    ]);

    // Read at sequence 1 again: the instance is at 3 now.
    const staleChange = { tasks: [], history: history(4), instances: [write], wakes: [] };
    const stale = db.transaction().execute((trx) => changeWrite(trx, staleChange));
    await expect(stale).rejects.toMatchObject({ code: "CONCURRENT_UPDATE", details: { instanceIds: [instance.instanceId] } });
    expect((await eventPageByInstance(db, { instanceId: instance.instanceId, after: 0, limit: 10 })).map((e) => e.sequenceNumber)).toEqual([
      1, 2, 3,
    ]);
  });
});

describe("instances", () => {
  it("answers null for an unknown id and VALIDATION_ERROR for one that is not a UUID", async () => {
    expect(await instanceGet(db, crypto.randomUUID())).toBeNull();
    expect(await instanceNamespace(db, crypto.randomUUID())).toBeNull();
    await expect(instanceGet(db, "not-a-uuid")).rejects.toMatchObject({ code: "VALIDATION_ERROR" });
  });

  it("reads timestamps as the same instant whatever the session's time zone, to the millisecond, truncated", async () => {
    const { instance } = await seedRun(db, []);
    await sql`UPDATE workflow_instances SET created_at = '2026-12-02 14:11:59.123999+00' WHERE instance_id = ${instance.instanceId}`.execute(
      db,
    );
    expect((await instanceGet(db, instance.instanceId))?.createdAt.toISOString()).toBe("2026-12-02T14:11:59.123Z");
    await db.transaction().execute(async (trx) => {
      await sql`SET LOCAL TIME ZONE 'Asia/Kathmandu'`.execute(trx); // +05:45
      expect((await instanceGet(trx, instance.instanceId))?.createdAt.toISOString()).toBe("2026-12-02T14:11:59.123Z");
      const [listed] = await instanceList(trx, { workflowName: instance.workflowName, limit: 1 });
      expect(listed?.position.createdAt).toBe("2026-12-02T14:11:59.123999Z");
    });
  });

  it("lists newest first in pages that lose no row created in the same millisecond", async () => {
    const definition = await seedDefinition(db);
    const instances = [newInstance(definition), newInstance(definition), newInstance(definition, { state: "COMPLETED" })];
    await startWrite(db, { instances, tasks: [], history: [], wakes: [] });
    // Microseconds apart: a cursor at millisecond precision would skip one.
    await sql`UPDATE workflow_instances SET created_at = '2026-12-02 10:00:00.000001+00'::timestamptz + (instance_id = ${instances[0]?.instanceId})::int * interval '1 microsecond'
              WHERE workflow_name = ${definition.name}`.execute(db);
    const all = await instanceList(db, { workflowName: definition.name, limit: 10 });
    expect(all).toHaveLength(3);
    expect(all[0]?.instanceId).toBe(instances[0]?.instanceId);
    expect(all[0]?.position.createdAt).toBe("2026-12-02T10:00:00.000002Z");
    const page1 = await instanceList(db, { workflowName: definition.name, limit: 2 });
    const page2 = await instanceList(db, { workflowName: definition.name, limit: 2, after: page1[1]?.position });
    expect([...page1, ...page2].map((i) => i.instanceId)).toEqual(all.map((i) => i.instanceId));
    expect((await instanceList(db, { workflowName: definition.name, state: "COMPLETED", limit: 10 })).map((i) => i.instanceId)).toEqual([
      instances[2]?.instanceId,
    ]);
    expect(await instanceList(db, { namespace: unique("ns"), limit: 10 })).toEqual([]);
  });

  it("reads instances by id, with their standing, and counts them by state", async () => {
    const { instance: a } = await seedRun(db, []);
    const { instance: b } = await seedRun(db, [], { state: "FAILED", error: { reason: "STEP_FAILED", step: "s0", message: "ünïcode" } });
    const ids = [a.instanceId, b.instanceId, crypto.randomUUID()];
    expect((await instanceListByIds(db, ids)).map((i) => i.instanceId)).toEqual([a.instanceId, b.instanceId].sort());
    expect(await instanceListByIds(db, [])).toEqual([]);
    const standing = await instanceListStanding(db, ids);
    expect(standing).toHaveLength(2);
    expect(standing.find((s) => s.instanceId === b.instanceId)).toEqual({
      instanceId: b.instanceId,
      state: "FAILED",
      output: null,
      error: { reason: "STEP_FAILED", step: "s0", message: "ünïcode" },
    });
    expect(await instanceListStanding(db, [])).toEqual([]);
    expect(await instanceNamespace(db, a.instanceId)).toBe("default");
    const counts = await instanceCountByState(db);
    expect(counts.RUNNING).toBeGreaterThanOrEqual(1);
    expect(counts.FAILED).toBeGreaterThanOrEqual(1);
  });

  it("locks an instance, and the instances of executions in id order", async () => {
    const { instance: a, tasks: ta } = await seedRun(db, [unique("q")]);
    const { instance: b, tasks: tb } = await seedRun(db, [unique("q")]);
    await db.transaction().execute(async (trx) => {
      expect((await instanceLock(trx, a.instanceId))?.instanceId).toBe(a.instanceId);
      expect(await instanceLock(trx, crypto.randomUUID())).toBeNull();
      const ids = [tb[0]?.executionId, ta[0]?.executionId, crypto.randomUUID()] as string[];
      expect((await instanceLockByExecutions(trx, ids)).map((i) => i.instanceId)).toEqual([a.instanceId, b.instanceId].sort());
      expect(await instanceLockByExecutions(trx, [])).toEqual([]);
    });
  });

  it("locks instances with expired leases, leaving out those skipped or not asked for", async () => {
    const queue = unique("q");
    const { instance: a } = await seedRun(db, [queue]);
    const { instance: b } = await seedRun(db, [queue]);
    for (const t of await taskAcquire(db, { queues: [queue], holders: ["w", "w"] })) await expireLease(db, t.executionId);
    const mine = (rows: { instanceId: string }[]) =>
      rows.map((r) => r.instanceId).filter((id) => id === a.instanceId || id === b.instanceId);
    await db.transaction().execute(async (trx) => {
      expect(mine(await instanceLockWithExpiredLeases(trx, { limit: 1000, skip: [] }))).toEqual([a.instanceId, b.instanceId].sort());
      expect(mine(await instanceLockWithExpiredLeases(trx, { limit: 1000, skip: [a.instanceId] }))).toEqual([b.instanceId]);
      expect(mine(await instanceLockWithExpiredLeases(trx, { limit: 1000, skip: [], only: [b.instanceId] }))).toEqual([b.instanceId]);
      expect(await instanceLockWithExpiredLeases(trx, { limit: 1000, skip: [], only: [] })).toEqual([]);
    });
  });

  it("locks runs past their deadline that still run or are paused", async () => {
    const { instance: late } = await seedRun(db, [], { timeoutMs: -60_000 });
    const { instance: inTime } = await seedRun(db, [], { timeoutMs: 60_000 });
    const { instance: done } = await seedRun(db, [], { timeoutMs: -60_000, state: "COMPLETED" });
    await db.transaction().execute(async (trx) => {
      const ids = (await instanceLockPastDeadline(trx, 1000)).map((i) => i.instanceId);
      expect(ids).toContain(late.instanceId);
      expect(ids).not.toContain(inTime.instanceId);
      expect(ids).not.toContain(done.instanceId);
    });
  });

  it.skipIf(onPglite)(
    "skips instances another transaction holds (SKIP LOCKED; PGlite has one session, so no second transaction)",
    async () => {
      const { instance } = await seedRun(db, [], { timeoutMs: -60_000 });
      const holder = await db.startTransaction().execute();
      try {
        await instanceLock(holder, instance.instanceId);
        await db.transaction().execute(async (trx) => {
          expect((await instanceLockPastDeadline(trx, 1000)).map((i) => i.instanceId)).not.toContain(instance.instanceId);
        });
      } finally {
        await holder.rollback().execute();
      }
    },
  );
});

describe("history", () => {
  it("pages one instance's events across commits, from any event", async () => {
    const { instance } = await seedRun(db, []);
    const events = (n: number) => Array.from({ length: n }, (_, i) => ({ type: `E${i}`, payload: { i, text: "é🚀" } }));
    const write = (expectedSequence: number, sequenceNumber: number, n: number) =>
      db.transaction().execute((trx) =>
        changeWrite(trx, {
          tasks: [],
          history: [{ instanceId: instance.instanceId, sequenceNumber: expectedSequence + 1, events: events(n) }],
          instances: [
            {
              instanceId: instance.instanceId,
              expectedSequence,
              sequenceNumber,
              state: "RUNNING",
              output: null,
              error: null,
              compensateFrom: null,
            },
          ],
          wakes: [],
        }),
      );
    await write(1, 4, 3); // events 2..4 in one row
    await write(4, 6, 2); // events 5..6
    const all = await eventPageByInstance(db, { instanceId: instance.instanceId, after: 0, limit: 100 });
    expect(all.map((e) => e.sequenceNumber)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(all[1]).toMatchObject({ eventType: "E0", payload: { i: 0, text: "é🚀" } });
    expect((await eventPageByInstance(db, { instanceId: instance.instanceId, after: 2, limit: 3 })).map((e) => e.sequenceNumber)).toEqual([
      3, 4, 5,
    ]);
    expect(await eventPageByInstance(db, { instanceId: instance.instanceId, after: 6, limit: 3 })).toEqual([]);
    expect(await eventPageByInstance(db, { instanceId: crypto.randomUUID(), after: 0, limit: 3 })).toEqual([]);
  });

  it("remembers the reports that named themselves", async () => {
    const { instance } = await seedRun(db, []);
    const key = unique("report");
    await db.transaction().execute((trx) =>
      changeWrite(trx, {
        tasks: [],
        history: [{ instanceId: instance.instanceId, sequenceNumber: 2, events: [{ type: "A", payload: {}, idempotencyKey: key }] }],
        instances: [
          {
            instanceId: instance.instanceId,
            expectedSequence: 1,
            sequenceNumber: 2,
            state: "RUNNING",
            output: null,
            error: null,
            compensateFrom: null,
          },
        ],
        wakes: [],
      }),
    );
    expect(await reportKeysApplied(db, [key, unique("other")])).toEqual(new Set([key]));
    expect(await reportKeysApplied(db, [])).toEqual(new Set());
  });

  it("unpacks a history row into numbered events", () => {
    const rows = [
      {
        sequence_number: "7",
        entries: [
          { type: "A", payload: {} },
          { type: "B", payload: {} },
        ],
      },
    ];
    expect(unpackHistory(rows).map((e) => [e.sequenceNumber, e.entry.type])).toEqual([
      [7, "A"],
      [8, "B"],
    ]);
  });

  it("relays events after a position and at the gaps it was told of, with their instance's identity", async () => {
    expect(await eventRelayHorizon(db)).toMatch(/^\d+$/);
    const { instance } = await seedRun(db, []);
    const { instance: second } = await seedRun(db, []);
    const everything = await eventListForRelay(db, { after: "0", gaps: [], limit: 100_000 });
    const mine = everything.events.find((e) => e.instanceId === instance.instanceId);
    const next = everything.events.find((e) => e.instanceId === second.instanceId);
    if (!mine || !next) throw new Error("both starts relayed");
    expect(mine).toMatchObject({
      namespace: "default",
      workflowName: instance.workflowName,
      runId: instance.runId,
      sequenceNumber: 1,
      eventType: "WORKFLOW_STARTED",
    });
    expect(mine.position).toMatch(/^\d+$/);
    expect(mine.createdAt).toBeInstanceOf(Date);
    // Another transaction's xids may be in progress on a shared server; PGlite has none.
    expect(everything.inProgressUpTo === null || /^\d+$/.test(everything.inProgressUpTo)).toBe(true);

    const afterMine = await eventListForRelay(db, { after: mine.position, gaps: [], limit: 100_000 });
    expect(afterMine.events.map((e) => e.instanceId)).not.toContain(instance.instanceId);
    const withGap = await eventListForRelay(db, { after: next.position, gaps: [mine.position], limit: 100_000 });
    expect(withGap.events[0]?.position).toBe(mine.position);
    const end = await eventListForRelay(db, { after: "9223372036854775806", gaps: [], limit: 10 });
    expect(end.events).toEqual([]);
  });
});

describe("retention", () => {
  it("deletes finished instances older than the cutoff, with every row they own, and leaves the rest", async () => {
    const queue = unique("q");
    const { instance: old } = await seedRun(db, [queue], { state: "COMPLETED" });
    const { instance: running } = await seedRun(db, [queue]);
    const { instance: recent } = await seedRun(db, [queue], { state: "FAILED" });
    await sql`UPDATE workflow_instances SET created_at = now() - interval '2 hours', updated_at = now() - interval '2 hours'
              WHERE instance_id IN (${old.instanceId}, ${running.instanceId})`.execute(db);
    const pruned = await instancePruneFinished(db, { olderThanMs: 3_600_000, batch: 1000 });
    expect(pruned).toBeGreaterThanOrEqual(1);
    expect(await instanceGet(db, old.instanceId)).toBeNull();
    expect(await taskListByInstances(db, [old.instanceId])).toEqual([]);
    const { rows } = await sql<{
      n: number;
    }>`SELECT count(*)::int AS n FROM task_leases WHERE workflow_instance_id = ${old.instanceId}`.execute(db);
    expect(rows[0]?.n).toBe(0);
    expect(await instanceGet(db, running.instanceId)).not.toBeNull();
    expect(await instanceGet(db, recent.instanceId)).not.toBeNull();
    expect(await instancePruneFinished(db, { olderThanMs: 3_600_000, batch: 1000 })).toBe(0);
  });
});
