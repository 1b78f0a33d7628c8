import { ConfigError, loadConfig } from "./config.ts";
import { kafkaBridgeState } from "./http/health.ts";
import type { KafkaBridge } from "./kafka/index.ts";
import { createLogger } from "./logger.ts";
import { openEngine, startServer } from "./server.ts";
import { exitOnSignals } from "./shutdown.ts";

// The Baton server (`node packages/api/dist/main.js`, `baton serve`, `pnpm start` from source): the
// API on PORT (8080), PGlite in ./.baton/data unless DATABASE_URL is set, the Kafka bridge when
// KAFKA_BROKERS is. One process; SIGTERM or SIGINT stops it gracefully (see shutdown.ts).
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
  const engine = await openEngine(config, logger);
  let bridge: KafkaBridge | undefined;
  // The API answers while the bridge starts: /healthz says `connecting` until it has.
  const kafkaBridge = () => kafkaBridgeState(config.kafkaBrokers.length > 0, bridge);
  const server = await startServer(config, { engine, logger, app: { kafkaBridge } }).catch(async (error: unknown) => {
    await engine.close();
    throw error;
  });
  // Stopping: the HTTP side (long-polls answered, requests in flight finished) and the Kafka bridge
  // (consumer out of its group, leased commands published) stop together; the engine, which both
  // use until then, closes last.
  let bridgeStarting: Promise<KafkaBridge | undefined> = Promise.resolve(undefined);
  exitOnSignals(logger, async () => {
    await Promise.all([
      server.close(),
      bridgeStarting.then(
        (b) => b?.stop(),
        () => {},
      ),
    ]);
    await engine.close();
  });
  logger.info({ url: server.url, database }, `Baton API listening on ${server.url}`);
  logger.info(`API docs: ${server.url}/docs  OpenAPI document: ${server.url}/openapi.json`);
  if (config.kafkaBrokers.length > 0) {
    // Loaded only when configured: kafkajs is a large part of what a start would otherwise evaluate.
    const { startKafkaBridge } = await import("./kafka/index.ts");
    bridgeStarting = startKafkaBridge(engine, {
      brokers: config.kafkaBrokers,
      unfencedReplies: config.kafkaUnfencedReplies,
      maxRedeliveries: config.kafkaMaxRedeliveries,
      maxMessageBytes: config.kafkaMaxMessageBytes,
      namespaces: config.kafkaNamespaces,
      sessionTimeoutMs: config.kafkaSessionTimeoutMs,
      kafka: { ssl: config.kafkaSsl, ...(config.kafkaSasl ? { sasl: config.kafkaSasl } : {}) },
      logger: logger.child({ component: "kafka" }),
    });
    bridge = await bridgeStarting;
  } else {
    logger.info("KAFKA_BROKERS is not set: no Kafka bridge");
  }
} catch (error) {
  logger.fatal({ err: error, database }, "could not start");
  process.exit(1);
}
