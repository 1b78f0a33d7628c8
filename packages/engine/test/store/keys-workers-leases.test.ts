import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../../../test-support/database.ts";
import type { Db } from "../../src/db/database.ts";
import { apiKeyActiveCount, apiKeyGet, apiKeyInsert, apiKeyList, apiKeyRevoke } from "../../src/store/api-keys.ts";
import { leaseAcquireOrRenew, leaseGet, leaseRelease, leaseWriteCursorIfHeld } from "../../src/store/leases.ts";
import { queueClaim, queueOwners } from "../../src/store/queue-owners.ts";
import {
  registrationChangeInsert,
  registrationChangePage,
  registrationGetForUpdate,
  registrationInsertIfNew,
  registrationListByWorkflows,
  registrationPage,
  registrationTouchByStep,
  registrationUpdate,
} from "../../src/store/service-registrations.ts";
import { workerList, workerListRecentByQueues, workerPage, workerPruneStale, workerRecordPoll } from "../../src/store/workers.ts";
import { seedRun, unique } from "./seed.ts";

// The store's functions beside the workflows, called directly, on both dialects: API keys and
// queue owners, workers' polls, services' registrations, named leases.

let testDb: TestDatabase;
let db: Db;
beforeAll(async () => {
  testDb = await createTestDatabase();
  db = testDb.database.db;
});
afterAll(() => testDb.drop());

/** Moves a table's timestamps for these rows back by `seconds`. */
async function age(table: "worker_heartbeats" | "execution_leases", column: string, seconds: number, where: ReturnType<typeof sql>) {
  await sql`UPDATE ${sql.table(table)} SET ${sql.ref(column)} = now() - ${seconds} * interval '1 second' WHERE ${where}`.execute(db);
}

describe("API keys and queue owners", () => {
  it("inserts a key once, reads it back with empty lists intact, and revokes it once", async () => {
    const keyId = unique("key");
    const key = { keyId, name: "Sören's key ✓", role: "worker" as const, namespaces: [], queues: ["q.é", "q.b"], secretHash: "hash" };
    const before = await apiKeyActiveCount(db);
    expect(await apiKeyInsert(db, key)).toBe(true);
    expect(await apiKeyInsert(db, { ...key, name: "other" })).toBe(false);
    const stored = await apiKeyGet(db, keyId);
    expect(stored).toMatchObject({ ...key, revokedAt: null });
    expect(stored?.createdAt).toBeInstanceOf(Date);
    expect(await apiKeyActiveCount(db)).toBe(before + 1);
    expect((await apiKeyList(db)).find((k) => k.keyId === keyId)).toEqual(stored);

    const revoked = await apiKeyRevoke(db, keyId);
    expect(revoked?.revokedAt).toBeInstanceOf(Date);
    expect((await apiKeyRevoke(db, keyId))?.revokedAt).toEqual(revoked?.revokedAt); // the first revocation stands
    expect(await apiKeyActiveCount(db)).toBe(before);
    expect(await apiKeyRevoke(db, unique("none"))).toBeNull();
    expect(await apiKeyGet(db, unique("none"))).toBeNull();
  });

  it("claims queues nobody owns and answers those another namespace owns", async () => {
    const [q1, q2] = [unique("q"), unique("q")];
    expect(await queueClaim(db, "ns-a", [q1, q1])).toEqual([]);
    expect(await queueClaim(db, "ns-b", [q1, q2])).toEqual([q1]);
    expect(await queueClaim(db, "ns-a", [q1])).toEqual([]);
    expect(await queueOwners(db, [q1, q2, unique("q")])).toEqual(
      new Map([
        [q1, "ns-a"],
        [q2, "ns-b"],
      ]),
    );
    expect(await queueClaim(db, "ns-a", [])).toEqual([]);
    expect(await queueOwners(db, [])).toEqual(new Map());
  });
});

