import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestEngine, type TestEngine } from "../../../../test-support/engine.ts";
import { type CollectedMessage, collect, ensureTopics, eventually, kafkaFixture } from "../../../../test-support/kafka.ts";
import type { KafkaBridge } from "../../src/kafka/index.ts";

// Fan-out steps (`forEach`) over Kafka, against a real broker: every element's command goes to the
// step's DO (and UNDO) topic with the element's index in its headers, at most maxConcurrency at a
// time, and replies (fenced, or naming the step and element only) complete the right element.

let engine: TestEngine;
let bridge: KafkaBridge;
const k = kafkaFixture();
const { kafka, producer, admin, topics } = k;

beforeAll(async () => {
  engine = await createTestEngine({ pollIntervalMs: 100 });
  await k.connect();
  bridge = await k.startBridge(engine);
});

afterAll(async () => {
  await k.close();
  await engine?.destroy();
});

const uniqueWorkflow = (base: string) => `${base}-${crypto.randomUUID().slice(0, 8)}`;

interface CommandHeaders {
  flowId: string;
  stepName: string;
  action: string;
  executionId: string;
  fenceToken: number;
  elementIndex?: number;
}
const bodyOf = (m: CollectedMessage) => m.value as { headers: CommandHeaders; payload: Record<string, unknown> };

async function register(steps: Record<string, unknown>[]) {
  const workflow = uniqueWorkflow("split");
  await engine.workflows.registerWorkflow({
    name: workflow,
    defaults: { transport: "kafka", leaseMs: 20_000, retry: { maxAttempts: 1 } },
    steps,
  });
  await bridge.refresh();
  return workflow;
}

describe("fan-out over Kafka", () => {
  it("publishes each element on the step's topic with its index, maxConcurrency at a time; fenced and unfenced replies complete their element", async () => {
    const workflow = await register([{ name: "reserve", forEach: "items", maxConcurrency: 2 }]);
    const topic = topics.command(workflow, "reserve", "DO");
    await ensureTopics(admin, [topic]);
    const reader = await collect(kafka, [topic]);
    k.onClose(() => reader.stop());

    const { instanceId } = await engine.workflows.startWorkflow({ workflow, input: { orderId: "o-1", items: ["a", "b", "c"] } });
    const firstTwo = await eventually(() => reader.messages.length >= 2 && reader.messages.slice(0, 2), "two commands");
    await new Promise((r) => setTimeout(r, 1000));
    expect(reader.messages).toHaveLength(2);
    const byIndex = [...firstTwo].sort((a, b) => (bodyOf(a).headers.elementIndex ?? 0) - (bodyOf(b).headers.elementIndex ?? 0));
    expect(byIndex.map((m) => [bodyOf(m).headers.stepName, bodyOf(m).headers.elementIndex])).toEqual([
      ["reserve", 0],
      ["reserve", 1],
    ]);
    expect(bodyOf(byIndex[1] as CollectedMessage).payload).toEqual({ orderId: "o-1", element: "b", elementIndex: 1 });
    // The Kafka headers carry the element too, for services that route on headers.
    expect((byIndex[1] as CollectedMessage).headers.elementIndex).toBe("1");

    const reply = (m: CollectedMessage, fenced: boolean, payload: unknown) => {
      const h = bodyOf(m).headers;
      const fence = fenced ? { executionId: h.executionId, fenceToken: h.fenceToken } : {};
      const headers = { flowId: h.flowId, stepName: h.stepName, elementIndex: h.elementIndex, action: h.action, status: true, ...fence };
      return producer.send({ topic: topics.response, messages: [{ key: h.flowId, value: JSON.stringify({ headers, payload }) }] });
    };
    // Element 1 answers like an older service: no execution id or fence, just the step and the element.
    await reply(byIndex[1] as CollectedMessage, false, { reserved: "b" });
    const third = await eventually(() => reader.messages.length >= 3 && reader.messages[2], "the third command");
    expect(bodyOf(third).headers.elementIndex).toBe(2);
    await reply(byIndex[0] as CollectedMessage, true, { reserved: "a" });
    await reply(third, true, { reserved: "c" });
    const done = await eventually(async () => {
      const view = await engine.workflows.getWorkflow(instanceId);
      return view.state === "COMPLETED" && view;
    }, "the run to complete");
    expect(done.output).toEqual({ reserve: [{ reserved: "a" }, { reserved: "b" }, { reserved: "c" }] });
  });

  it("runs elements in a Kafka worker and undoes the completed ones on the step's UNDO topic when one fails", async () => {
    const workflow = await register([{ name: "reserve", forEach: "items", undo: true }]);
    const seen: { kind: string; elementIndex: number | null; input: unknown }[] = [];
    await k.startWorker({
      workflow,
      service: "inventory",
      handlers: {
        reserve: {
          do: ({ input, elementIndex, kind }) => {
            seen.push({ kind, elementIndex, input });
            if (input.element === "bad") throw new Error("no stock for bad");
            return { reserved: input.element };
          },
          undo: ({ input, elementIndex, kind }) => {
            seen.push({ kind, elementIndex, input });
            return { released: true };
          },
        },
      },
    });
    const { instanceId } = await engine.workflows.startWorkflow({ workflow, input: { items: ["a", "bad", "c"] } });
    const view = await eventually(async () => {
      const v = await engine.workflows.getWorkflow(instanceId);
      return v.state === "COMPENSATED" && v;
    }, "the run to be compensated");
    expect(view.error).toMatchObject({ reason: "STEP_FAILED", step: "reserve", elementIndex: 1 });
    const undos = seen.filter((s) => s.kind === "UNDO").sort((a, b) => (a.elementIndex ?? 0) - (b.elementIndex ?? 0));
    expect(undos).toEqual([
      { kind: "UNDO", elementIndex: 0, input: { element: "a", elementIndex: 0, reserve: { reserved: "a" } } },
      { kind: "UNDO", elementIndex: 2, input: { element: "c", elementIndex: 2, reserve: { reserved: "c" } } },
    ]);
  });
});
