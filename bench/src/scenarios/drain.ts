import type { Engine } from "@baton/engine";
import { createWorker, silentLogger, type WorkerEvent } from "@baton/worker-sdk";
import { Countdown, Tally, untilCounted, untilNoneRemain } from "../bookkeeping.ts";
import { type Context, count, poolFor, type Scenario } from "../context.ts";
import { analyze } from "../database.ts";
import { type Figure, LostWorkError } from "../figure.ts";
import { measure, perSecond } from "../measure.ts";
import { AGGREGATE_FLOOR_LABEL, aggregateFloorDrain, aggregateFloorLoad } from "../systems/aggregate-floor.ts";
import { type BatonStore, drainWithLoops, expectInstanceStates, ONE_STEP, openBaton, startRuns, withBatonStore } from "../systems/baton.ts";
import { type BatonServer, startBatonServer } from "../systems/baton-server.ts";
import { BATCH_LOG_FLOOR_LABEL, FLOOR_LABEL, type FloorHistory, floorDrain, floorLoad, floorPool } from "../systems/floor.ts";
import {
  GRAPHILE_MODES,
  type GraphileMode,
  graphileAddJobs,
  graphileJobsLeft,
  graphileLabel,
  graphileRun,
  graphileUtils,
} from "../systems/graphile.ts";
import {
  PG_BOSS_POLLING_SECONDS,
  pgBossExpectCompleted,
  pgBossInsert,
  pgBossJobsLeft,
  pgBossLabel,
  pgBossWork,
  startPgBoss,
} from "../systems/pgboss.ts";
import { type FloorLayout, REDESIGN_FLOOR_LABEL, SCHEMA_FLOOR_LABEL, schemaFloorDrain } from "../systems/schema-floor.ts";

/** The SDK's local queue in the row set beside graphile-worker's batched mode (its localQueue size). */
const BATCHED_PREFETCH = 500;

/**
 * Drain: a backlog of one-step no-op tasks loaded before the clock starts, worked off at a given
 * concurrency. Timed from the first handler entry until the last completion is committed.
 */
export const drain: Scenario = {
  name: "drain",
  async run(ctx) {
    const figures: Figure[] = [];
    const n = ctx.options.tasks;
    for (const c of ctx.options.concurrency) {
      const scenario = `drain ${count(n)} tasks, concurrency ${c}`;
      const key = `drain-c${c}`;
      const row = (system: string, note?: string) => ({
        scenario,
        system,
        unit: system.startsWith("Baton") ? "tasks/s" : "jobs/s",
        ref: key,
        ...(note ? { note } : {}),
      });
      if (ctx.has("baton")) {
        figures.push(
          await measure(ctx, { ...row(`Baton in-process: acquire batch ${ctx.options.batch} + completeMany, ${c} loops`), key }, () =>
            batonLoopDrain(ctx, "postgres", n, c),
          ),
          await measure(ctx, row("Baton in-process SDK: createWorker({ engine })"), () => batonSdkDrain(ctx, n, c, "in-process")),
          await measure(ctx, row("Baton SDK over HTTP: createWorker({ url }), separate server process"), () =>
            batonSdkDrain(ctx, n, c, "http"),
          ),
          // graphile-worker's batched mode holds a local queue of 500 jobs; the SDK's equal is prefetch.
          await measure(ctx, row(`Baton SDK over HTTP, prefetch ${BATCHED_PREFETCH} (as graphile's local queue)`), () =>
            batonSdkDrain(ctx, n, c, "http", BATCHED_PREFETCH),
          ),
        );
      }
      if (ctx.has("floor")) {
        const note = `${c} loops, batch ${ctx.options.batch}, as Baton's loops`;
        figures.push(await measure(ctx, row(FLOOR_LABEL, note), () => floorRun(ctx, n, c, "per attempt")));
        figures.push(await measure(ctx, row(BATCH_LOG_FLOOR_LABEL, note), () => floorRun(ctx, n, c, "per batch")));
        figures.push(await measure(ctx, row(AGGREGATE_FLOOR_LABEL, note), () => aggregateFloorRun(ctx, n, c)));
        figures.push(await measure(ctx, row(SCHEMA_FLOOR_LABEL, note), () => schemaFloorRun(ctx, n, c, "today")));
        figures.push(await measure(ctx, row(REDESIGN_FLOOR_LABEL, note), () => schemaFloorRun(ctx, n, c, "redesign")));
      }
      if (ctx.has("graphile-worker")) {
        for (const mode of Object.keys(GRAPHILE_MODES) as GraphileMode[]) {
          figures.push(await measure(ctx, row(graphileLabel(mode)), () => graphileDrain(ctx, n, c, mode)));
        }
      }
      if (ctx.has("pg-boss")) {
        for (const batch of [50, 500]) {
          const note = `${c} work() workers, polling ${PG_BOSS_POLLING_SECONDS} s`;
          figures.push(await measure(ctx, row(pgBossLabel(batch), note), () => pgBossDrain(ctx, n, c, batch)));
        }
      }
    }
    return figures;
  },
};