describe("workers' polls", () => {
  it("records polls once per worker and queue, and lists them with whether they are recent", async () => {
    const [w, q] = [unique("w"), unique("q")];
    const [w1, w2, qa, qb] = [`${w}-1`, `${w}-2`, `${q}-a`, `${q}-b`];
    await workerRecordPoll(db, w1, [qa, qa, qb]);
    await workerRecordPoll(db, w1, [qa]);
    await workerRecordPoll(db, w2, [qa]);
    await workerRecordPoll(db, w2, []);
    await age("worker_heartbeats", "last_seen_at", 120, sql`worker_id = ${w2}`);
    const mine = (await workerList(db, 60_000)).filter((r) => r.workerId === w1 || r.workerId === w2);
    expect(mine.map((r) => [r.workerId, r.queue, r.recent])).toEqual([
      [w1, qa, true],
      [w1, qb, true],
      [w2, qa, false],
    ]);
    expect(mine[0]?.lastSeenAt).toBeInstanceOf(Date);
    expect(await workerListRecentByQueues(db, { queues: [qa, qb, qa], recentMs: 60_000 })).toEqual([
      { workerId: w1, queue: qa },
      { workerId: w1, queue: qb },
    ]);
    expect(await workerListRecentByQueues(db, { queues: [], recentMs: 60_000 })).toEqual([]);
  });

  it("pages workers by id with all their queues", async () => {
    const prefix = unique("page");
    const ids = [`${prefix}-1`, `${prefix}-2`, `${prefix}-3`];
    for (const id of ids) await workerRecordPoll(db, id, ["qa", "qb"]);
    const first = await workerPage(db, { recentMs: 60_000, after: `${prefix}-0`, limit: 2 });
    expect(first.map((r) => [r.workerId, r.queue])).toEqual([
      [ids[0], "qa"],
      [ids[0], "qb"],
      [ids[1], "qa"],
      [ids[1], "qb"],
    ]);
    const next = await workerPage(db, { recentMs: 60_000, after: ids[1], limit: 1 });
    expect(next.map((r) => r.workerId)).toEqual([ids[2], ids[2]]);
    expect((await workerPage(db, { recentMs: 60_000, limit: 1_000_000 })).length).toBeGreaterThanOrEqual(6);
  });

  it("prunes polls not renewed for a while, in batches", async () => {
    const worker = unique("stale");
    await workerRecordPoll(db, worker, ["qa", "qb", "qc"]);
    await age("worker_heartbeats", "last_seen_at", 3600, sql`worker_id = ${worker}`);
    expect(await workerPruneStale(db, { olderThanMs: 1_800_000, batch: 2 })).toBe(2);
    expect(await workerPruneStale(db, { olderThanMs: 1_800_000, batch: 2 })).toBe(1);
    expect(await workerPruneStale(db, { olderThanMs: 1_800_000, batch: 2 })).toBe(0);
  });
});

describe("services' registrations", () => {
  it("inserts a registration once, locks it, changes it, and keeps its audit trail", async () => {
    const key = { namespace: unique("ns"), workflow: "wf", service: "billing" };
    const inserted = await registrationInsertIfNew(db, { ...key, steps: ["charge", "refund"], queues: [], transport: "http" });
    expect(inserted).toMatchObject({ ...key, steps: ["charge", "refund"], queues: [], transport: "http" });
    expect(inserted?.firstRegisteredAt.getTime()).toBe(inserted?.lastRegisteredAt.getTime());
    expect(await registrationInsertIfNew(db, { ...key, steps: [], queues: [], transport: "kafka" })).toBeNull();
    await db.transaction().execute(async (trx) => {
      expect(await registrationGetForUpdate(trx, key)).toEqual(inserted);
      expect(await registrationGetForUpdate(trx, { ...key, service: "nobody" })).toBeNull();
      const updated = await registrationUpdate(trx, { ...key, steps: ["charge"], queues: ["q.é"], transport: "kafka" });
      expect(updated).toMatchObject({
        steps: ["charge"],
        queues: ["q.é"],
        transport: "kafka",
        firstRegisteredAt: inserted?.firstRegisteredAt,
      });
    });
    const by = { byKeyId: null, byName: "Ops ✓" };
    await registrationChangeInsert(db, {
      ...key,
      change: "created",
      steps: ["charge", "refund"],
      stepsAdded: ["charge", "refund"],
      transport: "http",
      transportBefore: null,
      ...by,
    });
    await registrationChangeInsert(db, {
      ...key,
      change: "changed",
      steps: ["charge"],
      stepsAdded: [],
      transport: "kafka",
      transportBefore: "http",
      ...by,
    });
    const trail = await registrationChangePage(db, { namespace: key.namespace, limit: 10 });
    expect(trail.map((c) => [c.change, c.stepsAdded, c.transportBefore])).toEqual([
      ["changed", [], "http"],
      ["created", ["charge", "refund"], null],
    ]);
    expect(trail[0]?.at).toBeInstanceOf(Date);
    const older = await registrationChangePage(db, { namespace: key.namespace, before: trail[0]?.changeId, limit: 10 });
    expect(older.map((c) => c.change)).toEqual(["created"]);
    expect(await registrationChangePage(db, { namespace: key.namespace, service: "nobody", limit: 10 })).toEqual([]);
  });

  it("pages registrations by namespace, workflow and service, and lists those of given workflows", async () => {
    const namespace = unique("ns");
    for (const [workflow, service] of [
      ["w1", "s1"],
      ["w1", "s2"],
      ["w2", "s1"],
    ] as const) {
      await registrationInsertIfNew(db, { namespace, workflow, service, steps: ["x"], queues: [], transport: "http" });
    }
    const first = await registrationPage(db, { namespace, limit: 2 });
    expect(first.map((r) => [r.workflow, r.service])).toEqual([
      ["w1", "s1"],
      ["w1", "s2"],
    ]);
    const rest = await registrationPage(db, { namespace, after: { namespace, workflow: "w1", service: "s2" }, limit: 2 });
    expect(rest.map((r) => [r.workflow, r.service])).toEqual([["w2", "s1"]]);
    expect((await registrationPage(db, { namespace, workflow: "w1", service: "s2", limit: 10 })).length).toBe(1);
    const listed = await registrationListByWorkflows(db, [
      { namespace, workflow: "w2" },
      { namespace, workflow: "w1" },
      { namespace: unique("ns"), workflow: "w1" },
    ]);
    expect(listed.map((r) => [r.workflow, r.service])).toEqual([
      ["w1", "s1"],
      ["w1", "s2"],
      ["w2", "s1"],
    ]);
    expect(await registrationListByWorkflows(db, [])).toEqual([]);
  });

  it("marks the registrations serving an instance's step, or a polled queue, as heard from", async () => {
    const { instance } = await seedRun(db, [], { namespace: unique("ns") });
    const base = { namespace: instance.namespace, workflow: instance.workflowName, transport: "kafka" };
    const queue = unique("q");
    await registrationInsertIfNew(db, { ...base, service: "serving", steps: ["charge"], queues: [queue] });
    await registrationInsertIfNew(db, { ...base, service: "other", steps: ["ship"], queues: [] });
    const anHourAgo = async () => {
      await sql`UPDATE service_registrations SET last_contact_at = now() - interval '1 hour' WHERE namespace = ${instance.namespace}`.execute(
        db,
      );
    };
    const heardFrom = async () =>
      (await registrationPage(db, { namespace: instance.namespace, limit: 10 }))
        .filter((r) => r.lastContactAt.getTime() > Date.now() - 600_000)
        .map((r) => r.service);
    await anHourAgo();
    await registrationTouchByStep(db, { namespace: instance.namespace, instanceId: instance.instanceId, step: "charge" });
    expect(await heardFrom()).toEqual(["serving"]);
    await anHourAgo();
    await registrationTouchByStep(db, { namespace: unique("ns"), instanceId: instance.instanceId, step: "charge" });
    expect(await heardFrom()).toEqual([]);
    // A worker id with an API key's `<key id>/` names the service after it.
    await workerRecordPoll(db, "0123456789abcdef/serving", [queue]);
    expect(await heardFrom()).toEqual(["serving"]);
  });
});

