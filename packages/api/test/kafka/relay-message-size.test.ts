import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestEngine, type TestEngine } from "../../../../test-support/engine.ts";
import {
  type CollectedMessage,
  collect,
  ensureTopics,
  eventually,
  type KafkaFixture,
  kafkaFixture,
} from "../../../../test-support/kafka.ts";

// Issue #10: the events relay published a batch in one send, so a batch over the broker's message
// size (one large output, or many events) was refused every pass and the relay stalled for good.
// Now a batch goes in sends under KAFKA_MAX_MESSAGE_BYTES, and an event that cannot fit alone is
// published without its largest payload fields, marked, and the relay goes on.

interface Published {
  instanceId: string;
  sequenceNumber: number;
  eventType: string;
  payload: Record<string, unknown>;
  payloadOmitted?: { fields: string[]; payloadBytes: number; reason: string; href: string };
}

/** A bridge with the relay on, on its own database and topics, collecting its events topic. */
async function relaying(k: KafkaFixture) {
  const engine = await createTestEngine({ pollIntervalMs: 100 });
  await k.connect();
  await k.startBridge(engine, { relay: { intervalMs: 50, leaseMs: 5000 } });
  const events = await collect(k.kafka, [k.topics.events]);
  k.onClose(() => events.stop());
  return { engine, events: events.messages };
}

const blob = (bytes: number) => ({ blob: "x".repeat(bytes) });

/** Runs instances of a workflow of worker steps to the end, each step answering `outputs[step]`. */
async function runToEnd(engine: TestEngine, steps: Record<string, number>, runs = 1): Promise<string[]> {
  const workflow = `sized-${crypto.randomUUID().slice(0, 8)}`;
  await engine.workflows.registerWorkflow({ name: workflow, steps: Object.keys(steps).map((name) => ({ name })) });
  const ids: string[] = [];
  for (let i = 0; i < runs; i++) ids.push((await engine.workflows.startWorkflow({ workflow, input: { i } })).instanceId);
  for (const step of Object.keys(steps)) {
    let left = runs;
    while (left > 0) {
      const tasks = await engine.tasks.acquire({ queues: [`${workflow}.${step}`], workerId: "w", max: runs });
      // One call for the lot: their events land in one relay batch.
      const outcomes = await engine.tasks.completeMany(tasks.map((t) => ({ ...t, workerId: "w", output: blob(steps[step] ?? 0) })));
      expect(outcomes.every((o) => !(o instanceof Error))).toBe(true);
      left -= tasks.length;
    }
  }
  return ids;
}

/** Waits until every event of each instance was published, and returns them by instance, first copies in order. */
async function published(engine: TestEngine, messages: CollectedMessage[], ids: string[]): Promise<Map<string, Published[]>> {
  const out = new Map<string, Published[]>();
  for (const id of ids) {
    const expected = (await engine.workflows.getWorkflow(id)).events.map((e) => e.sequenceNumber);
    const mine = await eventually(() => {
      const seen = new Map<number, Published>();
      for (const m of messages) {
        const e = m.value as Published;
        if (e.instanceId === id && !seen.has(e.sequenceNumber)) seen.set(e.sequenceNumber, e);
      }
      return seen.size >= expected.length && [...seen.values()];
    }, `the events of ${id}`);
    expect(mine.map((e) => e.sequenceNumber)).toEqual(expected);
    out.set(id, mine);
  }
  return out;
}