/** Loads `n` one-step runs with startMany into a fresh store, then drains them with engine loops. */
export async function batonLoopDrain(ctx: Context, kind: BatonStore["kind"], n: number, loops: number): Promise<number[]> {
  return withBatonStore(ctx.server, kind, poolFor(ctx, loops), async (store) => {
    const engine = await openBaton(store);
    try {
      await loadOneStep(engine, store, n, ctx.options.chunk);
      return [await drainWithLoops(engine, n, loops, ctx.options.batch)];
    } finally {
      await engine.close();
    }
  });
}

async function loadOneStep(engine: Engine, store: BatonStore, n: number, chunk: number): Promise<void> {
  await engine.workflows.registerWorkflow(ONE_STEP);
  await startRuns(engine, ONE_STEP.name, n, chunk);
  if (store.kind === "postgres") await analyze(store.url);
}

/**
 * The worker SDK with a no-op handler, in this process against the engine or over HTTP against a
 * separate server process on the same database (the backlog is loaded in-process first).
 */
async function batonSdkDrain(
  ctx: Context,
  n: number,
  concurrency: number,
  transport: "in-process" | "http",
  prefetch?: number,
): Promise<number[]> {
  return withBatonStore(ctx.server, "postgres", poolFor(ctx, concurrency), async (store) => {
    if (store.kind !== "postgres") throw new Error("unreachable");
    let engine: Engine | undefined = await openBaton(store);
    let server: BatonServer | undefined;
    try {
      await loadOneStep(engine, store, n, ctx.options.chunk);
      if (transport === "http") {
        await engine.close();
        engine = undefined;
        server = await startBatonServer(store.url);
      }
      const rate = await drainWithSdk(server ? { url: server.url } : { engine: engine as Engine }, n, concurrency, prefetch);
      await expectInstanceStates(engine ?? store.url, { COMPLETED: n }, "Baton SDK drain");
      return [rate];
    } finally {
      await server?.stop();
      await engine?.close();
    }
  });
}

async function drainWithSdk(
  connect: { url: string } | { engine: Engine },
  n: number,
  concurrency: number,
  prefetch?: number,
): Promise<number> {
  const tally = new Tally(n);
  const completed = new Countdown(n);
  const problems: WorkerEvent[] = [];
  const worker = createWorker({
    ...connect,
    workflow: ONE_STEP.name,
    concurrency,
    ...(prefetch === undefined ? {} : { prefetch }),
    logger: silentLogger,
    handlers: {
      work: ({ input }) => {
        tally.mark(input.i);
        return { ok: true };
      },
    },
    onEvent: (event) => {
      if (event.type === "task-completed") completed.add();
      else if (event.type === "report-failed" || event.type === "lease-lost" || event.type === "task-failed") problems.push(event);
    },
  });
  try {
    const end = await untilCounted("Baton SDK drain", completed);
    tally.verify("Baton SDK drain");
    if (problems.length > 0) throw new LostWorkError(`the worker reported ${problems.length} problems, first: ${problems[0]?.type}`);
    return perSecond(n, tally.firstAt, end);
  } finally {
    await worker.stop({ deadlineMs: 5000 });
  }
}

