import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestEngine, type TestEngine } from "../../../../test-support/engine.ts";
import { collect, ensureTopics, eventually, kafkaFixture, uniqueGroupId } from "../../../../test-support/kafka.ts";
import type { InboundOutcome } from "../../src/kafka/index.ts";

// Replies are applied a chunk at a time (the engine commits a chunk together). A reply whose write
// fails in the middle of a chunk holds the committed offset before it: it comes back, and so do the
// replies after it, which are then duplicates. Every reply is applied exactly once, and the group's
// offset reaches the end of the topic.

let engine: TestEngine;
const k = kafkaFixture();
const groupId = uniqueGroupId("bridge");
const outcomes: InboundOutcome[] = [];
const RUNS = 150;

beforeAll(async () => {
  engine = await createTestEngine({ pollIntervalMs: 100 });
  await k.connect();
});
afterAll(async () => {
  await k.close();
  await engine?.destroy();
});

describe("Kafka replies in batches", () => {
  it("applies each of a burst of replies once, and redelivers from a reply whose write failed mid-chunk", async () => {
    const bridge = await k.startBridge(engine, { groupId, onInbound: (_topic, outcome) => outcomes.push(outcome) });
    const workflow = `burst-${crypto.randomUUID().slice(0, 8)}`;
    await engine.workflows.registerWorkflow({
      name: workflow,
      defaults: { transport: "kafka", leaseMs: 120_000, retry: { maxAttempts: 1 } },
      steps: [{ name: "pack" }],
    });
    await bridge.refresh();
    const topic = k.topics.command(workflow, "pack", "DO");
    await ensureTopics(k.admin, [topic]);
    const commands = await collect(k.kafka, [topic]);
    k.onClose(() => commands.stop());
    await engine.workflows.startMany({ workflow, runs: Array.from({ length: RUNS }, (_, i) => ({ runId: `r${i}`, input: { i } })) });
    const all = await eventually(() => commands.messages.length === RUNS && commands.messages, "every command");
    const headers = all.map((m) => (m.value as { headers: { executionId: string; fenceToken: number } }).headers);

    // The write of the 50th reply fails once, as if the database connection dropped.
    const hiccup = headers[49]?.executionId;
    const complete = engine.tasks.complete.bind(engine.tasks);
    let hiccups = 0;
    engine.tasks.complete = async (report) => {
      if (report.executionId === hiccup && hiccups++ === 0) throw new Error("connection terminated unexpectedly");
      return complete(report);
    };
    try {
      await k.producer.send({
        topic: k.topics.response,
        messages: all.map((m, i) => ({
          value: JSON.stringify({
            headers: { ...(m.value as { headers: object }).headers, status: true, errorMessage: null },
            payload: { i },
          }),
        })),
      });
      const byExecution = () => {
        const applied = new Map<string, number>();
        for (const o of outcomes) {
          if (o.kind === "applied") applied.set(String(o.detail.executionId), (applied.get(String(o.detail.executionId)) ?? 0) + 1);
        }
        return applied;
      };
      await eventually(() => byExecution().size === RUNS, "every reply applied", 60_000);
      expect([...byExecution().values()].every((n) => n === 1)).toBe(true);
      expect(hiccups).toBe(2);
      const { items } = await engine.workflows.listWorkflows({ workflow, limit: 500 });
      expect(items.filter((i) => i.state === "COMPLETED")).toHaveLength(RUNS);

      const [end] = await k.admin.fetchTopicOffsets(k.topics.response);
      await eventually(async () => {
        const [committed] = await k.admin.fetchOffsets({ groupId, topics: [k.topics.response] });
        return committed?.partitions[0]?.offset === end?.offset;
      }, "the group's offset at the end of the reply topic");
    } finally {
      engine.tasks.complete = complete;
    }
  });
});