describe("events relay under the broker's message size", () => {
  const k = kafkaFixture();
  let engine: TestEngine;
  let events: CollectedMessage[];
  beforeAll(async () => {
    ({ engine, events } = await relaying(k));
  });
  afterAll(async () => {
    await k.close();
    await engine?.destroy();
  });

  it("publishes a run whose output is about 900 KB whole (its last history row alone is 1.35 MB)", async () => {
    const [id] = await runToEnd(engine, { a: 450_000, b: 450_000 });
    const history = (await published(engine, events, [id as string])).get(id as string) ?? [];
    const end = history.find((e) => e.eventType === "WORKFLOW_COMPLETED");
    expect(end?.payloadOmitted).toBeUndefined();
    const output = end?.payload.output as Record<string, { blob: string }>;
    expect([output.a?.blob.length, output.b?.blob.length]).toEqual([450_000, 450_000]);
    expect(history.filter((e) => e.eventType === "TASK_COMPLETED").every((e) => e.payloadOmitted === undefined)).toBe(true);
  });

  it("publishes a burst of events several MB together, every instance's in sequence order", async () => {
    const ids = await runToEnd(engine, { a: 60_000 }, 40);
    const byInstance = await published(engine, events, ids);
    expect([...byInstance.values()].flat().filter((e) => e.eventType === "WORKFLOW_COMPLETED")).toHaveLength(40);
  });

  it("publishes an event that cannot fit without its largest payload fields, marked, and goes on with the next runs", async () => {
    const [big] = await runToEnd(engine, { a: 400_000, b: 400_000, c: 400_000 });
    const end = (await published(engine, events, [big as string])).get(big as string)?.find((e) => e.eventType === "WORKFLOW_COMPLETED");
    expect(end?.payload).toEqual({});
    expect(end?.payloadOmitted).toEqual({
      fields: ["output"],
      payloadBytes: expect.any(Number),
      reason: expect.stringContaining("KAFKA_MAX_MESSAGE_BYTES"),
      href: `/v1/instances/${big}/events`,
    });
    expect(end?.payloadOmitted?.payloadBytes).toBeGreaterThan(1_200_000);
    const marked = events.find((m) => (m.value as Published).instanceId === big && m.headers.eventType === "WORKFLOW_COMPLETED");
    expect(marked?.headers.payloadOmitted).toBe("output");
    // The whole event is still read over the API.
    const page = await engine.workflows.listEvents(big as string, { limit: 500 });
    const whole = page.items.find((e) => e.eventType === "WORKFLOW_COMPLETED");
    expect(Object.keys(whole?.payload.output as object)).toEqual(["a", "b", "c"]);

    const after = await runToEnd(engine, { a: 10 }, 3);
    await published(engine, events, after);
  });
});

describe("events relay on a topic whose max.message.bytes is lower than the bridge's limit", () => {
  const k = kafkaFixture();
  let engine: TestEngine;
  let events: CollectedMessage[];
  beforeAll(async () => {
    await k.connect();
    // The bridge finds the topic already there, with a limit of 200 KB it was not told about.
    await ensureTopics(k.admin, [{ topic: k.topics.events, configEntries: [{ name: "max.message.bytes", value: "200000" }] }]);
    ({ engine, events } = await relaying(k));
  });
  afterAll(async () => {
    await k.close();
    await engine?.destroy();
  });

  it("splits what the broker refuses, cuts an event it refuses alone, and goes on", async () => {
    // 8 × 2 events of 60 KB: refused together, accepted in smaller sends.
    const many = await runToEnd(engine, { a: 60_000 }, 8);
    const big = await runToEnd(engine, { a: 300_000 });
    const after = await runToEnd(engine, { a: 10 }, 2);
    const byInstance = await published(engine, events, [...many, ...big, ...after]);
    for (const id of many) expect(byInstance.get(id)?.every((e) => e.payloadOmitted === undefined)).toBe(true);
    const cut = byInstance.get(big[0] as string)?.filter((e) => e.payloadOmitted !== undefined) ?? [];
    expect(cut.map((e) => [e.eventType, e.payloadOmitted?.fields])).toEqual([
      ["TASK_COMPLETED", ["output"]],
      ["WORKFLOW_COMPLETED", ["output"]],
    ]);
    expect(cut[0]?.payload).toMatchObject({ taskId: "a", executionId: expect.any(String) });
  });
});
