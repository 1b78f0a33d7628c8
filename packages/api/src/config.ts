import { redactSecrets, SECRET_ENV_PREFIX } from "@baton/engine";
import { z } from "zod";
import { DEFAULT_BODY_LIMIT_BYTES } from "./http/body-limit.ts";
import { networkIssue } from "./http/networks.ts";
import { DEFAULT_MAX_REQUESTS_IN_FLIGHT } from "./http/requests-in-flight.ts";
import type { BreakerSettings } from "./http-steps/circuit-breakers.ts";
import { HostPolicy } from "./http-steps/host-policy.ts";
import { UNFENCED_REPLIES, type UnfencedReplies } from "./kafka/inbound.ts";
import { DEFAULT_MAX_MESSAGE_BYTES, MIN_MAX_MESSAGE_BYTES } from "./kafka/sized-send.ts";
import { parseNamespacePrefixes } from "./kafka/topics.ts";

export const KAFKA_SASL_MECHANISMS = ["plain", "scram-sha-256", "scram-sha-512"] as const;
type KafkaSaslMechanism = (typeof KAFKA_SASL_MECHANISMS)[number];
/** One object per mechanism, as kafkajs's `sasl` setting takes them. */
export type KafkaSasl = { [M in KafkaSaslMechanism]: { mechanism: M; username: string; password: string } }[KafkaSaslMechanism];

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
  /** Failed deliveries of an inbound Kafka message before it is dead-lettered. */
  kafkaMaxRedeliveries: number;
  /** Bytes one send to the broker may take (see KafkaBridgeOptions.maxMessageBytes). */
  kafkaMaxMessageBytes: number;
  /** The namespaces the Kafka bridge serves, each with its topic prefix (`default` always, as `orchestrator`). */
  kafkaNamespaces: Map<string, string>;
  /**
   * How long a bridge replica may go silent before the broker gives its partitions (the reply
   * topic's among them) to another replica. Every replica stops consuming while that happens.
   */
  kafkaSessionTimeoutMs: number;
  /** SASL authentication with the brokers; undefined: none. */
  kafkaSasl: KafkaSasl | undefined;
  /** TLS to the brokers. */
  kafkaSsl: boolean;
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  bodyLimitBytes: number;
  /** Requests worked on at once, long-polls included; past it a request is answered 503 at once. */
  maxRequestsInFlight: number;
  /** Who may call: `auto` (open until the first API key exists), `on`, or `off` (anyone, anything). */
  auth: "auto" | "on" | "off";
  /** An admin key to make sure exists at start (`baton_<16 hex>_<43 base64url>`). */
  adminKey: string | undefined;
  /** Let anyone read /metrics even when auth is on (METRICS_PUBLIC=true). */
  metricsPublic: boolean;
  /** Addresses and CIDR blocks (a scraper's network) that may read /metrics without a key (METRICS_PUBLIC=<list>). */
  metricsNetworks: string[] | undefined;
  /** Finished instances older than this many days are deleted in the background; undefined keeps them. */
  retentionDays: number | undefined;
  /** The hosts HTTP steps may call (BATON_HTTP_STEP_HOSTS); none when unset. */
  httpStepHosts: HostPolicy;
  /** The per-host circuit breakers of HTTP steps (BATON_HTTP_BREAKER_FAILURES, BATON_HTTP_BREAKER_COOLDOWN_MS). */
  httpBreaker: BreakerSettings;
  /** The BATON_SECRET_* variables, which HTTP steps' header values may name. Never logged or echoed. */
  httpStepSecrets: Record<string, string>;
}

const emptyAsUnset = (v: unknown) => (typeof v === "string" && v.trim() === "" ? undefined : v);

/** true/false/1/0 in any case; unset is false. */
const booleanVariable = z.preprocess(
  (v) => (typeof v === "string" ? emptyAsUnset(v.toLowerCase()) : v),
  z
    .enum(["true", "false", "1", "0"])
    .default("false")
    .transform((v) => v === "true" || v === "1"),
);

