import { z } from "zod";
import { DEFAULT_BODY_LIMIT_BYTES } from "./http/body-limit.ts";
import { UNFENCED_REPLIES, type UnfencedReplies } from "./kafka/inbound.ts";

/** Everything the `baton` process reads from its environment, validated. */
export interface Config {
  port: number;
  host: string;
  /** Postgres connection URL; undefined runs the embedded PGlite database in `dataDir`. */
  databaseUrl: string | undefined;
  dataDir: string;
  /** Kafka bootstrap brokers; empty means no Kafka bridge. */
  kafkaBrokers: string[];
  /** What the Kafka bridge does with a reply that names no fence (see `UnfencedReplies`). */
  kafkaUnfencedReplies: UnfencedReplies;
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  bodyLimitBytes: number;
}

const emptyAsUnset = (v: unknown) => (typeof v === "string" && v.trim() === "" ? undefined : v);

const EnvSchema = z.object({
  PORT: z.preprocess(emptyAsUnset, z.coerce.number().int().min(0).max(65_535).default(8080)),
  HOST: z.preprocess(emptyAsUnset, z.string().default("0.0.0.0")),
  DATABASE_URL: z.preprocess(
    emptyAsUnset,
    z
      .string()
      .regex(/^postgres(ql)?:\/\//, "must be a postgres:// or postgresql:// URL")
      .optional(),
  ),
  BATON_DATA_DIR: z.preprocess(emptyAsUnset, z.string().default("./.baton/data")),
  KAFKA_BROKERS: z.preprocess(
    emptyAsUnset,
    z
      .string()
      .optional()
      .transform((v) =>
        (v ?? "")
          .split(",")
          .map((b) => b.trim())
          .filter(Boolean),
      )
      .pipe(z.array(z.string().regex(/^[^:\s]+:\d{1,5}$/, "each broker must be host:port, separated by commas"))),
  ),
  KAFKA_UNFENCED_REPLIES: z.preprocess(
    (v) => (typeof v === "string" ? emptyAsUnset(v.toLowerCase()) : v),
    z.enum(UNFENCED_REPLIES).default("match"),
  ),
  LOG_LEVEL: z.preprocess(
    (v) => (typeof v === "string" ? emptyAsUnset(v.toLowerCase()) : v),
    z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  ),
  BODY_LIMIT_BYTES: z.preprocess(
    emptyAsUnset,
    z.coerce
      .number()
      .int()
      .min(1024)
      .max(1024 ** 3)
      .default(DEFAULT_BODY_LIMIT_BYTES),
  ),
});

/** A configuration error that names the variables at fault. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

/**
 * Reads and validates the configuration. This is the only place that reads `process.env`.
 * @example const config = loadConfig(); // throws ConfigError: "PORT: expected ..." on bad input
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".")}=${JSON.stringify(env[String(i.path[0])] ?? "")}: ${i.message}`);
    throw new ConfigError(`Invalid configuration (environment variables):\n${lines.join("\n")}`);
  }
  const e = parsed.data;
  return {
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    dataDir: e.BATON_DATA_DIR,
    kafkaBrokers: e.KAFKA_BROKERS,
    kafkaUnfencedReplies: e.KAFKA_UNFENCED_REPLIES,
    logLevel: e.LOG_LEVEL,
    bodyLimitBytes: e.BODY_LIMIT_BYTES,
  };
}
