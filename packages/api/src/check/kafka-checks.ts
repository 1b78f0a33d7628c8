import { isDeepStrictEqual } from "node:util";
import { taskIdParts } from "@baton/engine";
import type { KafkaLine } from "./evidence.ts";
import { groupBy, type Report, settledByPlanner } from "./invariants.ts";
import { type AttemptRecord, definitionKey, type EventRecord, type Snapshot } from "./snapshot.ts";

/*
 * Invariant I8 (DESIGN §9): every Kafka command the database committed is published at least once,
 * and replies are applied at most once. The database shows the commands (leases of `transport:
 * kafka` steps: the bridge publishes one per lease, after it committed) and the replies that
 * changed something (each is remembered by its topic/partition/offset with the event it wrote).
 * The services' logs show which commands reached them and which replies they sent, and where those
 * landed.
 */

const OUTCOMES = new Set(["TASK_COMPLETED", "TASK_FAILED"]);

export interface KafkaStats {
  /** Services that kept a log. */
  services: number;
  /** Leases of Kafka steps: the commands the database committed. */
  commands: number;
  /** Of those, how many a service read off a command topic. */
  published: number;
  /** Commands read more than once (redelivered). */
  redelivered: number;
  /** Replies the broker took, copies included. */
  repliesSent: number;
  /** Replies whose send never succeeded. */
  repliesUnsent: number;
  /** Copies of a reply sent again on purpose. */
  duplicatesSent: number;
  /** Replies held back on purpose until their lease had expired. */
  delayedPastLease: number;
  applied: number;
  /** Replies not applied because another reply to the same command had been. */
  refusedDuplicate: number;
  /** Replies not applied that landed in Kafka after their lease had ended (expired, or the attempt cancelled). */
  refusedStale: number;
  /** Replies that landed while their lease held, yet were not applied (read after it ran out, or dead-lettered). */
  notApplied: number;
  /** Executions with a reply refused as stale. */
  staleExecutions: Set<string>;
}

/** The Kafka attempts of a snapshot, by execution id (attempts of steps with `transport: kafka`). */
function kafkaAttempts(s: Snapshot): Map<string, AttemptRecord> {
  const instances = new Map(s.instances.map((i) => [i.instanceId, i]));
  const out = new Map<string, AttemptRecord>();
  for (const a of s.attempts) {
    const i = instances.get(a.instanceId);
    const definition = i && s.definitions.get(definitionKey(i.namespace, i.workflowName, i.workflowVersion));
    // An attempt the planner settled (a fan-out over an empty or unusable list) sent no command.
    const step = definition?.steps.find((x) => x.name === taskIdParts(a.taskId).step);
    if (step?.transport === "kafka" && !settledByPlanner(a)) out.set(a.executionId, a);
  }
  return out;
}

/** The event each applied reply wrote, by the reply's key. */
function appliedEvents(s: Snapshot): Map<string, EventRecord | undefined> {
  return new Map(s.appliedReplies.map((r) => [r.key, s.events.get(r.instanceId)?.find((e) => e.sequenceNumber === r.sequenceNumber)]));
}

const fenceKey = (executionId: unknown, fence: unknown) => `${executionId}:${fence}`;

/** Whether `when` is after the lease of this fence had ended (expired, or cut short by a time-out or cancel). */
function afterLease(when: string, fenceToken: number, attempt: AttemptRecord | undefined): boolean {
  if (!attempt || attempt.fenceToken !== fenceToken) return false;
  const at = Date.parse(when);
  if (attempt.leaseExpiresAt && at > attempt.leaseExpiresAt.getTime()) return true;
  const cut = attempt.state === "TIMED_OUT" || attempt.state === "CANCELLED";
  return cut && attempt.finishedAt !== null && at > attempt.finishedAt.getTime();
}

/**
 * I8 as the database alone shows it: each Kafka attempt's outcome is recorded once, by one applied
 * reply, and each applied reply wrote an outcome.
 */
