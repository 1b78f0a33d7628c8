import { BRIDGE_WORKER_ID, createApp } from "@baton/api";
import { directDb } from "@baton/engine/internal";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestEngine, type TestEngine } from "../../../../test-support/engine.ts";
import { collect, ensureTopics, eventually, kafkaFixture } from "../../../../test-support/kafka.ts";
import type { KafkaBridge } from "../../src/kafka/index.ts";

// Registrations on the registration topic (issue 11): remembered like HTTP ones, the bridge's own
// polling does not make a Kafka step ready, and a service's reply counts as contact.

let engine: TestEngine;
let bridge: KafkaBridge;
let app: ReturnType<typeof createApp>;
const k = kafkaFixture();
const { kafka, producer, admin, topics } = k;

beforeAll(async () => {
  engine = await createTestEngine({ pollIntervalMs: 100 });
  app = createApp(engine);
  await k.connect();
  bridge = await k.startBridge(engine);
});

afterAll(async () => {
  await k.close();
  await engine?.destroy();
});

// biome-ignore lint/suspicious/noExplicitAny: tests read whatever the API answered
const get = async (path: string): Promise<any> => (await app.request(path)).json();

describe("registrations over Kafka", () => {
  it("a Kafka step nobody registered for is served by nobody, however the bridge polls; a registered one names its service and hears its replies", async () => {
    const workflow = `billing-${crypto.randomUUID().slice(0, 8)}`;
    await engine.workflows.registerWorkflow({
      name: workflow,
      defaults: { transport: "kafka", retry: { maxAttempts: 1 } },
      steps: [{ name: "charge" }],
    });
    await bridge.refresh();
    const commandTopic = topics.command(workflow, "charge", "DO");
    await ensureTopics(admin, [commandTopic]);
    const commands = await collect(kafka, [commandTopic]);
    k.onClose(() => commands.stop());

    // The bridge polls the step's queue, and still nobody serves it.
    await eventually(async () => {
      const polls = await directDb(engine.database)
        .selectFrom("worker_heartbeats")
        .selectAll()
        .where("worker_id", "=", BRIDGE_WORKER_ID)
        .execute();
      return polls.some((p) => p.queue === `${workflow}.charge`);
    }, "the bridge's poll of the queue");
    expect((await get(`/v1/workflows/${workflow}`)).steps[0]).toMatchObject({ ready: false, serving: "nobody", workers: [], services: [] });
    const { instanceId } = await engine.workflows.startWorkflow({ workflow, input: { amount: 5 } });
    const command = await eventually(() => commands.messages[0], "the command");
    // Sent, and waiting for a reply: the lease is the bridge's, so nothing is PENDING.
    expect((await get(`/v1/instances/${instanceId}`)).waiting).toEqual([]);

    await producer.send({
      topic: topics.registration,
      messages: [{ value: `orchName: ${workflow}\nas: worker\nsteps:\n  - name: charge\n`, headers: { "X-Service-Name": "billing" } }],
    });
    const registered = await eventually(async () => {
      const step = (await get(`/v1/workflows/${workflow}`)).steps[0];
      return step.serving === "registered" && step;
    }, "the registration");
    expect(registered.services).toEqual([expect.objectContaining({ service: "billing", transport: "kafka" })]);
    const changes = await get(`/v1/registrations/changes?workflow=${workflow}`);
    expect(changes.items).toEqual([
      expect.objectContaining({ change: "created", by: { keyId: null, name: `kafka:${topics.registration}` } }),
    ]);

    // The service answers: the run ends, and its registration was heard from.
    const headers = (command.value as { headers: Record<string, unknown> }).headers;
    await producer.send({
      topic: topics.response,
      messages: [{ value: JSON.stringify({ headers: { ...headers, status: true }, payload: { charged: true } }) }],
    });
    await eventually(async () => (await engine.workflows.getWorkflow(instanceId)).state === "COMPLETED", "the run to complete");
    const [registration] = (await get(`/v1/registrations?workflow=${workflow}`)).items;
    await eventually(async () => {
      const [now] = (await get(`/v1/registrations?workflow=${workflow}`)).items;
      return Date.parse(now.lastContactAt) > Date.parse(registration.lastRegisteredAt);
    }, "the reply recorded as contact");
  });
});
