import pg from "pg";
import { type EffectLogRow, type EffectRow, type Evidence, type EvidenceSource, readEvidenceFiles } from "./evidence.ts";
import { checkLedger, checkReports, checkStarts, type LedgerStats, type ReportStats } from "./evidence-checks.ts";
import {
  checkAcceptedInTime,
  checkCompensation,
  checkFences,
  checkHistory,
  checkNothingHandedOutWhileStopped,
  checkOneCompletion,
  checkTerminal,
  type Violation,
} from "./invariants.ts";
import { checkKafkaEvidence, checkKafkaHistory, type KafkaStats } from "./kafka-checks.ts";
import { readSnapshot } from "./snapshot.ts";

export interface CheckOptions {
  databaseUrl: string;
  /** Report logs, start and fault logs, and the ledger, when there are some (the chaos suite's). */
  evidence?: EvidenceSource;
  /** Every instance must be terminal (the system is quiet); otherwise running ones are fine. */
  expectQuiesced?: boolean;
  /** With faults logged: every instance terminal within this long of the last fault (I4). */
  quiesceLimitMs?: number;
  /** The least of each fault kind for the run to mean anything. */
  minFaults?: Record<string, number>;
  /** The least number of attempts whose holder wrote after losing its lease and was refused. */
  minStaleRefused?: number;
}

export interface CheckResult {
  ok: boolean;
  violations: Violation[];
  /** Why the run does not count even without violations (too few faults, say). */
  insufficient: string[];
  notes: string[];
  instances: { total: number; byState: Record<string, number>; byWorkflow: Record<string, number> };
  attempts: { total: number; byState: Record<string, number> };
  faults: Record<string, number>;
  staleRefused: { attempts: number; byBaton: number; byLedger: number; byBridge: number };
  reports?: Omit<ReportStats, "staleExecutions">;
  /** Kafka commands and replies (I8), with the Kafka services' logs. */
  kafka?: Omit<KafkaStats, "staleExecutions">;
  ledger?: Omit<LedgerStats, "staleExecutions">;
  starts?: { runIds: number; repeats: number };
  /** From the last fault to the last instance reaching a terminal state. */
  quiesceMs?: number;
}

/**
 * Checks DESIGN §9's invariants on a Baton database, and with evidence also on what workers sent
 * and did. `ok` is false on any violation and when the evidence shows too few faults.
 * @example const result = await runCheck({ databaseUrl: process.env.DATABASE_URL }); printSummary(result);
 */
export async function runCheck(options: CheckOptions): Promise<CheckResult> {
  const snapshot = await readSnapshot(options.databaseUrl);
  const violations: Violation[] = [];
  const report = (v: Violation) => violations.push(v);
  const notes: string[] = [];
  const insufficient: string[] = [];

  checkOneCompletion(snapshot, report);
  checkAcceptedInTime(snapshot, report);
  checkFences(snapshot, report);
  if (options.expectQuiesced) checkTerminal(snapshot, report);
  checkHistory(snapshot, report);
  const i7 = checkNothingHandedOutWhileStopped(snapshot, report);
  if (i7 === "unchecked") notes.push("I7 not checked: it needs track_commit_timestamp = on");
  if (i7 === "partial") notes.push("I7 checked on acquire start times only (install the lease_grants audit for an exact check)");
  checkCompensation(snapshot, report);
  checkKafkaHistory(snapshot, report);

  const result: CheckResult = {
    ok: false,
    violations,
    insufficient,
    notes,
    instances: {
      total: snapshot.instances.length,
      byState: countBy(snapshot.instances.map((i) => i.state)),
      byWorkflow: countBy(snapshot.instances.map((i) => i.workflowName)),
    },
    attempts: { total: snapshot.attempts.length, byState: countBy(snapshot.attempts.map((a) => (a.leased ? "LEASED" : a.state))) },
    faults: {},
    staleRefused: { attempts: 0, byBaton: 0, byLedger: 0, byBridge: 0 },
  };

  if (options.evidence) {
    const evidence: Evidence = await readEvidenceFiles(options.evidence.dir);
    if (options.evidence.ledgerUrl) Object.assign(evidence, await readLedger(options.evidence.ledgerUrl));
    result.faults = countBy(evidence.faults.map((f) => f.kind));
    const stale = new Set<string>();
    if (evidence.reports.length > 0) {
      const { staleExecutions, ...stats } = checkReports(snapshot, evidence.reports, report);
      result.reports = stats;
      result.staleRefused.byBaton = staleExecutions.size;
      for (const e of staleExecutions) stale.add(e);
    } else notes.push("no report logs: accepted outcomes not matched to the reports workers sent");
    if (evidence.effects && evidence.effectLog) {
      const { staleExecutions, ...stats } = checkLedger(snapshot, evidence.effects, evidence.effectLog, report);
      result.ledger = stats;
      result.staleRefused.byLedger = staleExecutions.size;
      for (const e of staleExecutions) stale.add(e);
    }
    if (evidence.kafka.length > 0) {
      const { staleExecutions, ...stats } = checkKafkaEvidence(snapshot, evidence.kafka, report);
      result.kafka = stats;
      result.staleRefused.byBridge = staleExecutions.size;
      for (const e of staleExecutions) stale.add(e);
      // The services' own faults: replies sent twice, and replies held back past their lease.
      result.faults["kafka-reply-duplicate"] = stats.duplicatesSent;
      result.faults["kafka-reply-delay"] = stats.delayedPastLease;
    } else if (snapshot.appliedReplies.length > 0)
      notes.push("no Kafka service logs: Kafka commands not matched to what services read (I8)");
    result.staleRefused.attempts = stale.size;
    if (evidence.starts.length > 0) result.starts = checkStarts(snapshot, evidence.starts, report);

    const lastFault = Math.max(...evidence.faults.map((f) => Date.parse(f.at)));
    if (evidence.faults.length > 0 && snapshot.instances.length > 0) {
      const lastChange = Math.max(...snapshot.instances.map((i) => i.updatedAt.getTime()));
      result.quiesceMs = Math.max(0, lastChange - lastFault);
      if (options.quiesceLimitMs !== undefined && result.quiesceMs > options.quiesceLimitMs) {
        report({
          invariant: "I4",
          message: `the last instance finished ${(result.quiesceMs / 1000).toFixed(1)} s after the last fault (limit ${options.quiesceLimitMs / 1000} s)`,
        });
      }
    }
    for (const [kind, least] of Object.entries(options.minFaults ?? {})) {
      const got = result.faults[kind] ?? 0;
      if (got < least) insufficient.push(`${kind}: ${got} injected, at least ${least} wanted`);
    }
    if (options.minStaleRefused !== undefined && stale.size < options.minStaleRefused) {
      insufficient.push(`stale attempts refused: ${stale.size}, at least ${options.minStaleRefused} wanted`);
    }
  }
  result.ok = violations.length === 0 && insufficient.length === 0;
  return result;
}

