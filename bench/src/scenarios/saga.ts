import type { Engine } from "@baton/engine";
import { createWorker, NonRetryableError, silentLogger, type WorkerEvent } from "@baton/worker-sdk";
import { Countdown, Tally, untilCounted } from "../bookkeeping.ts";
import { type Context, count, poolFor, type Scenario } from "../context.ts";
import { analyze } from "../database.ts";
import { type Figure, LostWorkError } from "../figure.ts";
import { measure, perSecond } from "../measure.ts";
import {
  type BatonStore,
  expectInstanceStates,
  instanceStates,
  openBaton,
  runEngineLoops,
  sagaDefinition,
  sagaQueues,
  startRuns,
  withBatonStore,
} from "../systems/baton.ts";

const SDK_CONCURRENCY = 50;
const LOOPS = 10;

/**
 * Sagas: 3-step sequential workflows whose steps all declare an UNDO, loaded with startMany before
 * the clock starts, run to the end. In the failing kind the last step fails without retries, so
 * the two completed steps are undone and the instance ends COMPENSATED: five outcomes per saga.
 */
export const saga: Scenario = {
  name: "saga",
  async run(ctx) {
    if (!ctx.has("baton")) return [];
    const n = ctx.options.sagas;
    const scenario = `3-step sagas, ${count(n)}`;
    const row = (system: string, ref: string) => ({ scenario, system, unit: "sagas/s", ref });
    const figures: Figure[] = [];
    for (const fail of [false, true]) {
      const kind = fail ? "last step fails (non-retryable), 2 UNDOs → COMPENSATED" : "→ COMPLETED";
      const key = fail ? "saga-undo" : "saga";
      figures.push(
        await measure(ctx, { ...row(`Baton in-process SDK, concurrency ${SDK_CONCURRENCY}: ${kind}`, key), key }, () =>
          batonSagas(ctx, "postgres", n, fail, "sdk"),
        ),
        await measure(
          ctx,
          row(`Baton in-process: acquire batch ${ctx.options.batch} + completeMany/failMany, ${LOOPS} loops: ${kind}`, key),
          () => batonSagas(ctx, "postgres", n, fail, "loops"),
        ),
      );
    }
    if (ctx.has("graphile-worker") || ctx.has("pg-boss")) {
      figures.push({
        scenario,
        system: "graphile-worker, pg-boss",
        values: null,
        unit: "",
        note: "no sagas: no multi-step workflows, no compensation",
      });
    }
    return figures;
  },
};

/** Runs `n` preloaded sagas to their end in a fresh store; returns sagas/s. */
export async function batonSagas(
  ctx: Context,
  kind: BatonStore["kind"],
  n: number,
  fail: boolean,
  how: "sdk" | "loops",
): Promise<number[]> {
  return withBatonStore(ctx.server, kind, poolFor(ctx, how === "sdk" ? SDK_CONCURRENCY : LOOPS), async (store) => {
    const engine = await openBaton(store);
    try {
      return [await sagasOn(ctx, engine, store, n, fail, how)];
    } finally {
      await engine.close();
    }
  });
}

/** Starts `n` sagas with startMany, then runs them to their end; returns sagas/s. */
export async function sagasOn(
  ctx: Context,
  engine: Engine,
  store: BatonStore,
  n: number,
  fail: boolean,
  how: "sdk" | "loops",
): Promise<number> {
  const workflow = fail ? "sagaUndo" : "saga";
  const before = await instanceStates(engine);
  await engine.workflows.registerWorkflow(sagaDefinition(workflow));
  await startRuns(engine, workflow, n, ctx.options.chunk);
  if (store.kind === "postgres") await analyze(store.url);
  const tally = new Tally(n);
  const outcomes = new Countdown(n * (fail ? 5 : 3));
  const end =
    how === "sdk"
      ? await runWithSdk(engine, workflow, fail, tally, outcomes)
      : await runWithLoops(ctx, engine, workflow, fail, tally, outcomes);
  tally.verify(`Baton ${workflow}`);
  const endState = fail ? "COMPENSATED" : "COMPLETED";
  await expectInstanceStates(engine, { ...before, [endState]: (before[endState] ?? 0) + n }, `Baton ${workflow}`);
  return perSecond(n, tally.firstAt, end);
}

async function runWithSdk(engine: Engine, workflow: string, fail: boolean, tally: Tally, outcomes: Countdown): Promise<number> {
  const problems: WorkerEvent[] = [];
  const undo = () => ({ undone: true });
  const worker = createWorker({
    engine,
    workflow,
    concurrency: SDK_CONCURRENCY,
    logger: silentLogger,
    handlers: {
      a: {
        do: ({ input }) => {
          tally.mark(input.i);
          return { a: true };
        },
        undo,
      },
      b: { do: () => ({ b: true }), undo },
      c: {
        do: () => {
          if (fail) throw new NonRetryableError("bench: planned failure");
          return { c: true };
        },
        undo,
      },
    },
    onEvent: (event) => {
      if (event.type === "task-completed" || (event.type === "task-failed" && fail)) outcomes.add();
      else if (event.type === "task-failed" || event.type === "report-failed" || event.type === "lease-lost") problems.push(event);
    },
  });
  try {
    const end = await untilCounted(`Baton ${workflow} (SDK)`, outcomes);
    if (problems.length > 0) throw new LostWorkError(`the worker reported ${problems.length} problems, first: ${problems[0]?.type}`);
    return end;
  } finally {
    await worker.stop({ deadlineMs: 5000 });
  }
}

async function runWithLoops(
  ctx: Context,
  engine: Engine,
  workflow: string,
  fail: boolean,
  tally: Tally,
  outcomes: Countdown,
): Promise<number> {
  const stop = new AbortController();
  const running = runEngineLoops(engine, {
    queues: sagaQueues(workflow),
    loops: LOOPS,
    batch: ctx.options.batch,
    signal: stop.signal,
    onTask: (task) => {
      if (task.taskId === "a" && task.kind === "DO") tally.mark((task.input as { i?: unknown }).i);
      return fail && task.taskId === "c" && task.kind === "DO";
    },
    onAccepted: (k) => outcomes.add(k),
  });
  try {
    return await Promise.race([untilCounted(`Baton ${workflow} (loops)`, outcomes), running.then(() => Number.NaN)]);
  } finally {
    stop.abort();
    await running.catch(() => {});
  }
}
