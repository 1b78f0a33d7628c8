import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestEngine, type TestEngine } from "../../../../test-support/engine.ts";
import { kafkaFixture } from "../../../../test-support/kafka.ts";
import { createApp } from "../../src/http/app.ts";
import { kafkaBridgeState } from "../../src/http/health.ts";

// /healthz reports whether the Kafka bridge is connected, as its consumer tells, against the broker.

let engine: TestEngine;
const k = kafkaFixture();

beforeAll(async () => {
  engine = await createTestEngine();
  await k.connect();
});
afterAll(async () => {
  await k.close();
  await engine?.destroy();
});

describe("the Kafka bridge in /healthz", () => {
  it("is connected once the bridge has joined its group, and disconnected once it stopped", async () => {
    const bridge = await k.startBridge(engine);
    const app = createApp(engine, { kafkaBridge: () => kafkaBridgeState(true, bridge) });
    const kafkaOf = async () => ((await (await app.request("/healthz")).json()) as { kafka: string }).kafka;
    expect(bridge.connected()).toBe(true);
    expect(await kafkaOf()).toBe("connected");
    await bridge.stop();
    expect(bridge.connected()).toBe(false);
    expect(await kafkaOf()).toBe("disconnected");
  });
});
