import { type Admin, type ITopicConfig, Kafka, type KafkaConfig, logLevel } from "kafkajs";

/** The logging the bridge needs: pino's call shape, so a pino logger (or child) fits as is. */
export interface BridgeLogger {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

export const silentBridgeLogger: BridgeLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** A kafkajs client whose own warnings and errors go to the bridge's logger. */
export function createKafkaClient(brokers: string[], clientId: string, logger: BridgeLogger, extra: Partial<KafkaConfig> = {}): Kafka {
  return new Kafka({
    clientId,
    brokers,
    retry: { initialRetryTime: 200, maxRetryTime: 10_000, retries: 8 },
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log }) => {
        const { message, ...fields } = log;
        const text = `kafkajs: ${message}`;
        if (level === logLevel.ERROR) logger.error(fields, text);
        else if (level === logLevel.WARN) logger.warn(fields, text);
        else logger.debug(fields, text);
      },
    ...extra,
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Creates the topics that do not exist yet and waits until they have leaders. A consumer cannot
 * subscribe to a topic that does not exist yet on a KRaft broker (kafkajs does not retry that), so
 * the bridge creates its topics before subscribing. Replication is min(3, brokers in the cluster).
 */
export async function ensureTopics(admin: Admin, topics: string[], numPartitions: number, timeoutMs = 30_000): Promise<void> {
  if (topics.length === 0) return;
  const { brokers } = await admin.describeCluster();
  const replicationFactor = Math.max(1, Math.min(3, brokers.length));
  const existing = new Set(await admin.listTopics());
  const missing: ITopicConfig[] = [...new Set(topics)]
    .filter((t) => !existing.has(t))
    .map((topic) => ({ topic, numPartitions, replicationFactor }));
  if (missing.length === 0) return;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      // false (not an error) when another replica created them first
      await admin.createTopics({ topics: missing, waitForLeaders: true, timeout: 5000 });
      break;
    } catch (error) {
      // Right after creation a KRaft broker may not know the topic yet; kafkajs treats that as fatal.
      if (Date.now() > deadline) throw error;
      await sleep(200);
    }
  }
  const names = missing.map((t) => t.topic);
  while (Date.now() < deadline) {
    const metadata = await admin.fetchTopicMetadata({ topics: names }).catch(() => null);
    if (metadata?.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))) return;
    await sleep(100);
  }
  throw new Error(`Kafka topics have no leader after ${timeoutMs} ms: ${names.join(", ")}`);
}
