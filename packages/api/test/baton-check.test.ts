import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CheckResult, LEASE_GRANT_AUDIT, type ReportLine, runCheck } from "@baton/api/check";
import { directDb } from "@baton/engine/internal";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { onPglite } from "../../../test-support/database.ts";
import { createTestEngine, type TestEngine } from "../../../test-support/engine.ts";

// baton-check reads a Postgres database by URL (commit timestamps, a repeatable-read snapshot); PGlite has no URL.
describe.skipIf(onPglite)("baton-check", () => {
  let engine: TestEngine;
  let url: string;
  let dir: string;
  const worker = "check-worker";
  const reports: ReportLine[] = [{ type: "worker", workerId: worker, at: new Date().toISOString() }];

  /** Runs every available task: `fail` names steps whose DO fails for good. Logs each report as a worker would. */
  async function drain(fail: Set<string>): Promise<void> {
    for (;;) {
      const tasks = await engine.tasks.acquire({
        queues: ["chk.a", "chk.b", "chk.a.undo", "chk.b.undo", "kinds.n", "kinds.z", "fan.f", "fan.f.undo"],
        workerId: worker,
        max: 10,
      });
      if (tasks.length === 0) return;
      for (const t of tasks) {
        const lease = { executionId: t.executionId, workerId: worker, fenceToken: t.fenceToken };
        const seq = reports.length;
        const at = new Date().toISOString();
        if (t.kind === "DO" && fail.has(t.taskId)) {
          reports.push({ type: "sent", seq, op: "fail", ...lease, at });
          await engine.tasks.fail({ ...lease, error: { message: "no" }, retryable: false });
        } else {
          const output = { done: t.taskId };
          reports.push({ type: "sent", seq, op: "complete", ...lease, output, at });
          await engine.tasks.complete({ ...lease, output });
        }
        reports.push({ type: "answer", seq, ok: true, duplicate: false, at });
      }
    }
  }

  const check = async (): Promise<CheckResult> => {
    await writeFile(join(dir, "reports-check-worker.jsonl"), reports.map((r) => JSON.stringify(r)).join("\n"));
    return runCheck({ databaseUrl: url, evidence: { dir }, expectQuiesced: true });
  };
  const invariants = (r: CheckResult) => [...new Set(r.violations.map((v) => v.invariant))].sort();

  beforeAll(async () => {
    engine = await createTestEngine();
    url = engine.testDb.url as string;
    dir = await mkdtemp(join(tmpdir(), "baton-check-"));
    await sql.raw(LEASE_GRANT_AUDIT).execute(directDb(engine.database));
    await engine.workflows.registerWorkflow({ name: "chk", steps: [{ name: "a", undo: true }, { name: "b" }] });
    for (const runId of ["ok-1", "ok-2", "compensated"]) {
      await engine.workflows.startWorkflow({ workflow: "chk", runId, input: {} });
      await drain(runId === "compensated" ? new Set(["b"]) : new Set());
    }
    // A finished run undone by hand: COMPLETED, then COMPENSATING, then COMPENSATED.
    const undone = await engine.workflows.startWorkflow({ workflow: "chk", runId: "undone", input: {} });
    await drain(new Set());
    await engine.workflows.triggerCompensation(undone.instanceId);
    await drain(new Set());
    // Step kinds the checker must not mistake for broken runs: a skipped step, and one that failed
    // for good but lets the run go on; the run COMPLETED without either completing.
    await engine.workflows.registerWorkflow({
      name: "kinds",
      steps: [{ name: "x", when: { exists: "never" } }, { name: "n", onFailure: "continue", retry: { maxAttempts: 1 } }, { name: "z" }],
    });
    await engine.workflows.startWorkflow({ workflow: "kinds", runId: "kinds", input: {} });
    await drain(new Set(["n"]));
    // Fan-outs: over a list (COMPLETED), an empty list (COMPLETED, nothing leased), no list at all
    // (FAILED at its start), and one whose element 1 fails (element 0 undone, element 2 never run).
    await engine.workflows.registerWorkflow({ name: "fan", steps: [{ name: "f", forEach: "items", maxConcurrency: 2, undo: true }] });
    for (const [runId, input] of [
      ["fan-ok", { items: [1, 2, 3] }],
      ["fan-empty", { items: [] }],
      ["fan-none", {}],
      ["fan-undone", { items: [1, 2, 3] }],
    ] as const) {
      await engine.workflows.startWorkflow({ workflow: "fan", runId, input });
      await drain(runId === "fan-undone" ? new Set(["f#1"]) : new Set());
    }
  });
  afterAll(async () => {
    await engine?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("finds nothing wrong with runs that completed, compensated, or completed and were undone, and counts them", async () => {
    const result = await check();
    expect(result.violations).toEqual([]);
    expect(result.ok).toBe(true);
    expect(result.instances.byState).toEqual({ COMPLETED: 5, COMPENSATED: 3, FAILED: 1 });
    expect(result.reports).toMatchObject({ workers: 1, accepted: 18, refusedStale: 0 });
  });

  it("names a completion no worker reported (I2), a second completion of a step (I1) and a broken history (I5)", async () => {
    const db = directDb(engine.database);
    const { rows } = await sql<{ execution_id: string; workflow_instance_id: string }>`
      SELECT t.execution_id, t.workflow_instance_id FROM task_executions t JOIN workflow_instances i ON i.instance_id = t.workflow_instance_id
      WHERE i.state = 'COMPLETED' AND t.task_id = 'a' AND t.kind = 'DO' LIMIT 1`.execute(db);
    const [done] = rows;
    // A second completed attempt of the same step, as if a stale holder's report had been accepted.
    await sql`
      INSERT INTO task_executions (execution_id, workflow_instance_id, task_id, kind, queue, attempt_number, max_attempts, state, input,
                                   output, lease_ms, lease_holder, lease_expires_at, fence_token, started_at, finished_at)
      SELECT gen_random_uuid(), workflow_instance_id, task_id, kind, queue, attempt_number + 1, max_attempts + 1, 'COMPLETED', input,
             output, lease_ms, 'stale-worker', now() - interval '1 second', fence_token + 1000, now() - interval '2 seconds', now()
      FROM task_executions WHERE execution_id = ${done?.execution_id}`.execute(db);
    const result = await check();
    expect(result.ok).toBe(false);
    expect(invariants(result)).toEqual(["I1", "I2", "I5"]);
    expect(result.violations.find((v) => v.invariant === "I1")).toMatchObject({ instanceId: done?.workflow_instance_id, taskId: "a" });
  });
});
