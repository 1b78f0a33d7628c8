import { createClient, createWorker, silentLogger } from "@baton/worker-sdk";
import { Countdown, sleep, Tally, untilCounted, untilNoneRemain } from "../bookkeeping.ts";
import { type Context, count, poolFor, type Scenario } from "../context.ts";
import { cpuMeter } from "../cpu.ts";
import { type Figure, LostWorkError } from "../figure.ts";
import { type Measured, measure } from "../measure.ts";
import { offerAtRate } from "../offer.ts";
import { latencySummary } from "../stats.ts";
import { expectInstanceStates, ONE_STEP } from "../systems/baton.ts";
import { startBatonServer } from "../systems/baton-server.ts";
import {
  GRAPHILE_MODES,
  GRAPHILE_TASK,
  type GraphileMode,
  graphileJobsLeft,
  graphileLabel,
  graphileRun,
  graphileUtils,
} from "../systems/graphile.ts";
import {
  PG_BOSS_POLLING_SECONDS,
  PG_BOSS_QUEUE,
  pgBossExpectCompleted,
  pgBossJobsLeft,
  pgBossLabel,
  pgBossWork,
  startPgBoss,
} from "../systems/pgboss.ts";

/** pg-boss workers for the latency runs: enough batch capacity (10 × 500 per poll) for 2,000/s. */
const PG_BOSS_WORKERS = 10;
const PG_BOSS_BATCH = 500;
/** Time for workers to connect and park on their first poll before load is offered. */
const WARM_UP_MS = 300;

interface Sample {
  i?: unknown;
  sentAt?: unknown;
}

/**
 * Latency: starts offered at a steady rate; each carries the time it was sent (performance.now()
 * in this process, where the handler also runs), and the handler records its own entry time.
 */
export const latency: Scenario = {
  name: "latency",
  async run(ctx) {
    const figures: Figure[] = [];
    const c = ctx.options.latencyConcurrency;
    const warmUp = ctx.options.latencyWarmupSeconds;
    for (const rate of ctx.options.rates) {
      const load: Load = { rate, warm: rate * warmUp, measured: rate * ctx.options.latencySeconds };
      const after = warmUp > 0 ? ` after ${warmUp} s at the same rate` : "";
      const scenario = `latency start → handler, ${count(rate)}/s for ${ctx.options.latencySeconds} s${after}`;
      const key = `latency-${rate}`;
      const row = (system: string, note?: string) => ({
        scenario,
        system,
        unit: "ms",
        labels: ["p50", "p99", "max"],
        ref: key,
        ...(note ? { note } : {}),
      });
      if (ctx.has("baton")) {
        figures.push(
          await measure(ctx, { ...row(`Baton HTTP: client.start → createWorker({ url }), concurrency ${c}`), key }, () =>
            batonLatency(ctx, load, c),
          ),
        );
      }
      if (ctx.has("graphile-worker")) {
        for (const mode of Object.keys(GRAPHILE_MODES) as GraphileMode[]) {
          figures.push(await measure(ctx, row(graphileLabel(mode), `addJob; concurrency ${c}`), () => graphileLatency(ctx, load, c, mode)));
        }
      }
      if (ctx.has("pg-boss")) {
        figures.push(
          await measure(
            ctx,
            row(pgBossLabel(PG_BOSS_BATCH), `send; ${PG_BOSS_WORKERS} work() workers, polling ${PG_BOSS_POLLING_SECONDS} s`),
            () => pgBossLatency(ctx, load),
          ),
        );
      }
    }
    return figures;
  },
};

/**
 * One steady offer of `warm + measured` starts at `rate`: the first `warm` of them are not
 * measured (every system's first seconds include its JIT warming up and its pools filling).
 */
interface Load {
  rate: number;
  warm: number;
  measured: number;
}

/**
 * Offers the load; `cpuMeter` is read from the first measured start on, and its CPU per measured
 * start is returned with the rate actually offered.
 */
async function offerLoad(
  load: Load,
  meter: () => { perItem(items: number, noun: string): string },
  noun: string,
  send: (i: number) => Promise<unknown>,
): Promise<{ offeredPerSecond: number; cpu: () => string }> {
  let cpu: ReturnType<typeof meter> | undefined;
  const { offeredPerSecond } = await offerAtRate(load.rate, load.warm + load.measured, (i) => {
    if (i === load.warm) cpu = meter();
    return send(i);
  });
  return { offeredPerSecond, cpu: () => (cpu as ReturnType<typeof meter>).perItem(load.measured, noun) };
}

/** Records handler entry minus send time for each job, by the index it carries; the warm-up is left out. */
class Latencies {
  readonly tally: Tally;
  private readonly ms: Float64Array;