/** A backlog loaded by Baton's startMany, drained by raw SQL on Baton's tables (the engine is closed first). */
async function schemaFloorRun(ctx: Context, n: number, loops: number, layout: FloorLayout): Promise<number[]> {
  return withBatonStore(ctx.server, "postgres", poolFor(ctx, loops), async (store) => {
    if (store.kind !== "postgres") throw new Error("unreachable");
    const engine = await openBaton(store);
    try {
      await loadOneStep(engine, store, n, ctx.options.chunk);
    } finally {
      await engine.close();
    }
    const rate = await schemaFloorDrain(store.url, n, loops, ctx.options.batch, layout);
    await expectInstanceStates(store.url, { COMPLETED: n }, "schema floor drain");
    return [rate];
  });
}

async function floorRun(ctx: Context, n: number, loops: number, history: FloorHistory): Promise<number[]> {
  return ctx.server.withFreshDatabase("floor", async (url) => {
    const pool = floorPool(url, poolFor(ctx, loops));
    try {
      await floorLoad(pool, n, ctx.options.chunk);
      return [await floorDrain(pool, n, loops, ctx.options.batch, history)];
    } finally {
      await pool.end();
    }
  });
}

async function aggregateFloorRun(ctx: Context, n: number, loops: number): Promise<number[]> {
  return ctx.server.withFreshDatabase("aggregate", async (url) => {
    const pool = floorPool(url, poolFor(ctx, loops));
    try {
      await aggregateFloorLoad(pool, n, ctx.options.chunk);
      return [await aggregateFloorDrain(pool, n, loops, ctx.options.batch)];
    } finally {
      await pool.end();
    }
  });
}

async function graphileDrain(ctx: Context, n: number, concurrency: number, mode: GraphileMode): Promise<number[]> {
  return ctx.server.withFreshDatabase("graphile", async (url) => {
    const pool = poolFor(ctx, concurrency);
    const utils = await graphileUtils(url, 2);
    try {
      await graphileAddJobs(utils, n, ctx.options.chunk);
      await analyze(url);
      const tally = new Tally(n);
      const runner = await graphileRun(url, {
        concurrency,
        pool,
        mode,
        handler: async (payload) => tally.mark((payload as { i?: unknown }).i),
      });
      try {
        const end = await untilNoneRemain("graphile-worker drain", () => graphileJobsLeft(utils));
        tally.verify("graphile-worker drain");
        return [perSecond(n, tally.firstAt, end)];
      } finally {
        await runner.stop();
      }
    } finally {
      await utils.release();
    }
  });
}

async function pgBossDrain(ctx: Context, n: number, workers: number, batchSize: number): Promise<number[]> {
  return ctx.server.withFreshDatabase("pgboss", async (url) => {
    const { boss, errors } = await startPgBoss(url, poolFor(ctx, workers));
    try {
      await pgBossInsert(boss, n, ctx.options.chunk);
      await analyze(url);
      const tally = new Tally(n);
      await pgBossWork(boss, workers, batchSize, (data) => tally.mark((data as { i?: unknown }).i));
      const end = await untilNoneRemain("pg-boss drain", () => pgBossJobsLeft(boss));
      tally.verify("pg-boss drain");
      await pgBossExpectCompleted(boss, n, errors);
      return [perSecond(n, tally.firstAt, end)];
    } finally {
      await boss.stop({ graceful: true, timeout: 5000 });
    }
  });
}
