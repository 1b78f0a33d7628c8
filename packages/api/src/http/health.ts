import { BatonError, type Database } from "@baton/engine";
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
 * version. The database is probed first, and a broken session answers 503 (see probeDatabase).
 */
export async function healthFacts({ engine, kafkaBridge }: Pick<ApiDeps, "engine" | "kafkaBridge">): Promise<HealthFacts> {
  const probe = await probeDatabase(engine.database);
  if (probe?.broken) throw probe.error;
  return { database: engine.database.kind, kafka: kafkaBridge(), version: VERSION };
}

/**
 * Asks the database `SELECT 1`: null when it answers 1, else why not. The answer is `broken` when
 * only a restart can help: a session that answers wrongly (a PGlite session a malformed statement
 * left out of step answers every query with no rows) or an embedded database that fails. Both
 * probes read this one check, so they cannot disagree about a broken session.
 */
export async function probeDatabase(database: Database): Promise<{ broken: boolean; error: BatonError } | null> {
  let rows: { one: number }[];
  try {
    rows = await database.db.selectNoFrom((eb) => eb.lit(1).as("one")).execute();
  } catch (error) {
    const reason = (error as Error).message;
    const broken = database.kind === "pglite";
    return { broken, error: new BatonError("UNAVAILABLE", "The database does not answer", { reason, broken }) };
  }
  if (rows.length === 1 && Number(rows[0]?.one) === 1) return null;
  return {
    broken: true,
    error: new BatonError("UNAVAILABLE", "The database session is broken: SELECT 1 answered wrongly; restart the process", {
      broken: true,
      rows: rows.length,
    }),
  };
}