export function checkKafkaHistory(s: Snapshot, report: Report): void {
  const attempts = kafkaAttempts(s);
  const repliesByExecution = new Map<string, string[]>();
  for (const [key, event] of appliedEvents(s)) {
    if (!event || !OUTCOMES.has(event.eventType)) {
      report({ invariant: "I8", message: `applied reply ${key} recorded no task outcome`, details: { event } });
      continue;
    }
    const executionId = String(event.payload.executionId);
    repliesByExecution.set(executionId, [...(repliesByExecution.get(executionId) ?? []), key]);
  }
  const outcomesByExecution = new Map<string, EventRecord[]>();
  for (const list of s.events.values()) {
    for (const e of list) {
      if (!OUTCOMES.has(e.eventType)) continue;
      const id = String(e.payload.executionId);
      outcomesByExecution.set(id, [...(outcomesByExecution.get(id) ?? []), e]);
    }
  }
  for (const a of attempts.values()) {
    const where = { instanceId: a.instanceId, taskId: a.taskId };
    const outcomes = outcomesByExecution.get(a.executionId) ?? [];
    const replies = repliesByExecution.get(a.executionId) ?? [];
    if (outcomes.length > 1 || replies.length > 1) {
      report({
        invariant: "I8",
        ...where,
        message: `${a.kind} attempt ${a.attempt}: ${outcomes.length} outcomes recorded from ${replies.length} replies (at most one)`,
        details: { executionId: a.executionId, replies, outcomes: outcomes.map((e) => e.sequenceNumber) },
      });
    }
    if ((a.state === "COMPLETED" || a.state === "FAILED") && replies.length === 0) {
      report({
        invariant: "I8",
        ...where,
        message: `${a.kind} attempt ${a.attempt} of a Kafka step is ${a.state} without a reply that says so`,
        details: { executionId: a.executionId, holder: a.leaseHolder },
      });
    }
  }
}

type Command = Extract<KafkaLine, { type: "command" }>;
type Reply = Extract<KafkaLine, { type: "reply" }>;
type Landed = Extract<KafkaLine, { type: "reply-sent" }>;

/**
 * I8 against the services' logs: every command a service read was committed; every Kafka attempt
 * with an outcome was read by a service; no step's command failed to reach a service on every
 * attempt; every applied reply is one a service sent for that attempt, with that outcome, and none
 * sent after its lease expired; no two replies to one command were applied.
 */