  constructor(private readonly load: Load) {
    this.tally = new Tally(load.warm + load.measured);
    this.ms = new Float64Array(load.warm + load.measured);
  }

  enter(payload: Sample): void {
    const now = performance.now();
    this.tally.mark(payload.i);
    if (typeof payload.sentAt !== "number") throw new LostWorkError("a payload arrived without its sentAt");
    this.ms[payload.i as number] = now - payload.sentAt;
  }

  summary(what: string): number[] {
    this.tally.verify(what);
    return latencySummary(Array.from(this.ms.subarray(this.load.warm)));
  }
}

/** The figure with what it cost, and a word when the sender could not keep up the rate (a busy machine). */
function offered(perSecond: number, rate: number, values: number[], cpu: string): Measured {
  const slow = perSecond < rate * 0.95 ? `sender kept up only ${count(Math.round(perSecond))}/s; ` : "";
  return { values, note: `${slow}${cpu}` };
}

async function batonLatency(ctx: Context, load: Load, concurrency: number): Promise<Measured> {
  const total = load.warm + load.measured;
  return ctx.server.withFreshDatabase("baton_http", async (url) => {
    const server = await startBatonServer(url);
    const latencies = new Latencies(load);
    const completed = new Countdown(total);
    const worker = createWorker({
      url: server.url,
      workflow: ONE_STEP.name,
      concurrency,
      logger: silentLogger,
      handlers: {
        work: ({ input }) => {
          latencies.enter(input);
          return { ok: true };
        },
      },
      onEvent: (event) => event.type === "task-completed" && completed.add(),
    });
    try {
      const client = createClient({ url: server.url });
      await client.register(ONE_STEP);
      await sleep(WARM_UP_MS);
      const { offeredPerSecond, cpu } = await offerLoad(
        load,
        () => cpuMeter(server.pid),
        "run",
        (i) => client.start(ONE_STEP.name, { runId: `l${i}`, input: { i, sentAt: performance.now() } }),
      );
      await untilCounted("Baton latency", completed);
      const spent = cpu();
      await expectInstanceStates(url, { COMPLETED: total }, "Baton latency");
      return offered(offeredPerSecond, load.rate, latencies.summary("Baton latency"), spent);
    } finally {
      await worker.stop({ deadlineMs: 5000 });
      await server.stop();
    }
  });
}

async function graphileLatency(ctx: Context, load: Load, concurrency: number, mode: GraphileMode): Promise<Measured> {
  return ctx.server.withFreshDatabase("graphile", async (url) => {
    const utils = await graphileUtils(url, poolFor(ctx, concurrency));
    const latencies = new Latencies(load);
    const runner = await graphileRun(url, {
      concurrency,
      pool: poolFor(ctx, concurrency),
      mode,
      handler: async (payload) => latencies.enter(payload as Sample),
    });
    try {
      await sleep(WARM_UP_MS);
      const { offeredPerSecond, cpu } = await offerLoad(
        load,
        () => cpuMeter(),
        "job",
        (i) => utils.addJob(GRAPHILE_TASK, { i, sentAt: performance.now() }),
      );
      await untilNoneRemain("graphile-worker latency", () => graphileJobsLeft(utils));
      return offered(offeredPerSecond, load.rate, latencies.summary("graphile-worker latency"), cpu());
    } finally {
      await runner.stop();
      await utils.release();
    }
  });
}

async function pgBossLatency(ctx: Context, load: Load): Promise<Measured> {
  return ctx.server.withFreshDatabase("pgboss", async (url) => {
    const { boss, errors } = await startPgBoss(url, poolFor(ctx, PG_BOSS_WORKERS));
    const latencies = new Latencies(load);
    try {
      await pgBossWork(boss, PG_BOSS_WORKERS, PG_BOSS_BATCH, (data) => latencies.enter(data as Sample));
      await sleep(WARM_UP_MS);
      const { offeredPerSecond, cpu } = await offerLoad(
        load,
        () => cpuMeter(),
        "job",
        async (i) => {
          const id = await boss.send(PG_BOSS_QUEUE, { i, sentAt: performance.now() });
          if (!id) throw new LostWorkError(`send of job ${i} returned no id`);
        },
      );
      await untilNoneRemain("pg-boss latency", () => pgBossJobsLeft(boss));
      const spent = cpu();
      await pgBossExpectCompleted(boss, load.warm + load.measured, errors);
      return offered(offeredPerSecond, load.rate, latencies.summary("pg-boss latency"), spent);
    } finally {
      await boss.stop({ graceful: true, timeout: 5000 });
    }
  });
}
