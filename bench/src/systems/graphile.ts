import { createRequire } from "node:module";
import { Logger, makeWorkerUtils, type Runner, run, type Task, type WorkerUtils } from "graphile-worker";
import { LostWorkError } from "../figure.ts";

export const GRAPHILE_WORKER_VERSION: string = createRequire(import.meta.url)("graphile-worker/package.json").version;

/** Jobs of this task identifier carry `{ i, sentAt? }`. */
export const GRAPHILE_TASK = "bench";

/**
 * The two configurations measured. `default`: concurrency and pool only. `batched`: what the
 * graphile-worker performance page configures for throughput (worker.graphile.org/docs/performance):
 * a local queue of 500 jobs fetched at once, and batched completion and failure.
 */
export const GRAPHILE_MODES = {
  default: {},
  batched: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 },
} as const;
export type GraphileMode = keyof typeof GRAPHILE_MODES;

export function graphileLabel(mode: GraphileMode): string {
  return mode === "default"
    ? `graphile-worker ${GRAPHILE_WORKER_VERSION} default`
    : `graphile-worker ${GRAPHILE_WORKER_VERSION} batched (localQueue 500, completeJobBatchDelay 0)`;
}

// Errors still reach stderr; the per-job info lines would drown the table.
const quietLogger = new Logger(() => (level, message) => {
  if (level === "error") console.error(`graphile-worker: ${message}`);
});

/** WorkerUtils on a fresh database, with graphile-worker's schema installed. */
export async function graphileUtils(url: string, pool: number): Promise<WorkerUtils> {
  const utils = await makeWorkerUtils({ connectionString: url, maxPoolSize: pool, logger: quietLogger });
  await utils.migrate();
  return utils;
}

/** Adds `count` jobs with addJobs, `chunk` per call, one call at a time. */
export async function graphileAddJobs(utils: WorkerUtils, count: number, chunk: number): Promise<void> {
  for (let from = 0; from < count; from += chunk) {
    const specs = Array.from({ length: Math.min(chunk, count - from) }, (_, k) => ({
      identifier: GRAPHILE_TASK,
      payload: { i: from + k },
    }));
    const added = await utils.addJobs(specs);
    if (added.length !== specs.length) throw new LostWorkError(`addJobs added ${added.length} of ${specs.length} jobs`);
  }
}

/** Starts a runner whose one task calls `handler` with the job's payload. */
export function graphileRun(
  url: string,
  options: { concurrency: number; pool: number; mode: GraphileMode; handler: Task },
): Promise<Runner> {
  return run({
    connectionString: url,
    concurrency: options.concurrency,
    maxPoolSize: options.pool,
    noHandleSignals: true,
    logger: quietLogger,
    taskList: { [GRAPHILE_TASK]: options.handler },
    preset: { worker: GRAPHILE_MODES[options.mode] },
  });
}

/** Jobs still in the queue: graphile-worker deletes a job when it completes. */
export async function graphileJobsLeft(utils: WorkerUtils): Promise<number> {
  return utils.withPgClient(async (client) => {
    const { rows } = await client.query<{ n: string }>("SELECT count(*) AS n FROM graphile_worker.jobs");
    return Number(rows[0]?.n);
  });
}