export function checkKafkaEvidence(s: Snapshot, logs: KafkaLine[][], report: Report): KafkaStats {
  const attempts = kafkaAttempts(s);
  const stats: KafkaStats = {
    services: 0,
    commands: 0,
    published: 0,
    redelivered: 0,
    repliesSent: 0,
    repliesUnsent: 0,
    duplicatesSent: 0,
    delayedPastLease: 0,
    applied: 0,
    refusedDuplicate: 0,
    refusedStale: 0,
    notApplied: 0,
    staleExecutions: new Set(),
  };
  const services = new Set<string>();
  const reads = new Map<string, Command[]>();
  const replies: { reply: Reply; landed: Landed | undefined }[] = [];
  for (const file of logs) {
    const landed = new Map<number, Landed>();
    for (const line of file) if (line.type === "reply-sent") landed.set(line.seq, line);
    for (const line of file) {
      if (line.type === "kafka-worker") services.add(line.workerId);
      else if (line.type === "command") {
        const key = fenceKey(line.executionId, line.fenceToken);
        reads.set(key, [...(reads.get(key) ?? []), line]);
      } else if (line.type === "reply") replies.push({ reply: line, landed: landed.get(line.seq) });
    }
  }
  stats.services = services.size;

  // Published at least once: what the services read against what the database committed.
  const committed = new Set(
    s.grants
      ? s.grants.filter((g) => attempts.has(g.executionId)).map((g) => fenceKey(g.executionId, g.fenceToken))
      : [...attempts.values()].filter((a) => a.fenceToken !== null).map((a) => fenceKey(a.executionId, a.fenceToken)),
  );
  stats.commands = committed.size;
  for (const [key, read] of reads) {
    if (read.length > 1) stats.redelivered++;
    if (committed.has(key)) stats.published++;
    else {
      const c = read[0] as Command;
      report({
        invariant: "I8",
        instanceId: c.instanceId,
        taskId: c.step,
        message: `a service read a command (fence ${c.fenceToken}) whose lease the database never committed`,
        details: { command: c },
      });
    }
  }
  const readAttempt = (a: AttemptRecord) => reads.has(fenceKey(a.executionId, a.fenceToken));
  for (const a of attempts.values()) {
    if ((a.state === "COMPLETED" || a.state === "FAILED") && !readAttempt(a)) {
      report({
        invariant: "I8",
        instanceId: a.instanceId,
        taskId: a.taskId,
        message: `${a.kind} attempt ${a.attempt} is ${a.state}, but no service read its command`,
        details: { executionId: a.executionId, fence: a.fenceToken },
      });
    }
  }
  const instances = new Map(s.instances.map((i) => [i.instanceId, i]));
  for (const group of groupBy([...attempts.values()], (a) => `${a.instanceId}:${a.taskId}:${a.kind}`).values()) {
    const first = group[0] as AttemptRecord;
    const instance = instances.get(first.instanceId);
    const step = instance
      ? s.definitions
          .get(definitionKey(instance.namespace, instance.workflowName, instance.workflowVersion))
          ?.steps.find((x) => x.name === taskIdParts(first.taskId).step)
      : undefined;
    // A step whose every attempt timed out unread: its command never got through, however often committed.
    if (step && group.length >= step.retry.maxAttempts && group.every((a) => a.state === "TIMED_OUT" && !readAttempt(a))) {
      report({
        invariant: "I8",
        instanceId: first.instanceId,
        taskId: first.taskId,
        message: `the ${first.kind} command was committed ${group.length} times and never reached a service`,
        details: { executionIds: group.map((a) => a.executionId) },
      });
    }
  }

  // Applied at most once, and only as sent.
  const events = appliedEvents(s);
  const landingKey = (l: Landed) => `kafka:${l.topic}:${l.partition}:${l.offset}`;
  const byLanding = new Map<string, Reply>();
  const sentByAttempt = new Map<string, { reply: Reply; landed: Landed | undefined }[]>();
  for (const sent of replies) {
    const key = fenceKey(sent.reply.executionId, sent.reply.fenceToken);
    sentByAttempt.set(key, [...(sentByAttempt.get(key) ?? []), sent]);
    if (sent.landed) byLanding.set(landingKey(sent.landed), sent.reply);
  }
  const appliedAttempts = new Set<string>();
  for (const [key, event] of events) {
    if (!event || !OUTCOMES.has(event.eventType)) continue; // named by checkKafkaHistory
    stats.applied++;
    const attemptKey = fenceKey(event.payload.executionId, event.payload.fenceToken);
    appliedAttempts.add(attemptKey);
    const status = event.eventType === "TASK_COMPLETED";
    // A send that failed may still have landed (its acknowledgement lost) under an offset nobody logged.
    const sent = byLanding.get(key) ?? sentByAttempt.get(attemptKey)?.find((x) => !x.landed && x.reply.status === status)?.reply;
    const where = { instanceId: event.instanceId, taskId: String(event.payload.taskId) };
    if (!sent || fenceKey(sent.executionId, sent.fenceToken) !== attemptKey || sent.status !== status) {
      report({
        invariant: "I8",
        ...where,
        message: `Baton applied reply ${key}, which no service sent for that attempt`,
        details: { sent, event },
      });
      continue;
    }
    if (status && !isDeepStrictEqual(sent.output ?? null, event.payload.output ?? null)) {
      report({ invariant: "I8", ...where, message: `reply ${key} was applied with another output than sent`, details: { sent, event } });
    }
    // Handed to Kafka after the lease ended (Baton read it later still), yet applied.
    if (afterLease(sent.at, sent.fenceToken, attempts.get(sent.executionId))) {
      report({ invariant: "I8", ...where, message: `reply ${key} was sent after its lease had ended, and applied`, details: { sent } });
    }
  }

  for (const { reply, landed } of replies) {
    if (!landed) {
      stats.repliesUnsent++;
      continue;
    }
    stats.repliesSent++;
    const attempt = attempts.get(reply.executionId);
    if (reply.copy > 0) stats.duplicatesSent++;
    if (reply.delayedMs > 0 && afterLease(reply.at, reply.fenceToken, attempt)) stats.delayedPastLease++;
    // In Kafka only after the lease ended: Baton read it too late, whatever held it up.
    const stale = afterLease(landed.at, reply.fenceToken, attempt);
    if (events.has(landingKey(landed))) continue;
    if (appliedAttempts.has(fenceKey(reply.executionId, reply.fenceToken))) stats.refusedDuplicate++;
    else if (stale) {
      stats.refusedStale++;
      stats.staleExecutions.add(reply.executionId);
    } else stats.notApplied++;
  }
  return stats;
}
