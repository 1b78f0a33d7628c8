import { directDb, EVENTS_RELAY_LEASE, leaseAcquireOrRenew, leaseGet, leaseWriteCursorIfHeld, readCursor } from "@baton/engine/internal";
import { sql } from "kysely";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { onPglite } from "../../../../test-support/database.ts";
import { createTestEngine, type TestEngine } from "../../../../test-support/engine.ts";
import {
  type CollectedMessage,
  collect,
  ensureTopics,
  eventually,
  kafkaFixture,
  uniqueTopicPrefix,
} from "../../../../test-support/kafka.ts";
import { kafkaEventsPublisher } from "../../src/kafka/events-publisher.ts";
import { silentBridgeLogger } from "../../src/kafka/kafka-client.ts";

let engine: TestEngine;
const k = kafkaFixture();
const { kafka, producer, admin } = k;

beforeAll(async () => {
  engine = await createTestEngine({ pollIntervalMs: 100 });
  await k.connect();
});
afterAll(async () => {
  await k.close();
  await engine?.destroy();
});

async function eventTopic(): Promise<{ topic: string; messages: CollectedMessage[]; stop(): Promise<void> }> {
  const topic = `${uniqueTopicPrefix()}.workflow.events`;
  await ensureTopics(admin, [topic]);
  return { topic, ...(await collect(kafka, [topic])) };
}

const relay = (topic: string) =>
  engine.createEventsRelay(
    kafkaEventsPublisher(producer, () => topic, silentBridgeLogger),
    {
      leaseMs: 3000,
      intervalMs: 50,
      batchSize: 5,
      logger: silentBridgeLogger,
    },
  );

/** Per instance: the sequence numbers in the order first seen (duplicates are allowed, at least once). */
function sequencesByInstance(messages: CollectedMessage[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const m of messages) {
    const { instanceId, sequenceNumber } = m.value as { instanceId: string; sequenceNumber: number };
    expect(m.key).toBe(instanceId);
    const list = out.get(instanceId) ?? [];
    if (!list.includes(sequenceNumber)) list.push(sequenceNumber);
    out.set(instanceId, list);
  }
  return out;
}

async function expectAllRelayed(messages: CollectedMessage[], instanceIds: string[]) {
  for (const id of instanceIds) {
    const view = await engine.workflows.getWorkflow(id);
    const expected = view.events.map((e) => e.sequenceNumber);
    await eventually(() => (sequencesByInstance(messages).get(id)?.length ?? 0) >= expected.length, `events of ${id}`);
    expect(sequencesByInstance(messages).get(id)).toEqual(expected);
  }
}

