import type { Engine } from "@baton/engine";
import { type Admin, type Consumer, type ITopicConfig, Kafka, type KafkaConfig, logLevel, Partitioners, type Producer } from "kafkajs";
import {
  type BridgeTopics,
  bridgeTopics,
  type KafkaBridge,
  type KafkaBridgeOptions,
  startKafkaBridge,
} from "../packages/api/src/kafka/index.ts";
import { createKafkaWorker, type KafkaWorker, type KafkaWorkerOptions } from "../packages/worker-sdk/src/kafka-worker.ts";
import { silentLogger } from "../packages/worker-sdk/src/logger.ts";

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

/** The kafkajs client settings a bridge or a Kafka worker under test takes (its `kafka` option). */
const TEST_CLIENT_SETTINGS = { connectionTimeout: TEST_KAFKA_CONFIG.connectionTimeout, retry: TEST_KAFKA_CONFIG.retry };

/** What a Kafka test file shares: its own topics, one client, a producer and an admin client. */
export interface KafkaFixture {
  /** A topic prefix no other file (or run) uses. */
  prefix: string;
  topics: BridgeTopics;
  kafka: Kafka;
  producer: Producer;
  admin: Admin;
  /** Connects the producer and the admin client (call in `beforeAll`). */
  connect(): Promise<void>;
  /**
   * Stops what `startBridge` and `startWorker` started and whatever was passed to `onClose`, the
   * latest first, then disconnects (call in `afterAll`, before the engine is destroyed).
   */
  close(): Promise<void>;
  /** Runs `cleanup` at `close`, or at the next `closeStarted` (for per-test bridges). */
  onClose(cleanup: () => Promise<unknown>): void;
  /** Runs (the latest first) and forgets the cleanups registered so far: an `afterEach` for per-test bridges. */
  closeStarted(): Promise<void>;
  /**
   * A bridge on this file's prefix, its own consumer group, reading its topics from the beginning,
   * quick to acquire and to see new definitions, relay off; `options` override any of that.
   * Resolves once it is ready; it is stopped at `close` (stopping it before is fine).
   */
  startBridge(engine: Engine, options?: Partial<KafkaBridgeOptions>): Promise<KafkaBridge>;
  /** A `createKafkaWorker` service on this file's prefix, its own group, silent; ready when resolved. */
  startWorker(options: Omit<KafkaWorkerOptions, "brokers">): Promise<KafkaWorker>;
}

/**
 * The Kafka setup every bridge test file needs, in one place.
 * @example
 * const k = kafkaFixture();
 * beforeAll(() => k.connect());
 * afterAll(() => k.close());
 * const bridge = await k.startBridge(engine, { onInbound });
 */
export function kafkaFixture(prefix = uniqueTopicPrefix()): KafkaFixture {
  const kafka = testKafka();
  const producer = testProducer(kafka);
  const admin = kafka.admin();
  const cleanups: (() => Promise<unknown>)[] = [];
  const closeStarted = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  };
  return {
    prefix,
    topics: bridgeTopics(prefix),
    kafka,
    producer,
    admin,
    connect: async () => {
      await Promise.all([producer.connect(), admin.connect()]);
    },
    close: async () => {
      await closeStarted();
      await Promise.all([producer.disconnect(), admin.disconnect()]);
    },
    onClose: (cleanup) => void cleanups.push(cleanup),
    closeStarted,
    async startBridge(engine, options = {}) {
      const bridge = await startKafkaBridge(engine, {
        brokers: TEST_KAFKA_BROKERS,
        topicPrefix: prefix,
        groupId: uniqueGroupId("bridge"),
        fromBeginning: true,
        acquireWaitMs: 500,
        refreshMs: 300,
        relay: false,
        kafka: TEST_CLIENT_SETTINGS,
        consumer: TEST_CONSUMER_SETTINGS,
        ...options,
      });
      cleanups.push(() => bridge.stop());
      await bridge.ready;
      return bridge;
    },
    async startWorker(options) {
      const worker = await createKafkaWorker({
        brokers: TEST_KAFKA_BROKERS,
        topicPrefix: prefix,
        groupId: uniqueGroupId("service"),
        fromBeginning: true,
        logger: silentLogger,
        kafka: TEST_CLIENT_SETTINGS,
        consumer: TEST_CONSUMER_SETTINGS,
        ...options,
      });
      cleanups.push(() => worker.stop());
      await worker.ready;
      return worker;
    },
  };
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
