import { readFileSync } from "node:fs";
import { createApp } from "@baton/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { onPglite } from "../../../test-support/database.ts";
import { type KafkaBridgeState, kafkaBridgeState } from "../src/http/health.ts";
import { type Harness, startHarness } from "./http-harness.ts";

/* Health says what runs: the database kind, the Kafka bridge's state and the version. */

const version = (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version;
const database = onPglite ? "pglite" : "postgres";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

describe("GET /healthz", () => {
  it("reports the database it runs on, no Kafka bridge, and the version of @baton/api", async () => {
    const res = await h.call("GET", "/healthz");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: "ok", database, kafka: "off", version });
  });

  it("reports the Kafka bridge's state as the process tells it", async () => {
    let state: KafkaBridgeState = "connecting";
    const app = createApp(h.engine, { kafkaBridge: () => state });
    for (const next of ["connecting", "connected", "disconnected"] as const) {
      state = next;
      expect(await (await app.request("/healthz")).json()).toEqual({ status: "ok", database, kafka: next, version });
    }
  });

  it("the compatibility health routes report the same facts beside their old status", async () => {
    const app = createApp(h.engine, { kafkaBridge: () => "connected" });
    expect(await (await app.request("/api/orchestration/health")).json()).toMatchObject({
      status: "UP",
      database,
      kafka: "connected",
      version,
    });
    expect(await (await app.request("/health")).json()).toMatchObject({ status: "healthy", database, kafka: "connected", version });
  });

  it("is documented with those fields in the OpenAPI document", async () => {
    const doc = (await h.call("GET", "/openapi.json")).body;
    const schema = doc.paths["/healthz"].get.responses["200"].content["application/json"].schema;
    expect(Object.keys(schema.properties)).toEqual(["status", "database", "kafka", "version"]);
  });
});

describe("kafkaBridgeState", () => {
  it("is off without brokers, connecting until the bridge has started, then as its consumer is", () => {
    expect(kafkaBridgeState(false, undefined)).toBe("off");
    expect(kafkaBridgeState(true, undefined)).toBe("connecting");
    expect(kafkaBridgeState(true, { connected: () => true })).toBe("connected");
    expect(kafkaBridgeState(true, { connected: () => false })).toBe("disconnected");
  });
});
