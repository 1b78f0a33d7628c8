import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestEngine, type TestEngine } from "../../../../test-support/engine.ts";
import { type CollectedMessage, collect, ensureTopics, eventually, kafkaFixture } from "../../../../test-support/kafka.ts";
import { NonRetryableError } from "../../../worker-sdk/src/errors.ts";
import type { InboundOutcome, KafkaBridge } from "../../src/kafka/index.ts";

// The bridge against a real broker. Every file has its own database and its own topic prefix, so
// its bridge sees only its own messages; every test has its own workflow (and command topics).

let engine: TestEngine;
let bridge: KafkaBridge;
const k = kafkaFixture();
const { kafka, producer, admin, topics } = k;
const outcomes: { topic: string; outcome: InboundOutcome }[] = [];

beforeAll(async () => {
  engine = await createTestEngine({ pollIntervalMs: 100 });
  await k.connect();
  bridge = await k.startBridge(engine, {
    relay: { intervalMs: 100, leaseMs: 5000 },
    onInbound: (topic, outcome) => outcomes.push({ topic, outcome }),
  });
});

afterAll(async () => {
  await k.close();
  await engine?.destroy();
});

const uniqueWorkflow = (base: string) => `${base}-${crypto.randomUUID().slice(0, 8)}`;

async function send(topic: string, value: unknown, headers?: Record<string, string>, key?: string) {
  await producer.send({
    topic,
    messages: [{ key: key ?? null, value: typeof value === "string" ? value : JSON.stringify(value), ...(headers ? { headers } : {}) }],
  });
}

/** A hand-driven service: collects the commands of one topic; the test replies itself. */
async function commandsOf(topic: string): Promise<CollectedMessage[]> {
  await ensureTopics(admin, [topic]);
  const reader = await collect(kafka, [topic]);
  k.onClose(() => reader.stop());
  return reader.messages;
}

/** Registers a one-step Kafka workflow directly and waits until the bridge serves it. */
async function oneKafkaStep(name: string, leaseMs = 10_000) {
  const workflow = uniqueWorkflow(name);
  await engine.workflows.registerWorkflow({
    name: workflow,
    defaults: { transport: "kafka", leaseMs, retry: { maxAttempts: 3, backoffMs: 0 } },
    steps: [{ name: "charge" }],
  });
  await bridge.refresh();
  return { workflow, topic: topics.command(workflow, "charge", "DO") };
}

function reply(command: CollectedMessage, status: boolean, payload: unknown, errorMessage: string | null = null) {
  const headers = headersOf(command);
  return send(
    topics.response,
    {
      headers: {
        flowId: headers.flowId,
        stepName: headers.stepName,
        action: headers.action,
        status,
        errorMessage,
        executionId: headers.executionId,
        fenceToken: headers.fenceToken,
      },
      payload,
    },
    undefined,
    String(headers.flowId),
  );
}

interface SentHeaders {
  flowId: string;
  stepName: string;
  action: string;
  executionId: string;
  attempt: number;
  fenceToken: number;
}
const headersOf = (command: CollectedMessage) => (command.value as { headers: SentHeaders }).headers;

const outcomeFor = (executionId: string, kind: InboundOutcome["kind"]) =>
  outcomes.find((o) => o.outcome.kind === kind && "detail" in o.outcome && o.outcome.detail.executionId === executionId);

