import { createClient } from "@baton/worker-sdk";
import { type Context, count, poolFor, type Scenario } from "../context.ts";
import { expectCount, type Figure, LostWorkError } from "../figure.ts";
import { measure, NotAvailable, perSecond } from "../measure.ts";
import { type BatonStore, expectInstanceStates, ONE_STEP, openBaton, startRuns, withBatonStore } from "../systems/baton.ts";
import { hasBatchStart, startBatchOverHttp } from "../systems/baton-http.ts";
import { startBatonServer } from "../systems/baton-server.ts";
import { GRAPHILE_WORKER_VERSION, graphileAddJobs, graphileJobsLeft, graphileUtils } from "../systems/graphile.ts";
import { PG_BOSS_QUEUE, PG_BOSS_VERSION, pgBossInsert, startPgBoss } from "../systems/pgboss.ts";

/** Concurrent single HTTP starts, as many clients starting one run each would send. */
const SINGLE_START_CONCURRENCY = 32;

/** Enqueue: how fast work gets into each system, with no worker running. */
export const enqueue: Scenario = {
  name: "enqueue",
  async run(ctx) {
    const n = ctx.options.enqueue;
    const chunk = ctx.options.chunk;
    const scenario = `enqueue ${count(n)}`;
    const key = "enqueue-batch";
    const row = (system: string, note?: string) => ({
      scenario,
      system,
      unit: system.startsWith("Baton") ? "runs/s" : "jobs/s",
      ref: key,
      ...(note ? { note } : {}),
    });
    const figures: Figure[] = [];
    if (ctx.has("baton")) {
      figures.push(
        await measure(ctx, { ...row(`Baton in-process: startMany, ${count(chunk)} runs per call`), key }, () =>
          batonStartMany(ctx, "postgres", n),
        ),
        await measure(ctx, row(`Baton HTTP: POST …/runs/batch, ${count(chunk)} runs per request`), () => batonHttpEnqueue(ctx, n, "batch")),
        await measure(ctx, row(`Baton HTTP: ${SINGLE_START_CONCURRENCY} concurrent single starts (client.start)`), () =>
          batonHttpEnqueue(ctx, n, "single"),
        ),
      );
    }
    if (ctx.has("graphile-worker")) {
      figures.push(
        await measure(ctx, row(`graphile-worker ${GRAPHILE_WORKER_VERSION} addJobs, ${count(chunk)} jobs per call`), () =>
          ctx.server.withFreshDatabase("graphile", async (url) => {
            const utils = await graphileUtils(url, 2);
            try {
              const start = performance.now();
              await graphileAddJobs(utils, n, chunk);
              const end = performance.now();
              expectCount("graphile-worker jobs queued", n, await graphileJobsLeft(utils));
              return [perSecond(n, start, end)];
            } finally {
              await utils.release();
            }
          }),
        ),
      );
    }
    if (ctx.has("pg-boss")) {
      figures.push(
        await measure(ctx, row(`pg-boss ${PG_BOSS_VERSION} insert, ${count(chunk)} jobs per call`), () =>
          ctx.server.withFreshDatabase("pgboss", async (url) => {
            const { boss } = await startPgBoss(url, 2);
            try {
              const start = performance.now();
              await pgBossInsert(boss, n, chunk);
              const end = performance.now();
              expectCount("pg-boss jobs queued", n, await boss.getQueueSize(PG_BOSS_QUEUE));
              return [perSecond(n, start, end)];
            } finally {
              await boss.stop({ graceful: true, timeout: 5000 });
            }
          }),
        ),
      );
    }
    return figures;
  },
};

/** Starts `n` one-step runs with startMany in a fresh store; returns runs/s. */
export async function batonStartMany(ctx: Context, kind: BatonStore["kind"], n: number): Promise<number[]> {
  return withBatonStore(ctx.server, kind, poolFor(ctx, 10), async (store) => {
    const engine = await openBaton(store);
    try {
      await engine.workflows.registerWorkflow(ONE_STEP);
      const start = performance.now();
      await startRuns(engine, ONE_STEP.name, n, ctx.options.chunk);
      const end = performance.now();
      await expectInstanceStates(engine, { RUNNING: n }, "Baton startMany");
      return [perSecond(n, start, end)];
    } finally {
      await engine.close();
    }
  });
}

async function batonHttpEnqueue(ctx: Context, n: number, how: "batch" | "single"): Promise<number[] | NotAvailable> {
  return ctx.server.withFreshDatabase("baton_http", async (url) => {
    const server = await startBatonServer(url);
    try {
      const client = createClient({ url: server.url });
      await client.register(ONE_STEP);
      if (how === "batch" && !(await hasBatchStart(server.url))) return new NotAvailable("n/a (route missing)");
      const start = performance.now();
      if (how === "batch") {
        for (let from = 0; from < n; from += ctx.options.chunk) {
          const runs = Array.from({ length: Math.min(ctx.options.chunk, n - from) }, (_, k) => ({
            runId: `r${from + k}`,
            input: { i: from + k },
          }));
          await startBatchOverHttp(server.url, ONE_STEP.name, runs);
        }
      } else {
        let next = 0;
        await Promise.all(
          Array.from({ length: SINGLE_START_CONCURRENCY }, async () => {
            while (next < n) {
              const i = next++;
              const started = await client.start(ONE_STEP.name, { runId: `r${i}`, input: { i } });
              if (!started.created) throw new LostWorkError(`start of run r${i} answered an existing instance`);
            }
          }),
        );
      }
      const end = performance.now();
      await expectInstanceStates(url, { RUNNING: n }, `Baton HTTP ${how} start`);
      return [perSecond(n, start, end)];
    } finally {
      await server.stop();
    }
  });
}
