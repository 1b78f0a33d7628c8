import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestEngine, type TestEngine } from "../../../../test-support/engine.ts";
import { type CollectedMessage, collect, ensureTopics, eventually, kafkaFixture } from "../../../../test-support/kafka.ts";
import type { InboundOutcome, KafkaBridge } from "../../src/kafka/index.ts";
import { bridgeTopics } from "../../src/kafka/topics.ts";

// One bridge serving two namespaces, `default` and `acme`, each on its own topics: the same
// workflow name in both, and messages that try to cross from one to the other.

let engine: TestEngine;
let bridge: KafkaBridge;
const k = kafkaFixture();
const { kafka, producer, admin } = k;
const base = k.topics;
const acme = bridgeTopics(`${k.prefix}.acme`);
const outcomes: { topic: string; outcome: InboundOutcome }[] = [];
const workflow = `charge-${crypto.randomUUID().slice(0, 8)}`;
let commands: { base: CollectedMessage[]; acme: CollectedMessage[] };
let deadLetters: CollectedMessage[];
let events: { base: CollectedMessage[]; acme: CollectedMessage[] };

beforeAll(async () => {
  engine = await createTestEngine({ pollIntervalMs: 100 });
  await k.connect();
  const definition = (namespace: string, queue: string) => ({
    namespace,
    name: workflow,
    defaults: { transport: "kafka", leaseMs: 20_000, retry: { maxAttempts: 1 } },
    steps: [{ name: "charge", queue }],
  });
  await engine.workflows.registerWorkflow(definition("default", `${workflow}.charge`));
  await engine.workflows.registerWorkflow(definition("acme", `acme.${workflow}.charge`));
  const listen = async (topics: string[]) => {
    await ensureTopics(admin, topics);
    const reader = await collect(kafka, topics);
    k.onClose(() => reader.stop());
    return reader.messages;
  };
  commands = {
    base: await listen([base.command(workflow, "charge", "DO")]),
    acme: await listen([acme.command(workflow, "charge", "DO")]),
  };
  deadLetters = await listen([base.deadLetter, acme.deadLetter]);
  events = { base: await listen([base.events]), acme: await listen([acme.events]) };
  bridge = await k.startBridge(engine, {
    namespaces: new Map([["acme", `${k.prefix}.acme`]]),
    relay: { intervalMs: 100, leaseMs: 5000 },
    onInbound: (topic, outcome) => outcomes.push({ topic, outcome }),
  });
});

afterAll(async () => {
  await k.close();
  await engine?.destroy();
});

const send = (topic: string, value: unknown) => producer.send({ topic, messages: [{ value: JSON.stringify(value) }] });
const headersOf = (m: CollectedMessage) => (m.value as { headers: Record<string, string | number> }).headers;
const commandFor = (list: CollectedMessage[], instanceId: string) =>
  eventually(() => list.find((m) => headersOf(m).flowId === instanceId), `the command of ${instanceId}`);
const replyTo = (command: CollectedMessage, payload: unknown) => {
  const h = headersOf(command);
  return {
    headers: {
      flowId: h.flowId,
      stepName: h.stepName,
      action: h.action,
      status: true,
      executionId: h.executionId,
      fenceToken: h.fenceToken,
    },
    payload,
  };
};

describe("Kafka topics per namespace", () => {
  it("serves each namespace's step on its own command topic", () => {
    const served = bridge.queues().map((q) => ({ namespace: q.namespace, topic: q.topic }));
    expect(served).toEqual(
      expect.arrayContaining([
        { namespace: "default", topic: base.command(workflow, "charge", "DO") },
        { namespace: "acme", topic: acme.command(workflow, "charge", "DO") },
      ]),
    );
  });

  it("starts a run in the namespace whose topic carried the start, and publishes its command only there", async () => {
    await send(acme.start, { workflow, runId: "acme-run-1", input: { amount: 5 } });
    await send(base.start, { workflow, runId: "default-run-1", input: { amount: 7 } });
    const inAcme = await eventually(
      async () => (await engine.workflows.listWorkflows({ namespace: "acme" })).items.find((i) => i.runId === "acme-run-1"),
      "the acme run",
    );
    const inDefault = await eventually(
      async () => (await engine.workflows.listWorkflows({ namespace: "default" })).items.find((i) => i.runId === "default-run-1"),
      "the default run",
    );
    expect(inAcme.namespace).toBe("acme");
    expect(inDefault.namespace).toBe("default");
    const acmeCommand = await commandFor(commands.acme, inAcme.instanceId);
    expect((acmeCommand.value as { payload: unknown }).payload).toMatchObject({ amount: 5 });
    await commandFor(commands.base, inDefault.instanceId);
    expect(commands.base.some((m) => headersOf(m).flowId === inAcme.instanceId)).toBe(false);
    expect(commands.acme.some((m) => headersOf(m).flowId === inDefault.instanceId)).toBe(false);

    // A reply on acme's topic for default's command is refused (dead letter), and changes nothing;
    // the same reply on default's topic completes it.
    const defaultCommand = await commandFor(commands.base, inDefault.instanceId);
    await send(acme.response, replyTo(defaultCommand, { charged: "by acme" }));
    const refused = await eventually(
      () => deadLetters.find((m) => String(m.headers.reason ?? "").includes(`is not in namespace acme`)),
      "the crossing reply in a dead-letter topic",
    );
    expect(refused.topic).toBe(acme.deadLetter);
    expect((await engine.workflows.getWorkflow(inDefault.instanceId)).state).toBe("RUNNING");
    await send(base.response, replyTo(defaultCommand, { charged: "by default" }));
    await eventually(async () => (await engine.workflows.getWorkflow(inDefault.instanceId)).state === "COMPLETED", "default's run to end");
    expect((await engine.workflows.getWorkflow(inDefault.instanceId)).output).toMatchObject({ charge: { charged: "by default" } });

    // Each namespace's lifecycle events go to its own events topic.
    await eventually(() => events.acme.some((m) => m.key === inAcme.instanceId), "acme's events");
    await eventually(() => events.base.some((m) => m.key === inDefault.instanceId), "default's events");
    expect(events.base.some((m) => m.key === inAcme.instanceId)).toBe(false);
    expect(events.acme.some((m) => m.key === inDefault.instanceId)).toBe(false);
  });

  it("refuses a start or a registration that names another namespace than its topic's", async () => {
    await send(acme.start, { workflow, namespace: "default", runId: "crossing-start" });
    await send(acme.registration, { namespace: "default", name: `${workflow}-x`, steps: [{ name: "a" }] });
    const reasons = await eventually(() => {
      const found = deadLetters.filter((m) => String(m.headers.reason ?? "").includes("arrived on a topic of namespace acme"));
      return found.length === 2 ? found : undefined;
    }, "both crossing messages dead-lettered");
    expect(reasons.map((m) => m.topic)).toEqual([acme.deadLetter, acme.deadLetter]);
    const runs = await engine.workflows.listWorkflows({ namespace: "default" });
    expect(runs.items.some((i) => i.runId === "crossing-start")).toBe(false);
    await expect(engine.workflows.getDefinition(`${workflow}-x`, "default")).rejects.toMatchObject({ code: "NOT_FOUND" });
  });
});
