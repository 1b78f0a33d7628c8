import { type Admin, type Consumer, type ITopicConfig, Kafka, type KafkaConfig, logLevel, Partitioners, type Producer } from "kafkajs";

/**
 * The broker the Kafka tests use. vitest.config.ts sets KAFKA_BROKERS for the Kafka project (from
 * the environment, or the broker scripts/kafka.sh started).
 */
export const TEST_KAFKA_BROKERS = (process.env.KAFKA_BROKERS ?? "127.0.0.1:9092")
  .split(",")
  .map((b) => b.trim())
  .filter(Boolean);

/**
 * Client settings for a local single broker: errors surface in seconds, not minutes. 127.0.0.1,
 * never localhost (which may resolve to ::1 first). Retries are set explicitly because kafkajs
 * picks different defaults when NODE_ENV=test.
 */
export const TEST_KAFKA_CONFIG: KafkaConfig = {
  clientId: "baton-tests",
  brokers: TEST_KAFKA_BROKERS,
  connectionTimeout: 3000,
  requestTimeout: 15_000,
  retry: { initialRetryTime: 100, maxRetryTime: 2000, retries: 10 },
  logLevel: logLevel.NOTHING,
};

/** Consumer settings for tests: quick joins, rebalances and shutdowns (the broker allows 1 s sessions). */
export const TEST_CONSUMER_SETTINGS = {
  sessionTimeout: 6000,
  rebalanceTimeout: 10_000,
  heartbeatInterval: 500,
  maxWaitTimeInMs: 100,
  allowAutoTopicCreation: false,
  retry: { initialRetryTime: 100, maxRetryTime: 2000, retries: 10 },
} as const;

export function testKafka(clientId = "baton-tests"): Kafka {
  return new Kafka({ ...TEST_KAFKA_CONFIG, clientId });
}

export function testProducer(kafka: Kafka = testKafka()): Producer {
  return kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
}

export function testConsumer(kafka: Kafka = testKafka(), groupId = uniqueGroupId()): Consumer {
  return kafka.consumer({ groupId, ...TEST_CONSUMER_SETTINGS });
}

/** A group id no other test (or earlier run) uses, so no stale member delays a rebalance. */
export function uniqueGroupId(prefix = "test"): string {
  return `${prefix}-${crypto.randomUUID()}`;
}

/**
 * A topic prefix of its own for one test file: every file (and every run) talks to the shared
 * broker on topics nobody else reads, so tests never see each other's messages.
 */
export function uniqueTopicPrefix(): string {
  return `t${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}.orchestrator`;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Creates the topics that do not exist yet and waits until each partition has a leader. On KRaft
 * a just-created topic can briefly be unknown to the broker's metadata cache, which kafkajs treats
 * as fatal; both steps therefore retry until the deadline.
 */
export async function ensureTopics(admin: Admin, topics: (string | ITopicConfig)[], timeoutMs = 15_000): Promise<void> {
  const specs = topics.map((t) => ({ numPartitions: 1, replicationFactor: 1, ...(typeof t === "string" ? { topic: t } : t) }));
  const names = specs.map((s) => s.topic);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await admin.createTopics({ topics: specs, waitForLeaders: true, timeout: 5000 });
      break;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(100);
    }
  }
  for (;;) {
    try {
      const { topics: metadata } = await admin.fetchTopicMetadata({ topics: names });
      if (metadata.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))) return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    if (Date.now() > deadline) throw new Error(`Kafka topics not ready after ${timeoutMs} ms: ${names.join(", ")}`);
    await sleep(100);
  }
}

/**
 * Waits until the broker answers, and pays once for the lazy creation of __consumer_offsets (the
 * first group coordinator lookup), so the first test does not.
 */
export async function waitForKafka(brokers = TEST_KAFKA_BROKERS, timeoutMs = 60_000): Promise<void> {
  const admin = new Kafka({ ...TEST_KAFKA_CONFIG, clientId: "baton-tests-warmup", brokers }).admin();
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      try {
        await admin.connect();
        await admin.describeCluster();
        await admin.describeGroups(["baton-warmup"]);
        return;
      } catch (error) {
        if (Date.now() > deadline) {
          throw new Error(`Kafka at ${brokers.join(",")} did not answer within ${timeoutMs} ms: ${String(error)}`);
        }
        await sleep(250);
      }
    }
  } finally {
    await admin.disconnect();
  }
}

export interface CollectedMessage {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  headers: Record<string, string>;
  value: unknown;
}

/**
 * Reads topics from the beginning into an array (values parsed as JSON when they are JSON). The
 * topics must exist. Returns once the consumer has its partitions.
 */
export async function collect(kafka: Kafka, topics: string[]): Promise<{ messages: CollectedMessage[]; stop(): Promise<void> }> {
  const consumer = testConsumer(kafka);
  const messages: CollectedMessage[] = [];
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  await consumer.connect();
  await consumer.subscribe({ topics, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ topic, partition, message }) => {
      const text = message.value?.toString("utf8") ?? "";
      let value: unknown = text;
      try {
        value = JSON.parse(text);
      } catch {}
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(message.headers ?? {})) if (v !== undefined) headers[k] = String(v);
      messages.push({ topic, partition, offset: message.offset, key: message.key?.toString("utf8") ?? null, headers, value });
    },
  });
  await joined;
  return { messages, stop: () => consumer.disconnect() };
}

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => T | Promise<T>, what: string, timeoutMs = 20_000): Promise<Exclude<T, false | undefined>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value as Exclude<T, false | undefined>;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`);
    }
    await sleep(50);
  }
}