const EnvSchema = z
  .object({
    PORT: z.preprocess(emptyAsUnset, z.coerce.number().int().min(0).max(65_535).default(8080)),
    // Loopback unless told otherwise: an open (no key) Baton must not be reachable from elsewhere.
    HOST: z.preprocess(emptyAsUnset, z.string().default("127.0.0.1")),
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
    KAFKA_MAX_REDELIVERIES: z.preprocess(emptyAsUnset, z.coerce.number().int().min(1).max(1000).default(5)),
    KAFKA_MAX_MESSAGE_BYTES: z.preprocess(
      emptyAsUnset,
      z.coerce
        .number()
        .int()
        .min(MIN_MAX_MESSAGE_BYTES)
        .max(100 * 1024 * 1024)
        .default(DEFAULT_MAX_MESSAGE_BYTES),
    ),
    KAFKA_NAMESPACES: z.preprocess(
      emptyAsUnset,
      z
        .string()
        .max(10_000)
        .optional()
        .transform((spec, ctx) => {
          try {
            return parseNamespacePrefixes(spec);
          } catch (error) {
            ctx.addIssue({ code: "custom", message: (error as Error).message });
            return z.NEVER;
          }
        }),
    ),
    // kafkajs's default; the broker must allow it (group.min/max.session.timeout.ms, 6 s to 30 min by default).
    KAFKA_SESSION_TIMEOUT_MS: z.preprocess(emptyAsUnset, z.coerce.number().int().min(1000).max(3_600_000).default(30_000)),
    KAFKA_SASL_MECHANISM: z.preprocess(
      (v) => (typeof v === "string" ? emptyAsUnset(v.toLowerCase()) : v),
      z.enum(KAFKA_SASL_MECHANISMS).optional(),
    ),
    KAFKA_SASL_USERNAME: z.preprocess(emptyAsUnset, z.string().optional()),
    KAFKA_SASL_PASSWORD: z.preprocess(emptyAsUnset, z.string().optional()),
    KAFKA_SSL: booleanVariable,
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
    BATON_MAX_REQUESTS_IN_FLIGHT: z.preprocess(
      emptyAsUnset,
      z.coerce.number().int().min(1).max(1_000_000).default(DEFAULT_MAX_REQUESTS_IN_FLIGHT),
    ),
    BATON_AUTH: z.preprocess(
      (v) => (typeof v === "string" ? emptyAsUnset(v.toLowerCase()) : v),
      z.enum(["auto", "on", "off"]).default("auto"),
    ),
    BATON_ADMIN_KEY: z.preprocess(
      emptyAsUnset,
      z
        .string()
        .regex(/^baton_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/, "must be a Baton key: baton_<16 hex digits>_<43 base64url characters>")
        .optional(),
    ),
    // true: anyone may read /metrics; a comma-separated list of addresses and CIDR blocks: requests
    // from there (a scraper's network); false or unset: only keys that may read metrics.
    METRICS_PUBLIC: z.preprocess(
      emptyAsUnset,
      z
        .string()
        .optional()
        .transform((v, ctx) => {
          const value = v?.trim().toLowerCase();
          if (value === undefined || value === "false" || value === "0") return { anyone: false, networks: undefined };
          if (value === "true" || value === "1") return { anyone: true, networks: undefined };
          const networks = value.split(",").map((entry) => entry.trim());
          for (const entry of networks) {
            const issue = networkIssue(entry);
            if (issue) ctx.addIssue({ code: "custom", message: `true, false, or addresses and CIDR blocks: ${issue}` });
          }
          return { anyone: false, networks };
        }),
    ),
    RETENTION_DAYS: z.preprocess(emptyAsUnset, z.coerce.number().positive().max(36_500).optional()),
    BATON_HTTP_STEP_HOSTS: z.preprocess(
      emptyAsUnset,
      z
        .string()
        .optional()
        .transform((text, ctx) => {
          try {
            return HostPolicy.parse(text);
          } catch (error) {
            ctx.addIssue({ code: "custom", message: (error as Error).message });
            return z.NEVER;
          }
        }),
    ),
    BATON_HTTP_BREAKER_FAILURES: z.preprocess(emptyAsUnset, z.coerce.number().int().min(1).max(1000).default(5)),
    BATON_HTTP_BREAKER_COOLDOWN_MS: z.preprocess(emptyAsUnset, z.coerce.number().int().min(100).max(3_600_000).default(30_000)),
  })
  .superRefine((e, ctx) => {
    // SASL needs all three, or none.
    const sasl = ["KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"] as const;
    if (sasl.some((name) => e[name] !== undefined)) {
      for (const name of sasl) {
        if (e[name] === undefined)
          ctx.addIssue({ code: "custom", path: [name], message: `must be set with the other KAFKA_SASL_* variables` });
      }
    }
  });

/** Variables whose value is never echoed, not even in a configuration error (others are echoed with any password hidden). */
const SECRET_VARIABLES = new Set(["BATON_ADMIN_KEY", "KAFKA_SASL_PASSWORD"]);

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
    const shown = (name: string) => (SECRET_VARIABLES.has(name) ? "(hidden)" : redactSecrets(JSON.stringify(env[name] ?? "")));
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".")}=${shown(String(i.path[0]))}: ${i.message}`);
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
    kafkaMaxRedeliveries: e.KAFKA_MAX_REDELIVERIES,
    kafkaMaxMessageBytes: e.KAFKA_MAX_MESSAGE_BYTES,
    kafkaNamespaces: e.KAFKA_NAMESPACES,
    kafkaSessionTimeoutMs: e.KAFKA_SESSION_TIMEOUT_MS,
    kafkaSasl:
      e.KAFKA_SASL_MECHANISM && e.KAFKA_SASL_USERNAME !== undefined && e.KAFKA_SASL_PASSWORD !== undefined
        ? { mechanism: e.KAFKA_SASL_MECHANISM, username: e.KAFKA_SASL_USERNAME, password: e.KAFKA_SASL_PASSWORD }
        : undefined,
    kafkaSsl: e.KAFKA_SSL,
    logLevel: e.LOG_LEVEL,
    bodyLimitBytes: e.BODY_LIMIT_BYTES,
    maxRequestsInFlight: e.BATON_MAX_REQUESTS_IN_FLIGHT,
    auth: e.BATON_AUTH,
    adminKey: e.BATON_ADMIN_KEY,
    metricsPublic: e.METRICS_PUBLIC.anyone,
    metricsNetworks: e.METRICS_PUBLIC.networks,
    retentionDays: e.RETENTION_DAYS,
    httpStepHosts: e.BATON_HTTP_STEP_HOSTS,
    httpBreaker: { failureThreshold: e.BATON_HTTP_BREAKER_FAILURES, coolDownMs: e.BATON_HTTP_BREAKER_COOLDOWN_MS },
    httpStepSecrets: secretVariables(env),
  };
}

/** The BATON_SECRET_<NAME> variables: the only ones an HTTP step's header may name ({env.NAME}). */
function secretVariables(env: Record<string, string | undefined>): Record<string, string> {
  const secrets: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && name.startsWith(SECRET_ENV_PREFIX)) secrets[name] = value;
  }
  return secrets;
}
