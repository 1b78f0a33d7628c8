import { isDeepStrictEqual } from "node:util";
import type { EffectLogRow, EffectRow, Evidence, ReportLine, StartLine } from "./evidence.ts";
import { groupBy, type Report } from "./invariants.ts";
import type { AttemptRecord, Snapshot } from "./snapshot.ts";

/*
 * The invariants that need evidence from outside the database: what workers sent and were told
 * (report logs), what their effects did downstream (the ledger), which runs were asked for.
 */

/** Answers that mean "this lease is not yours": a stale or expired write, refused. */
const LEASE_CONFLICTS = new Set(["STALE_FENCE", "LEASE_EXPIRED", "NOT_LEASED", "ALREADY_COMPLETED", "NOT_FOUND"]);

type Sent = Extract<ReportLine, { type: "sent" }>;
type Answer = Extract<ReportLine, { type: "answer" }>;

export interface ReportStats {
  workers: number;
  sent: number;
  accepted: number;
  duplicates: number;
  refusedStale: number;
  unanswered: number;
  /** Executions whose holder wrote after losing its lease and was refused. */
  staleExecutions: Set<string>;
}

/**
 * Every accepted outcome matches a report its holder sent with that fence (and output); every
 * report Baton accepted is what the database shows; no report refused as stale changed anything.
 */
export function checkReports(s: Snapshot, reports: ReportLine[][], report: Report): ReportStats {
  const stats: ReportStats = {
    workers: 0,
    sent: 0,
    accepted: 0,
    duplicates: 0,
    refusedStale: 0,
    unanswered: 0,
    staleExecutions: new Set(),
  };
  const logging = new Set<string>();
  const sentByExecution = new Map<string, Sent[]>();
  const pairs: { sent: Sent; answer: Answer | undefined }[] = [];
  for (const file of reports) {
    const answers = new Map<number, Answer>();
    for (const line of file) {
      if (line.type === "answer" && !answers.has(line.seq)) answers.set(line.seq, line);
    }
    for (const line of file) {
      if (line.type === "worker") logging.add(line.workerId);
      if (line.type !== "sent") continue;
      logging.add(line.workerId);
      pairs.push({ sent: line, answer: answers.get(line.seq) });
      sentByExecution.set(line.executionId, [...(sentByExecution.get(line.executionId) ?? []), line]);
    }
  }
  stats.workers = logging.size;
  const attempts = new Map(s.attempts.map((a) => [a.executionId, a]));
  const stateOf = { complete: "COMPLETED", fail: "FAILED", release: "CANCELLED" } as const;

  for (const { sent, answer } of pairs) {
    stats.sent++;
    const attempt = attempts.get(sent.executionId);
    const fail = (message: string) =>
      report({
        invariant: "I2",
        ...(attempt ? { instanceId: attempt.instanceId, taskId: attempt.taskId } : {}),
        message,
        details: {
          executionId: sent.executionId,
          worker: sent.workerId,
          fence: sent.fenceToken,
          sentAt: sent.at,
          answer,
          stored: attempt && brief(attempt),
        },
      });
    if (!answer || (!answer.ok && answer.code === "UNAVAILABLE")) {
      stats.unanswered++;
      continue;
    }
    const matches = attempt?.fenceToken === sent.fenceToken && attempt.leaseHolder === sent.workerId && attempt.state === stateOf[sent.op];
    if (answer.ok) {
      if (answer.duplicate) stats.duplicates++;
      else stats.accepted++;
      // A release answers a count, not per item: which were released, only the database says.
      if (sent.op !== "release" && !matches) fail(`Baton accepted a ${sent.op} that the database does not show`);
      continue;
    }
    if (!answer.code || !LEASE_CONFLICTS.has(answer.code)) continue;
    stats.refusedStale++;
    stats.staleExecutions.add(sent.executionId);
    // Refused as stale, yet the attempt holds exactly this outcome: only fine when the same report
    // was also sent another time (a retry whose first answer was lost).
    const again = (sentByExecution.get(sent.executionId) ?? []).filter((x) => x.op === sent.op && x.fenceToken === sent.fenceToken);
    if (matches && sent.op !== "release" && again.length < 2) fail(`a ${sent.op} refused with ${answer.code} was applied anyway`);
  }

  for (const a of s.attempts) {
    if ((a.state !== "COMPLETED" && a.state !== "FAILED") || !a.leaseHolder || !logging.has(a.leaseHolder)) continue;
    const op = a.state === "COMPLETED" ? "complete" : "fail";
    const sent = (sentByExecution.get(a.executionId) ?? []).filter(
      (x) =>
        x.op === op &&
        x.fenceToken === a.fenceToken &&
        x.workerId === a.leaseHolder &&
        (op === "fail" || isDeepStrictEqual(x.output ?? null, a.output ?? null)),
    );
    if (sent.length > 0) continue;
    report({
      invariant: "I2",
      instanceId: a.instanceId,
      taskId: a.taskId,
      message: `${a.state} attempt matches no ${op} its holder sent with fence ${a.fenceToken}`,
      details: { ...brief(a), reportsForIt: sentByExecution.get(a.executionId) ?? [] },
    });
  }
  return stats;
}