describe("Kafka bridge", () => {
  it("runs the tenant-creation saga over Kafka: createClient fails 3 times, createRealm is undone, COMPENSATED", async () => {
    const workflow = uniqueWorkflow("tenantCreation");
    const events = await collect(kafka, [topics.events]);
    k.onClose(() => events.stop());
    // Registration in the older orchestrators' format: every step over Kafka, with an UNDO.
    await send(topics.registration, {
      orchName: workflow,
      as: "initiator",
      type: "sequential",
      defaults: { leaseMs: 10_000, retry: { maxAttempts: 3, backoffMs: 0 } },
      steps: [
        { seq: 1, name: "createRealm", objectType: "String" },
        { seq: 2, name: "createClient", objectType: "String" },
      ],
    });
    await eventually(
      () => bridge.queues().some((q) => q.workflow === workflow && q.step === "createClient"),
      "the bridge to serve the workflow",
    );

    const calls = { realmDo: 0, realmUndo: 0, client: 0 };
    const attempts: number[] = [];
    await k.startWorker({
      workflow,
      service: "tenant-service",
      handlers: {
        createRealm: {
          do: ({ input }) => {
            calls.realmDo++;
            return { realmId: `realm-${input.tenantName}` };
          },
          undo: ({ input }) => {
            calls.realmUndo++;
            return { deleted: input.createRealm };
          },
        },
        createClient: ({ attempt }) => {
          calls.client++;
          attempts.push(attempt);
          throw new Error("client 'acme' already exists");
        },
      },
    });

    // The older start format: the input as base64-encoded JSON.
    const input = { tenantName: "acme", domain: "acme.example.com" };
    await send(topics.start, { orchName: workflow, payload: Buffer.from(JSON.stringify(input)).toString("base64") });

    const instance = await eventually(async () => {
      const [item] = (await engine.workflows.listWorkflows({ workflow })).items;
      return item && ["COMPENSATED", "COMPENSATION_FAILED", "FAILED"].includes(item.state) ? item : undefined;
    }, "the saga to end");
    expect(instance.state).toBe("COMPENSATED");
    expect(instance.input).toEqual(input);
    expect(calls).toEqual({ realmDo: 1, realmUndo: 1, client: 3 });
    expect(attempts).toEqual([1, 2, 3]);

    const view = await engine.workflows.getWorkflow(instance.instanceId);
    const summary = view.tasks.map((t) => `${t.taskId}:${t.kind}:${t.attempt}:${t.state}`);
    expect(summary).toEqual([
      "createRealm:DO:1:COMPLETED",
      "createClient:DO:1:FAILED",
      "createClient:DO:2:FAILED",
      "createClient:DO:3:FAILED",
      "createRealm:UNDO:1:COMPLETED",
    ]);
    expect(view.tasks.find((t) => t.kind === "UNDO")?.output).toEqual({ deleted: { realmId: "realm-acme" } });
    expect(view.tasks.find((t) => t.taskId === "createClient")?.error).toMatchObject({ message: "client 'acme' already exists" });

    // The service registered itself as the worker of its steps (registration topic, `as: worker`).
    const { items: registered } = await engine.registrations.page({ workflow, service: "tenant-service" });
    expect(registered.flatMap((r) => r.queues).sort()).toEqual(
      [`${workflow}.createClient`, `${workflow}.createClient.undo`, `${workflow}.createRealm`, `${workflow}.createRealm.undo`].sort(),
    );

    // Lifecycle events: every event of the instance, keyed by it, in sequence order.
    const relayed = await eventually(() => {
      const mine = events.messages.filter((m) => m.key === instance.instanceId);
      return mine.some((m) => (m.value as { eventType: string }).eventType === "WORKFLOW_COMPENSATED") && mine;
    }, "the lifecycle events");
    const sequence = relayed.map((m) => (m.value as { sequenceNumber: number }).sequenceNumber);
    const firstSeen = sequence.filter((n, i) => sequence.indexOf(n) === i);
    expect(firstSeen).toEqual(view.events.map((e) => e.sequenceNumber));
    expect(relayed.map((m) => (m.value as { eventType: string }).eventType).filter((t, i, all) => all.indexOf(t) === i)).toContain(
      "WORKFLOW_STARTED",
    );
    expect(relayed[0]?.headers.eventType).toBe("WORKFLOW_STARTED");
  });

  it("rejects a reply that arrives after the lease expired, and retries the step", async () => {
    const { workflow, topic } = await oneKafkaStep("late-reply");
    const commands = await commandsOf(topic);
    const { instanceId } = await engine.workflows.startWorkflow({ workflow, input: { amount: 5 } });
    const first = await eventually(() => commands[0], "the first command");
    const h1 = headersOf(first);
    expect(h1.attempt).toBe(1);
    expect(first.key).toBe(instanceId);
    expect(first.headers).toMatchObject({ flowId: instanceId, stepName: "charge", action: "DO", executionId: h1.executionId });

    await engine.expireLease(h1.executionId);
    await reply(first, true, { charged: "late" });
    const stale = await eventually(() => outcomeFor(h1.executionId, "stale"), "the late reply to be refused");
    expect(stale.outcome).toMatchObject({ detail: { code: "LEASE_EXPIRED" } });
    expect((await engine.workflows.getWorkflow(instanceId)).state).toBe("RUNNING");

    expect(await engine.tasks.reapExpiredLeases()).toBe(1);
    const second = await eventually(() => commands[1], "the retry's command");
    const h2 = headersOf(second);
    expect(h2.attempt).toBe(2);
    expect(h2.fenceToken).toBeGreaterThan(h1.fenceToken);
    await reply(second, true, { charged: "on time" });

    const done = await eventually(async () => {
      const view = await engine.workflows.getWorkflow(instanceId);
      return view.state === "COMPLETED" && view;
    }, "the instance to complete");
    expect(done.output).toEqual({ charge: { charged: "on time" } });
    expect(done.tasks.map((t) => `${t.attempt}:${t.state}`)).toEqual(["1:TIMED_OUT", "2:COMPLETED"]);
  });

  it("fails a step at once when the service says the failure is not retryable", async () => {
    const { workflow } = await oneKafkaStep("non-retryable");
    let calls = 0;
    await k.startWorker({
      workflow,
      handlers: {
        charge: () => {
          calls++;
          throw new NonRetryableError("card stolen");
        },
      },
    });
    const { instanceId } = await engine.workflows.startWorkflow({ workflow, input: {} });
    const view = await eventually(async () => {
      const v = await engine.workflows.getWorkflow(instanceId);
      return v.state === "FAILED" && v;
    }, "the instance to fail");
    expect(calls).toBe(1);
    expect(view.tasks.map((t) => `${t.attempt}:${t.state}`)).toEqual(["1:FAILED"]);
  });

  it("redelivers a reply whose database write failed (offsets are committed only after the commit)", async () => {
    const { workflow, topic } = await oneKafkaStep("db-hiccup");
    const commands = await commandsOf(topic);
    const { instanceId } = await engine.workflows.startWorkflow({ workflow, input: {} });
    const command = await eventually(() => commands[0], "the command");
    // The first attempt to apply the reply fails as if the database were unreachable.
    const complete = engine.tasks.complete.bind(engine.tasks);
    let failures = 0;
    engine.tasks.complete = async (lease) => {
      if (failures++ === 0) throw new Error("connection terminated unexpectedly");
      return complete(lease);
    };
    try {
      await reply(command, true, { ok: 1 });
      await eventually(async () => (await engine.workflows.getWorkflow(instanceId)).state === "COMPLETED", "completion after the retry");
      expect(failures).toBe(2);
      expect(outcomeFor(headersOf(command).executionId, "applied")).toBeDefined();
    } finally {
      engine.tasks.complete = complete;
    }
  });

  it("applies a duplicated reply once", async () => {
    const { workflow, topic } = await oneKafkaStep("duplicate");
    const commands = await commandsOf(topic);
    const { instanceId } = await engine.workflows.startWorkflow({ workflow, input: {} });
    const command = await eventually(() => commands[0], "the command");
    const { executionId } = headersOf(command);
    await reply(command, true, { receipt: 1 });
    await reply(command, true, { receipt: 1 });
    await eventually(() => outcomeFor(executionId, "duplicate"), "the second reply to be seen as a duplicate");
    expect(outcomeFor(executionId, "applied")).toBeDefined();
    const view = await engine.workflows.getWorkflow(instanceId);
    expect(view.state).toBe("COMPLETED");
    expect(view.events.filter((e) => e.eventType === "TASK_COMPLETED")).toHaveLength(1);
  });

  it("matches a reply that echoes only flowId, stepName and action (older services) to the step's lease", async () => {
    const { workflow, topic } = await oneKafkaStep("legacy-reply");
    const commands = await commandsOf(topic);
    const { instanceId } = await engine.workflows.startWorkflow({ workflow, input: {} });
    await eventually(() => commands.length === 1, "the command");
    await send(topics.response, {
      headers: { flowId: instanceId, stepName: "charge", action: "DO", status: false, errorMessage: "card declined" },
      payload: {},
    });
    // The failure schedules attempt 2; once its command is out, the flat "SUCCESS" reply completes it.
    await eventually(() => commands.length === 2, "the retry's command");
    await send(topics.response, { flowId: instanceId, stepName: "charge", action: "DO", metadata: { status: "SUCCESS" } });
    const view = await eventually(async () => {
      const v = await engine.workflows.getWorkflow(instanceId);
      return v.state === "COMPLETED" ? v : undefined;
    }, "completion");
    expect(view.tasks.map((t) => `${t.attempt}:${t.state}`)).toEqual(["1:FAILED", "2:COMPLETED"]);
    expect(view.tasks[0]?.error).toMatchObject({ message: "card declined" });
  });

  it("registers a YAML definition and a YAML worker registration; a bad one is dead-lettered with the reason", async () => {
    const workflow = uniqueWorkflow("yamlFlow");
    const deadLetters = await collect(kafka, [topics.deadLetter]);
    k.onClose(() => deadLetters.stop());
    await send(
      topics.registration,
      `name: ${workflow}\ntype: parallel\ndefaults:\n  transport: kafka\nsteps:\n  - name: sendEmail\n  - name: createProfile\n    undo: true\n`,
    );
    await send(topics.registration, `orchName: ${workflow}\nas: worker\nsteps:\n  - name: sendEmail\n`, { "X-Service-Name": "mailer" });
    await send(topics.registration, "name: [unclosed");
    await send(topics.registration, `name: ${workflow}-bad\nsteps: []\n`);

    const definition = await eventually(() => engine.workflows.getDefinition(workflow).catch(() => undefined), "the definition");
    expect(definition.definition.type).toBe("parallel");
    expect(definition.definition.steps.map((s) => [s.name, s.transport, s.undo?.queue ?? null])).toEqual([
      ["sendEmail", "kafka", null],
      ["createProfile", "kafka", `${workflow}.createProfile.undo`],
    ]);
    const rows = await eventually(async () => {
      const { items } = await engine.registrations.page({ workflow, service: "mailer" });
      return items.length > 0 && items;
    }, "the worker registration");
    expect(rows.map((r) => [r.queues, r.transport])).toEqual([[[`${workflow}.sendEmail`], "kafka"]]);
    await eventually(() => bridge.queues().filter((q) => q.workflow === workflow).length === 3, "the bridge to serve its queues");

    const letters = await eventually(() => deadLetters.messages.length >= 2 && deadLetters.messages, "two dead letters");
    const reasons = letters.map((m) => (m.value as { reason: string }).reason);
    expect(reasons[0]).toMatch(/neither JSON nor YAML/);
    expect(reasons[1]).toMatch(/INVALID_DEFINITION.*steps/);
    expect(letters[0]?.value).toMatchObject({ source: { topic: topics.registration }, value: "name: [unclosed" });
    expect(letters[0]?.headers.reason).toBe(reasons[0]);
  });

  it("dead-letters an unparsable or unmatchable reply and goes on", async () => {
    const { workflow, topic } = await oneKafkaStep("poison");
    const deadLetters = await collect(kafka, [topics.deadLetter]);
    k.onClose(() => deadLetters.stop());
    const commands = await commandsOf(topic);
    const { instanceId } = await engine.workflows.startWorkflow({ workflow, input: {} });
    const command = await eventually(() => commands[0], "the command");
    const unknownExecution = crypto.randomUUID();
    await send(topics.response, "{not json");
    await send(topics.response, { headers: { flowId: "nope", stepName: "charge", action: "DO", status: true } });
    await send(topics.response, {
      headers: { flowId: instanceId, stepName: "charge", action: "DO", status: true, executionId: unknownExecution, fenceToken: 1 },
    });
    await reply(command, true, { ok: true });
    await eventually(async () => (await engine.workflows.getWorkflow(instanceId)).state === "COMPLETED", "completion after the poison");
    const mine = await eventually(() => {
      const m = deadLetters.messages.filter((l) => (l.value as { source: { topic: string } }).source.topic === topics.response);
      return m.length >= 3 && m;
    }, "three dead letters");
    const reasons = mine.map((m) => (m.value as { reason: string }).reason);
    expect(reasons.some((r) => r === "not JSON")).toBe(true);
    expect(reasons.some((r) => /flowId: expected a UUID/.test(r))).toBe(true);
    expect(reasons.some((r) => r.startsWith("NOT_FOUND"))).toBe(true);
  });

  it("starts one instance for a start message delivered twice, and one per runId", async () => {
    const { workflow } = await oneKafkaStep("start-once");
    await send(topics.start, { workflow, input: { n: 1 } });
    await send(topics.start, { orchName: workflow, runId: "order-7", input: { n: 7 } });
    await send(topics.start, { orchName: workflow, runId: "order-7", input: { n: 7 } });
    await eventually(async () => (await engine.workflows.listWorkflows({ workflow })).items.length === 2, "two instances");

    // Redelivery: a second consumer group reads the same start messages (same topic, partition
    // and offset) again, as a replica would after a crash before its offset commit.
    const seen: InboundOutcome[] = [];
    const replay = await k.startBridge(engine, { onInbound: (topic, outcome) => topic === topics.start && seen.push(outcome) });
    try {
      await eventually(
        () => seen.filter((o) => o.kind === "duplicate" && o.detail.workflow === workflow).length === 3,
        "the replayed starts",
      );
    } finally {
      await replay.stop();
    }
    const instances = (await engine.workflows.listWorkflows({ workflow })).items;
    expect(instances).toHaveLength(2);
    expect(instances.map((i) => i.runId).sort()).toEqual([expect.stringMatching(new RegExp(`^kafka:${topics.start}:0:\\d+$`)), "order-7"]);
    expect(seen.some((o) => o.kind === "applied")).toBe(false);
  });
});
