import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CheckResult, commandLine, type KafkaLine, LEASE_GRANT_AUDIT, runCheck } from "@baton/api/check";
import { directDb } from "@baton/engine/internal";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { onPglite } from "../../../../test-support/database.ts";
import { createTestEngine, type TestEngine } from "../../../../test-support/engine.ts";
import { type CollectedMessage, collect, ensureTopics, eventually, kafkaFixture } from "../../../../test-support/kafka.ts";
import type { CommandHeaders, InboundOutcome } from "../../src/kafka/index.ts";

// I8 in baton-check: commands the database committed against what a Kafka service read, and the
// replies it applied against what the service sent, over a real bridge and broker. baton-check reads
// a Postgres database by URL, so this runs on Postgres only.

const headersOf = (command: CollectedMessage) => (command.value as { headers: CommandHeaders }).headers;

describe.skipIf(onPglite)("baton-check, invariant I8", () => {
  let engine: TestEngine;
  let dir: string;
  const k = kafkaFixture();
  const outcomes: InboundOutcome[] = [];
  const workflow = `i8-${crypto.randomUUID().slice(0, 8)}`;
  let commands: CollectedMessage[];
  /** The service's log, as the chaos suite's Kafka services write it. */
  const log: KafkaLine[] = [{ type: "kafka-worker", workerId: "svc", at: new Date().toISOString() }];
  let seq = 0;

  const read = (command: CollectedMessage): KafkaLine => {
    const line = commandLine("svc", command, headersOf(command));
    log.push(line);
    return line;
  };

  /** Replies success to a command, logging the reply before it goes and where it landed. */
  async function reply(command: CollectedMessage, options: { copy?: number; delayedMs?: number } = {}) {
    const h = headersOf(command);
    const output = { paid: h.fenceToken };
    const line = {
      type: "reply",
      seq: ++seq,
      workerId: "svc",
      executionId: h.executionId,
      fenceToken: h.fenceToken,
      instanceId: h.flowId,
      step: h.stepName,
      kind: h.action,
      status: true,
      output,
      copy: options.copy ?? 0,
      delayedMs: options.delayedMs ?? 0,
      at: new Date().toISOString(),
    } satisfies KafkaLine;
    log.push(line);
    const [meta] = await k.producer.send({
      topic: k.topics.response,
      messages: [{ key: h.flowId, value: JSON.stringify({ headers: { ...h, status: true, errorMessage: null }, payload: output }) }],
    });
    const landed = {
      type: "reply-sent",
      seq: line.seq,
      topic: k.topics.response,
      partition: meta?.partition ?? -1,
      offset: String(meta?.baseOffset),
    };
    log.push({ ...landed, at: new Date().toISOString() } as KafkaLine);
    return `kafka:${landed.topic}:${landed.partition}:${landed.offset}`;
  }

  const outcomeOf = (executionId: string, kind: InboundOutcome["kind"]) =>
    eventually(
      () => outcomes.find((o) => o.kind === kind && "detail" in o && o.detail.executionId === executionId),
      `a ${kind} reply to ${executionId}`,
    );
  const completed = (instanceId: string) =>
    eventually(async () => (await engine.workflows.getWorkflow(instanceId)).state === "COMPLETED", "the run to complete");

  async function check(lines: KafkaLine[] = log): Promise<CheckResult> {
    await writeFile(join(dir, "kafka-svc.jsonl"), lines.map((l) => JSON.stringify(l)).join("\n"));
    return runCheck({ databaseUrl: engine.testDb.url as string, evidence: { dir }, expectQuiesced: true });
  }
  const i8 = (r: CheckResult) => r.violations.filter((v) => v.invariant === "I8").map((v) => v.message);

  let duplicateKey: string;
  let applied: { key: string; instanceId: string; sequenceNumber: number };

  beforeAll(async () => {
    engine = await createTestEngine({ pollIntervalMs: 100 });
    dir = await mkdtemp(join(tmpdir(), "baton-check-kafka-"));
    await sql.raw(LEASE_GRANT_AUDIT).execute(directDb(engine.database));
    await k.connect();
    const bridge = await k.startBridge(engine, { onInbound: (_topic, outcome) => outcomes.push(outcome) });
    await engine.workflows.registerWorkflow({
      name: workflow,
      defaults: { transport: "kafka", leaseMs: 10_000, retry: { maxAttempts: 3, backoffMs: 0 } },
      steps: [{ name: "pay" }],
    });
    await bridge.refresh();
    const topic = k.topics.command(workflow, "pay", "DO");
    await ensureTopics(k.admin, [topic]);
    const reader = await collect(k.kafka, [topic]);
    k.onClose(() => reader.stop());
    commands = reader.messages;

    // Run 1: the reply is sent twice; the copy changes nothing.
    const one = await engine.workflows.startWorkflow({ workflow, runId: "replied-twice", input: {} });
    const c1 = await eventually(() => commands[0], "run 1's command");
    read(c1);
    const firstKey = await reply(c1);
    duplicateKey = await reply(c1, { copy: 1 });
    await outcomeOf(headersOf(c1).executionId, "duplicate");
    await completed(one.instanceId);
    const [row] = (
      await sql<{ workflow_instance_id: string; sequence_number: string }>`
        SELECT workflow_instance_id, sequence_number FROM report_keys WHERE idempotency_key = ${firstKey}`.execute(
        directDb(engine.database),
      )
    ).rows;
    applied = { key: firstKey, instanceId: row?.workflow_instance_id as string, sequenceNumber: Number(row?.sequence_number) };

    // Run 2: attempt 1 is read but its lease runs out; attempt 2 is replied to; attempt 1's reply comes late.
    const two = await engine.workflows.startWorkflow({ workflow, runId: "late-reply", input: {} });
    const b1 = await eventually(() => commands[1], "run 2's first command");
    read(b1);
    await engine.expireLease(headersOf(b1).executionId);
    await eventually(async () => (await engine.tasks.reapExpiredLeases()) === 1, "attempt 1 to time out");
    const b2 = await eventually(() => commands[2], "run 2's second command");
    read(b2);
    await reply(b2);
    await completed(two.instanceId);
    await reply(b1, { delayedMs: 1 });
    await outcomeOf(headersOf(b1).executionId, "stale");
  });

  afterAll(async () => {
    await k.close();
    await engine?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("counts commands read and replies applied once, a copy and a late reply refused, and finds nothing wrong", async () => {
    const result = await check();
    expect(result.violations).toEqual([]);
    expect(result.ok).toBe(true);
    expect(result.kafka).toEqual({
      services: 1,
      commands: 3,
      published: 3,
      redelivered: 0,
      repliesSent: 4,
      repliesUnsent: 0,
      duplicatesSent: 1,
      delayedPastLease: 1,
      applied: 2,
      refusedDuplicate: 1,
      refusedStale: 1,
      notApplied: 0,
    });
    expect(result.staleRefused).toMatchObject({ byBridge: 1, attempts: 1 });
    expect(result.faults).toMatchObject({ "kafka-reply-duplicate": 1, "kafka-reply-delay": 1 });
  });

  it("names a command a service read whose lease the database never committed", async () => {
    const [first] = log.filter((l) => l.type === "command");
    const result = await check([...log, { ...(first as KafkaLine & { type: "command" }), fenceToken: 999_999_999 }]);
    expect(i8(result)).toEqual([expect.stringMatching(/whose lease the database never committed/)]);
  });

  it("names an outcome whose command no service read", async () => {
    const first = log.find((l) => l.type === "command");
    const result = await check(log.filter((l) => l !== first));
    expect(i8(result)).toEqual([expect.stringMatching(/is COMPLETED, but no service read its command/)]);
  });

  it("names a reply applied after its lease had ended, and one no service sent", async () => {
    const late = log.map((l) => (l.type === "reply" && l.seq === 1 ? { ...l, at: new Date(Date.now() + 60_000).toISOString() } : l));
    expect(i8(await check(late))).toEqual([expect.stringMatching(/was sent after its lease had ended, and applied/)]);
    // Without the first reply in the log, the applied message is nobody's (its copy landed elsewhere).
    const unsent = log.filter((l) => !(l.type === "reply" || l.type === "reply-sent") || l.seq !== 1);
    expect(i8(await check(unsent))).toEqual([expect.stringMatching(/which no service sent for that attempt/)]);
  });

  it("names two replies applied to one command", async () => {
    const db = directDb(engine.database);
    // As if the copy had been applied too: its message recorded against the same outcome.
    await sql`INSERT INTO report_keys (idempotency_key, workflow_instance_id, sequence_number)
              VALUES (${duplicateKey}, ${applied.instanceId}, ${applied.sequenceNumber})`.execute(db);
    try {
      expect(i8(await check())).toEqual([expect.stringMatching(/1 outcomes recorded from 2 replies/)]);
    } finally {
      await sql`DELETE FROM report_keys WHERE idempotency_key = ${duplicateKey}`.execute(db);
    }
  });
});
