import { z } from "@hono/zod-openapi";
import { VERSION } from "../version.ts";
import type { ApiDeps } from "./env.ts";

/** Where the Kafka bridge stands: not configured, starting, joined to its group, or lost it. */
export const KAFKA_BRIDGE_STATES = ["off", "connecting", "connected", "disconnected"] as const;
export type KafkaBridgeState = (typeof KAFKA_BRIDGE_STATES)[number];

/**
 * The bridge's state as the health answers report it, from whether KAFKA_BROKERS asks for one and
 * the bridge once it has started.
 */
export function kafkaBridgeState(configured: boolean, bridge: { connected(): boolean } | undefined): KafkaBridgeState {
  if (!configured) return "off";
  if (!bridge) return "connecting";
  return bridge.connected() ? "connected" : "disconnected";
}

export const HealthFactsSchema = z.object({
  database: z.enum(["postgres", "pglite"]).meta({ description: "The database Baton runs on" }),
  kafka: z.enum(KAFKA_BRIDGE_STATES).meta({
    description:
      "The Kafka bridge: `off` (KAFKA_BROKERS unset), `connecting` (starting), `connected` (its consumer is in its group), " +
      "`disconnected` (it lost the broker or its group and is reconnecting, or it stopped)",
  }),
  version: z.string().meta({ description: "Baton's version (of @baton/api)", example: VERSION }),
});
export type HealthFacts = z.infer<typeof HealthFactsSchema>;

/**
 * What a health answer says runs here: the database kind, the Kafka bridge's state and the
 * version. The database is probed first, and a broken session answers 503 (see engine.probeDatabase).
 */
export async function healthFacts({ engine, kafkaBridge }: Pick<ApiDeps, "engine" | "kafkaBridge">): Promise<HealthFacts> {
  const probe = await engine.probeDatabase();
  if (probe?.broken) throw probe.error;
  return { database: engine.databaseKind, kafka: kafkaBridge(), version: VERSION };
}