async function readLedger(url: string): Promise<{ effects: EffectRow[]; effectLog: EffectLogRow[] }> {
  const client = new pg.Client({ connectionString: url, application_name: "baton-check" });
  await client.connect();
  try {
    const effects = (await client.query("SELECT instance_id, step, kind, fence, execution_id FROM effects")).rows.map(
      (r): EffectRow => ({ instanceId: r.instance_id, step: r.step, kind: r.kind, fence: Number(r.fence), executionId: r.execution_id }),
    );
    const effectLog = (
      await client.query("SELECT instance_id, step, kind, fence, execution_id, worker_id, accepted FROM effect_log ORDER BY id")
    ).rows.map(
      (r): EffectLogRow => ({
        instanceId: r.instance_id,
        step: r.step,
        kind: r.kind,
        fence: Number(r.fence),
        executionId: r.execution_id,
        workerId: r.worker_id,
        accepted: r.accepted,
      }),
    );
    return { effects, effectLog };
  } finally {
    await client.end().catch(() => {});
  }
}

function countBy(values: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}

/** Prints what was checked, the figures, and every violation (the first 20 in full). */
export function printSummary(result: CheckResult, print: (line: string) => void = console.log): void {
  const kv = (o: Record<string, number>) =>
    Object.entries(o)
      .sort()
      .map(([k, v]) => `${k} ${v}`)
      .join(", ") || "none";
  print("baton-check summary");
  print(`  workflows          ${result.instances.total} (${kv(result.instances.byState)})`);
  print(`                     by workflow: ${kv(result.instances.byWorkflow)}`);
  print(`  attempts           ${result.attempts.total} (${kv(result.attempts.byState)})`);
  if (Object.keys(result.faults).length > 0) print(`  faults injected    ${kv(result.faults)}`);
  if (result.reports) {
    const r = result.reports;
    print(
      `  reports            ${r.sent} sent by ${r.workers} workers: ${r.accepted} accepted, ${r.duplicates} duplicates, ${r.refusedStale} refused as stale, ${r.unanswered} unanswered`,
    );
  }
  if (result.ledger)
    print(
      `  ledger             ${result.ledger.writes} writes, ${result.ledger.refused} refused (lower fence), ${result.ledger.orphanEffects} effects of attempts never accepted`,
    );
  if (result.kafka) {
    const k = result.kafka;
    print(
      `  kafka commands     ${k.commands} committed, ${k.published} read by ${k.services} services (${k.redelivered} more than once), ${k.commands - k.published} never read`,
    );
    print(
      `  kafka replies      ${k.repliesSent} sent (${k.duplicatesSent} copies, ${k.delayedPastLease} held past their lease, ${k.repliesUnsent} never sent): ` +
        `${k.applied} applied, ${k.refusedDuplicate} refused as copies, ${k.refusedStale} refused as stale, ${k.notApplied} not applied in time`,
    );
  }
  if (result.starts) print(`  starts             ${result.starts.runIds} runIds, ${result.starts.repeats} repeated starts`);
  if (result.reports || result.ledger || result.kafka) {
    const s = result.staleRefused;
    print(
      `  stale attempts refused  ${s.attempts} (by Baton ${s.byBaton}, by the ledger ${s.byLedger}, by the Kafka bridge ${s.byBridge})`,
    );
  }
  if (result.quiesceMs !== undefined) print(`  time to quiesce    ${(result.quiesceMs / 1000).toFixed(1)} s after the last fault`);
  for (const note of result.notes) print(`  note: ${note}`);
  print(
    `  violations         ${result.violations.length}${result.violations.length ? ` (${kv(countBy(result.violations.map((v) => v.invariant)))})` : ""}`,
  );
  for (const v of result.violations.slice(0, 20)) {
    print(`    [${v.invariant}] ${v.instanceId ? `instance ${v.instanceId} ` : ""}${v.taskId ? `step ${v.taskId}: ` : ""}${v.message}`);
    if (v.details) print(`      ${JSON.stringify(v.details)}`);
  }
  if (result.violations.length > 20) print(`    ... and ${result.violations.length - 20} more`);
  for (const why of result.insufficient) print(`  TOO FEW FAULTS: ${why}`);
  print(result.ok ? "  OK" : "  FAILED");
}