describe("named leases", () => {
  it("hands a lease out, renews it for its holder, refuses others until it runs out, and fences the cursor", async () => {
    const leaseKey = unique("relay");
    expect(await leaseGet(db, leaseKey)).toBeNull();
    const first = await leaseAcquireOrRenew(db, { leaseKey, holderId: "a", leaseMs: 60_000 });
    expect(first).toMatchObject({ leaseKey, holderId: "a", cursor: null });
    expect(first?.expiresAt.getTime()).toBeGreaterThan(Date.now() + 30_000);
    const renewed = await leaseAcquireOrRenew(db, { leaseKey, holderId: "a", leaseMs: 60_000 });
    expect(renewed?.fenceToken).toBe(first?.fenceToken);
    expect(await leaseAcquireOrRenew(db, { leaseKey, holderId: "b", leaseMs: 60_000 })).toBeNull();

    const cursor = { position: "9007199254740993", gaps: ["1", "2"], note: "ünïcode ✓", nested: { deeper: [null, true] } };
    const held = { leaseKey, holderId: "a", fenceToken: first?.fenceToken as number };
    expect(await leaseWriteCursorIfHeld(db, { ...held, cursor })).toBe(true);
    expect((await leaseGet(db, leaseKey))?.cursor).toEqual(cursor);
    expect(await leaseWriteCursorIfHeld(db, { ...held, fenceToken: held.fenceToken - 1, cursor: {} })).toBe(false);
    expect(await leaseWriteCursorIfHeld(db, { ...held, holderId: "b", cursor: {} })).toBe(false);

    await age("execution_leases", "expires_at", 1, sql`lease_key = ${leaseKey}`);
    expect(await leaseWriteCursorIfHeld(db, { ...held, cursor: {} })).toBe(false); // expired
    const taken = await leaseAcquireOrRenew(db, { leaseKey, holderId: "b", leaseMs: 60_000 });
    expect(taken?.fenceToken).toBeGreaterThan(held.fenceToken);
    expect(taken?.cursor).toEqual(cursor); // the progress carries over to the next holder
  });

  it("gives a lease up so that another holder takes it at once, and a deposed holder cannot give it up", async () => {
    const leaseKey = unique("relay");
    const a = await leaseAcquireOrRenew(db, { leaseKey, holderId: "a", leaseMs: 60_000 });
    await leaseRelease(db, { leaseKey, holderId: "b", fenceToken: a?.fenceToken as number }); // not b's to give
    expect(await leaseAcquireOrRenew(db, { leaseKey, holderId: "b", leaseMs: 60_000 })).toBeNull();
    await leaseRelease(db, { leaseKey, holderId: "a", fenceToken: a?.fenceToken as number });
    const b = await leaseAcquireOrRenew(db, { leaseKey, holderId: "b", leaseMs: 60_000 });
    expect(b?.holderId).toBe("b");
    // The same holder after its lease ran out gets a new fence: writes of its previous hand-out are refused.
    await age("execution_leases", "expires_at", 1, sql`lease_key = ${leaseKey}`);
    const again = await leaseAcquireOrRenew(db, { leaseKey, holderId: "b", leaseMs: 60_000 });
    expect(again?.fenceToken).toBeGreaterThan(b?.fenceToken as number);
  });
});