export interface LedgerStats {
  writes: number;
  refused: number;
  staleExecutions: Set<string>;
  /** Effects of attempts Baton never accepted, left in place (lost reports: not a Baton fault). */
  orphanEffects: number;
}

/**
 * Checked against the ledger, which keeps the highest fence per (instance, step):
 * every COMPLETED attempt's effect was accepted with its fence; no write of a newer lease of the
 * same step and kind exists (a completion by a holder that had been replaced); and the ledger's
 * final effect is not older than the last accepted attempt's.
 */
export function checkLedger(s: Snapshot, effects: EffectRow[], effectLog: EffectLogRow[], report: Report): LedgerStats {
  const stats: LedgerStats = { writes: effectLog.length, refused: 0, staleExecutions: new Set(), orphanEffects: 0 };
  const logByExecution = groupBy(effectLog, (e) => e.executionId);
  const highestByStepKind = new Map<string, EffectLogRow>();
  for (const e of effectLog) {
    if (!e.accepted) {
      stats.refused++;
      stats.staleExecutions.add(e.executionId);
    }
    const key = `${e.instanceId}:${e.step}:${e.kind}`;
    if ((highestByStepKind.get(key)?.fence ?? -1) < e.fence) highestByStepKind.set(key, e);
  }
  const lastAccepted = new Map<string, AttemptRecord>();
  for (const a of s.attempts) {
    if (a.state !== "COMPLETED" || a.fenceToken === null) continue;
    const writes = logByExecution.get(a.executionId);
    if (!writes) continue; // not a ledger-writing worker's step (the Kafka bridge's, say)
    const fail = (message: string, details: Record<string, unknown> = {}) =>
      report({ invariant: "ledger", instanceId: a.instanceId, taskId: a.taskId, message, details: { ...brief(a), ...details } });
    if (!writes.some((w) => w.accepted && w.fence === a.fenceToken))
      fail("the completed attempt's effect was refused by the ledger", { writes });
    const newer = highestByStepKind.get(`${a.instanceId}:${a.taskId}:${a.kind}`);
    if (newer && newer.fence > a.fenceToken) {
      fail(`completed with fence ${a.fenceToken}, but a newer lease of the same ${a.kind} (fence ${newer.fence}) wrote`, { newer });
    }
    const key = `${a.instanceId}:${a.taskId}`;
    if ((lastAccepted.get(key)?.fenceToken ?? -1) < a.fenceToken) lastAccepted.set(key, a);
  }
  for (const e of effects) {
    const accepted = lastAccepted.get(`${e.instanceId}:${e.step}`);
    if (!accepted) {
      stats.orphanEffects++;
      continue;
    }
    if (e.fence < (accepted.fenceToken as number)) {
      report({
        invariant: "ledger",
        instanceId: e.instanceId,
        taskId: e.step,
        message: `the ledger's effect has fence ${e.fence}, older than the accepted ${accepted.kind} (fence ${accepted.fenceToken})`,
      });
    }
  }
  return stats;
}

/** I6: a repeated start with a runId creates nothing; every answer for a runId names one instance. */
export function checkStarts(s: Snapshot, starts: StartLine[], report: Report): { runIds: number; repeats: number } {
  const byRun = groupBy(starts, (l) => `${l.workflow}\u0000${l.runId}`);
  const stored = groupBy(s.instances, (i) => `${i.workflowName}\u0000${i.runId}`);
  const workflows = new Set(starts.map((l) => l.workflow));
  for (const [key, lines] of byRun) {
    const [workflow, runId] = key.split("\u0000");
    const ids = new Set(lines.map((l) => l.instanceId));
    const instances = stored.get(key) ?? [];
    const created = lines.filter((l) => l.created).length;
    if (ids.size > 1 || instances.length !== 1 || instances[0]?.instanceId !== lines[0]?.instanceId || created > 1) {
      report({
        invariant: "I6",
        message: `run ${runId} of ${workflow}: ${ids.size} instance ids answered, ${instances.length} stored, ${created} answered created`,
        details: { answers: lines, stored: instances.map((i) => i.instanceId) },
      });
    }
  }
  for (const i of s.instances) {
    if (workflows.has(i.workflowName) && !byRun.has(`${i.workflowName}\u0000${i.runId}`)) {
      report({
        invariant: "I6",
        instanceId: i.instanceId,
        message: `instance of ${i.workflowName} with run ${i.runId}, which nobody started`,
      });
    }
  }
  return { runIds: byRun.size, repeats: starts.length - byRun.size };
}

function brief(a: AttemptRecord) {
  return {
    executionId: a.executionId,
    kind: a.kind,
    attempt: a.attempt,
    state: a.state,
    fence: a.fenceToken,
    holder: a.leaseHolder,
    startedAt: a.startedAt?.toISOString() ?? null,
    leaseExpiresAt: a.leaseExpiresAt?.toISOString() ?? null,
    finishedAt: a.finishedAt?.toISOString() ?? null,
  };
}

export type { Evidence };
