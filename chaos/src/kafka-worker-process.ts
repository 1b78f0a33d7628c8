import { commandLine, type KafkaLine } from "@baton/api/check";
import { NonRetryableError } from "@baton/worker-sdk";
import { Kafka, logLevel, Partitioners } from "kafkajs";
import { LineLog } from "./report-log.ts";
import { requiredEnv, StepEffects, sleep } from "./step-effect.ts";
import { KAFKA_LEASE_MS, kafkaSteps } from "./workflows.ts";

/*
 * One chaos Kafka service: consumes the DO/UNDO command topics of every Kafka step of the chaos
 * workflows, does the step's effect in the ledger with the command's fence token (as the SDK
 * workers do), and replies on the result topic in the reference format. Some replies it sends
 * twice, some it holds back until their lease has expired. Every command read and every reply
 * sent (and where it landed) goes to its log, for invariant I8.
 */

const workerId = requiredEnv("CHAOS_WORKER_ID");
const brokers = requiredEnv("CHAOS_KAFKA_BROKERS").split(",");
const duplicateRate = Number(process.env.CHAOS_REPLY_DUPLICATE_RATE ?? "0.06");
const delayRate = Number(process.env.CHAOS_REPLY_DELAY_RATE ?? "0.04");
const effects = new StepEffects(requiredEnv("CHAOS_LEDGER_URL"), workerId, Number(process.env.CHAOS_FAIL_RATE ?? "0.15"));
const log = new LineLog(requiredEnv("CHAOS_REPORTS_FILE"));
const write = (line: KafkaLine) => log.write(line);

const PREFIX = "orchestrator";
const RESPONSE_TOPIC = `${PREFIX}.response.result`;
const topics = kafkaSteps().flatMap(([workflow, step]) => [`${PREFIX}.${workflow}.${step}.do`, `${PREFIX}.${workflow}.${step}.undo`]);
/** Commands handled at once; more wait (a held-back reply does not hold its topic up). */
const MAX_IN_FLIGHT = 64;

// Retries without end in sight: the broker is restarted under this service.
const retry = { initialRetryTime: 200, maxRetryTime: 2000, retries: 30 };
const kafka = new Kafka({ clientId: workerId, brokers, connectionTimeout: 3000, logLevel: logLevel.ERROR, retry });
const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false, retry });
// One group for all services: each command goes to one of them. From the beginning: a partition
// without a committed offset (none read yet when the group rebalanced) must not skip to the end.
const consumer = kafka.consumer({
  groupId: "chaos-kafka-services",
  sessionTimeout: 6000,
  heartbeatInterval: 500,
  maxWaitTimeInMs: 200,
  allowAutoTopicCreation: false,
  retry,
});

interface Command {
  headers: {
    flowId: string;
    orchName: string;
    stepName: string;
    action: "DO" | "UNDO";
    executionId: string;
    fenceToken: number;
    attempt: number;
  };
  payload: Record<string, unknown>;
}

let seq = 0;
const inFlight = new Set<Promise<void>>();

/** Sends one reply, retried while the broker is away, and logs it before and where it landed after. */
async function sendReply(command: Command, outcome: Record<string, unknown>, payload: unknown, copy: number, delayedMs: number) {
  const h = command.headers;
  const line = {
    type: "reply",
    seq: ++seq,
    workerId,
    executionId: h.executionId,
    fenceToken: h.fenceToken,
    instanceId: h.flowId,
    step: h.stepName,
    kind: h.action,
    status: outcome.status === true,
    ...(outcome.status === true ? { output: payload } : {}),
    copy,
    delayedMs,
    at: new Date().toISOString(),
  } satisfies KafkaLine;
  write(line);
  const value = JSON.stringify({
    headers: { flowId: h.flowId, stepName: h.stepName, action: h.action, executionId: h.executionId, fenceToken: h.fenceToken, ...outcome },
    payload,
  });
  const headers = { executionId: h.executionId, fenceToken: String(h.fenceToken) };
  for (let tries = 1; ; tries++) {
    try {
      const [meta] = await producer.send({ topic: RESPONSE_TOPIC, messages: [{ key: h.flowId, value, headers }] });
      if (!meta) throw new Error("the broker answered no record metadata");
      write({
        type: "reply-sent",
        seq: line.seq,
        topic: RESPONSE_TOPIC,
        partition: meta.partition,
        offset: String(meta.baseOffset),
        at: new Date().toISOString(),
      });
      return;
    } catch (error) {
      if (tries >= 20) {
        write({ type: "reply-failed", seq: line.seq, error: String(error), at: new Date().toISOString() });
        return;
      }
      await sleep(500);
    }
  }
}

