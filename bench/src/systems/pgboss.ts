import { createRequire } from "node:module";
import PgBoss from "pg-boss";
import { LostWorkError } from "../figure.ts";

export const PG_BOSS_VERSION: string = createRequire(import.meta.url)("pg-boss/package.json").version;

export const PG_BOSS_QUEUE = "bench";
/** The smallest polling interval pg-boss 10 accepts (its default is 2 s). */
export const PG_BOSS_POLLING_SECONDS = 0.5;

export function pgBossLabel(batchSize: number): string {
  return `pg-boss ${PG_BOSS_VERSION} batch ${batchSize}`;
}

/** A started pg-boss (schema installed) with the bench queue created. Errors it emits are kept. */
export async function startPgBoss(url: string, pool: number): Promise<{ boss: PgBoss; errors: Error[] }> {
  const boss = new PgBoss({ connectionString: url, max: pool });
  const errors: Error[] = [];
  boss.on("error", (error) => errors.push(error));
  await boss.start();
  await boss.createQueue(PG_BOSS_QUEUE);
  return { boss, errors };
}

/** Inserts `count` jobs with insert(), `chunk` per call, one call at a time. */
export async function pgBossInsert(boss: PgBoss, count: number, chunk: number): Promise<void> {
  for (let from = 0; from < count; from += chunk) {
    const jobs = Array.from({ length: Math.min(chunk, count - from) }, (_, k) => ({ name: PG_BOSS_QUEUE, data: { i: from + k } }));
    await boss.insert(jobs);
  }
}

/**
 * `workers` polling workers (pg-boss 10 has no concurrency option: each work() call is one
 * worker), each fetching up to `batchSize` jobs per poll; the handler gets the whole batch and
 * pg-boss completes the batch when it returns.
 */
export async function pgBossWork(boss: PgBoss, workers: number, batchSize: number, handler: (data: unknown) => void): Promise<void> {
  for (let w = 0; w < workers; w++) {
    await boss.work(PG_BOSS_QUEUE, { batchSize, pollingIntervalSeconds: PG_BOSS_POLLING_SECONDS }, async (jobs) => {
      for (const job of jobs) handler(job.data);
    });
  }
}

/** Jobs not yet completed (created, retry or active). */
export function pgBossJobsLeft(boss: PgBoss): Promise<number> {
  return boss.getQueueSize(PG_BOSS_QUEUE, { before: "completed" });
}

/** Throws LostWorkError unless exactly `expected` jobs completed and none failed. */
export async function pgBossExpectCompleted(boss: PgBoss, expected: number, errors: Error[]): Promise<void> {
  if (errors.length > 0) throw new LostWorkError(`pg-boss reported ${errors.length} errors, first: ${errors[0]?.message}`);
  const { rows } = await boss
    .getDb()
    .executeSql("SELECT state, count(*)::int AS n FROM pgboss.job WHERE name = $1 GROUP BY state", [PG_BOSS_QUEUE]);
  const byState = Object.fromEntries(rows.map((r: { state: string; n: number }) => [r.state, r.n]));
  if ((byState.completed ?? 0) !== expected || Object.keys(byState).some((s) => s !== "completed")) {
    throw new LostWorkError(`pg-boss jobs by state ${JSON.stringify(byState)}, expected ${expected} completed`);
  }
}
