import { ConfigError, loadConfig } from "./config.ts";
import { kafkaBridgeState } from "./http/health.ts";
import { type KafkaBridge, startKafkaBridge } from "./kafka/index.ts";
import { createLogger } from "./logger.ts";
import { startServer } from "./server.ts";

// `pnpm start`: the Baton API on PORT (8080), PGlite in ./.baton/data unless DATABASE_URL is set.
let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(2);
}

const logger = createLogger(config);
const database = config.databaseUrl ? "postgres" : `pglite (${config.dataDir})`;
try {
  let bridge: KafkaBridge | undefined;
  // The API answers while the bridge starts: /healthz says `connecting` until it has.
  const kafkaBridge = () => kafkaBridgeState(config.kafkaBrokers.length > 0, bridge);
  const server = await startServer(config, { logger, app: { kafkaBridge } });
  logger.info({ url: server.url, database }, `Baton API listening on ${server.url}`);
  logger.info(`API docs: ${server.url}/docs  OpenAPI document: ${server.url}/openapi.json`);
  bridge =
    config.kafkaBrokers.length > 0
      ? await startKafkaBridge(server.engine, {
          brokers: config.kafkaBrokers,
          unfencedReplies: config.kafkaUnfencedReplies,
          maxRedeliveries: config.kafkaMaxRedeliveries,
          maxMessageBytes: config.kafkaMaxMessageBytes,
          namespaces: config.kafkaNamespaces,
          sessionTimeoutMs: config.kafkaSessionTimeoutMs,
          kafka: { ssl: config.kafkaSsl, ...(config.kafkaSasl ? { sasl: config.kafkaSasl } : {}) },
          logger: logger.child({ component: "kafka" }),
        })
      : undefined;
  if (!bridge) logger.info("KAFKA_BROKERS is not set: no Kafka bridge");

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    Promise.resolve(bridge?.stop())
      .then(() => server.close())
      .then(
        () => {
          logger.info("stopped");
          process.exit(0);
        },
        (error: unknown) => {
          logger.error({ err: error }, "shutdown failed");
          process.exit(1);
        },
      );
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
} catch (error) {
  logger.fatal({ err: error, database }, "could not start");
  process.exit(1);
}