/** Runs the command's effect, then replies: at once, or held past its lease; once, or twice. */
async function handle(command: Command): Promise<void> {
  const h = command.headers;
  let outcome: Record<string, unknown>;
  let payload: unknown = null;
  try {
    payload = await effects.perform({
      instanceId: h.flowId,
      taskId: h.stepName,
      kind: h.action,
      executionId: h.executionId,
      fenceToken: h.fenceToken,
      input: command.payload ?? {},
    });
    outcome = { status: true, errorMessage: null };
  } catch (error) {
    const final = error instanceof NonRetryableError;
    outcome = {
      status: false,
      errorMessage: error instanceof Error ? error.message : String(error),
      ...(final ? { retryable: false } : {}),
    };
  }
  // Counted from now, later than the lease began: a held-back reply always arrives after it ended.
  const delayedMs = Math.random() < delayRate ? Math.round(KAFKA_LEASE_MS * (1.2 + 0.6 * Math.random())) : 0;
  if (delayedMs > 0) await sleep(delayedMs);
  await sendReply(command, outcome, payload, 0, delayedMs);
  if (Math.random() < duplicateRate) {
    await sleep(Math.random() * 300);
    await sendReply(command, outcome, payload, 1, delayedMs);
  }
}

function parseCommand(value: Buffer | null): Command | null {
  try {
    const body = JSON.parse(value?.toString("utf8") ?? "") as Command;
    return typeof body.headers?.executionId === "string" && typeof body.headers.fenceToken === "number" ? body : null;
  } catch {
    return null;
  }
}

/** The topics exist once the bridges have looked the Kafka steps up (they create them). */
async function waitForTopics(timeoutMs = 120_000): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const existing = new Set(await admin.listTopics().catch(() => [] as string[]));
      if (topics.every((t) => existing.has(t))) return;
      if (Date.now() > deadline) throw new Error(`command topics missing after ${timeoutMs} ms: ${topics.filter((t) => !existing.has(t))}`);
      await sleep(500);
    }
  } finally {
    await admin.disconnect();
  }
}

const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
await waitForTopics();
await producer.connect();
await consumer.connect();
await consumer.subscribe({ topics, fromBeginning: true });
await consumer.run({
  // Its topics are read side by side: each message only logs and hands the command on.
  partitionsConsumedConcurrently: 4,
  eachMessage: async ({ topic, partition, message }) => {
    const command = parseCommand(message.value);
    if (!command) {
      console.error(`kafka service ${workerId}: not a command at ${topic}:${partition}:${message.offset}; skipped`);
      return;
    }
    write(commandLine(workerId, { topic, partition, offset: message.offset }, command.headers));
    while (inFlight.size >= MAX_IN_FLIGHT) await Promise.race(inFlight);
    const handling: Promise<void> = handle(command)
      .catch((error: unknown) => console.error(`kafka service ${workerId}: ${String(error)}`))
      .finally(() => inFlight.delete(handling));
    inFlight.add(handling);
  },
});
await joined;
// The first line says the service is in its group: the suite waits for it before starting runs.
write({ type: "kafka-worker", workerId, at: new Date().toISOString() });

process.on("SIGTERM", async () => {
  await consumer.disconnect().catch(() => {});
  // Replies under way are sent; those held back past their lease are dropped.
  await Promise.race([Promise.allSettled(inFlight), sleep(3000)]);
  await producer.disconnect().catch(() => {});
  await effects.close();
  log.close();
  process.exit(0);
});