describe("events relay", () => {
  it("fences the cursor: a deposed holder cannot move it", async () => {
    const key = `fence-test-${crypto.randomUUID()}`;
    const db = directDb(engine.database);
    const a = await leaseAcquireOrRenew(db, { leaseKey: key, holderId: "a", leaseMs: 60_000 });
    expect(a).not.toBeNull();
    expect(await leaseAcquireOrRenew(db, { leaseKey: key, holderId: "b", leaseMs: 60_000 })).toBeNull();
    const renewed = await leaseAcquireOrRenew(db, { leaseKey: key, holderId: "a", leaseMs: 60_000 });
    expect(renewed?.fenceToken).toBe(a?.fenceToken);
    // a stalls past its lease; b takes over with a higher token.
    await db
      .updateTable("execution_leases")
      .set({ expires_at: sql`now() - interval '1 millisecond'` })
      .where("lease_key", "=", key)
      .execute();
    const b = await leaseAcquireOrRenew(db, { leaseKey: key, holderId: "b", leaseMs: 60_000 });
    expect(b?.fenceToken).toBeGreaterThan(a?.fenceToken ?? 0);
    expect(
      await leaseWriteCursorIfHeld(db, { leaseKey: key, holderId: "b", fenceToken: b?.fenceToken ?? 0, cursor: { position: "9" } }),
    ).toBe(true);
    expect(
      await leaseWriteCursorIfHeld(db, { leaseKey: key, holderId: "a", fenceToken: a?.fenceToken ?? 0, cursor: { position: "1" } }),
    ).toBe(false);
    expect((await leaseGet(db, key))?.cursor).toEqual({ position: "9" });
    // Even a's own hand-out comes back with a new token after its lease ran out.
    await db
      .updateTable("execution_leases")
      .set({ expires_at: sql`now() - interval '1 millisecond'` })
      .where("lease_key", "=", key)
      .execute();
    const again = await leaseAcquireOrRenew(db, { leaseKey: key, holderId: "a", leaseMs: 60_000 });
    expect(again?.fenceToken).toBeGreaterThan(b?.fenceToken ?? 0);
  });

  it("publishes every instance's events in sequence order, and a second replica takes over when the first stops", async () => {
    const workflow = `relay-${crypto.randomUUID().slice(0, 8)}`;
    await engine.workflows.registerWorkflow({ name: workflow, steps: [{ name: "a" }, { name: "b" }] });
    const out = await eventTopic();
    // Start from a clean slate: the lease of an earlier test in this file may still be held.
    await directDb(engine.database).deleteFrom("execution_leases").where("lease_key", "=", EVENTS_RELAY_LEASE).execute();
    const first = relay(out.topic);
    const second = relay(out.topic);
    first.start();
    await eventually(() => first.leader, "the first relay to lead");
    second.start();
    try {
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) ids.push((await engine.workflows.startWorkflow({ workflow, input: { i } })).instanceId);
      await complete(workflow, "a", 4);
      await expectAllRelayed(out.messages, ids);
      expect(second.leader).toBe(false);

      await first.stop();
      await eventually(() => second.leader, "the second relay to take over");
      await complete(workflow, "b", 4);
      await expectAllRelayed(out.messages, ids);
      for (const id of ids) expect((await engine.workflows.getWorkflow(id)).state).toBe("COMPLETED");
    } finally {
      await Promise.all([first.stop(), second.stop(), out.stop()]);
    }
  });

  it.skipIf(onPglite)(
    "publishes an event whose transaction commits after a later position did (Postgres: concurrent transactions)",
    async () => {
      const workflow = `gap-${crypto.randomUUID().slice(0, 8)}`;
      await engine.workflows.registerWorkflow({ name: workflow, steps: [{ name: "a" }] });
      const early = await engine.workflows.startWorkflow({ workflow, input: { n: 1 } });
      const out = await eventTopic();
      await directDb(engine.database).deleteFrom("execution_leases").where("lease_key", "=", EVENTS_RELAY_LEASE).execute();
      const r = relay(out.topic);
      r.start();
      const client = new pg.Client({ connectionString: engine.testDb.url });
      await client.connect();
      try {
        await expectAllRelayed(out.messages, [early.instanceId]);
        // A transaction draws a position and holds it uncommitted...
        await client.query("BEGIN");
        await client.query(
          `INSERT INTO events (workflow_instance_id, sequence_number, entries)
         VALUES ($1, 1000, '[{"type": "TEST_LATE", "payload": {}}]')`,
          [early.instanceId],
        );
        // ...while a later position commits and is published.
        const later = await engine.workflows.startWorkflow({ workflow, input: { n: 2 } });
        await expectAllRelayed(out.messages, [later.instanceId]);
        expect(out.messages.some((m) => (m.value as { eventType: string }).eventType === "TEST_LATE")).toBe(false);
        // The cursor is written after the publish: wait for it to record the gap.
        await eventually(async () => (await relayGaps()).length > 0, "a gap in the cursor");

        await client.query("COMMIT");
        await eventually(() => out.messages.some((m) => (m.value as { eventType: string }).eventType === "TEST_LATE"), "the late event");
        await eventually(async () => (await relayGaps()).length === 0, "no gaps left");
      } finally {
        await client.end();
        await Promise.all([r.stop(), out.stop()]);
      }
    },
  );
});

/** The gaps in the relay's stored cursor. */
async function relayGaps(): Promise<unknown[]> {
  const lease = await leaseGet(directDb(engine.database), EVENTS_RELAY_LEASE);
  return readCursor(lease?.cursor ?? null).gaps;
}

/** Completes step `taskId` of `count` instances of the workflow, as a worker would. */
async function complete(workflow: string, taskId: string, count: number) {
  const tasks = await eventually(async () => {
    const t = await engine.tasks.acquire({ queues: [`${workflow}.${taskId}`], workerId: "w", max: count });
    return t.length > 0 && t;
  }, "tasks");
  let done = 0;
  for (const t of tasks) {
    await engine.tasks.complete({ ...t, workerId: "w", output: { ok: t.taskId } });
    done++;
  }
  if (done < count) await complete(workflow, taskId, count - done);
}
