import { count, type Scenario } from "../context.ts";
import type { Figure } from "../figure.ts";
import { measure, perSecond } from "../measure.ts";
import { drainWithLoops, expectInstanceStates, ONE_STEP, openBaton, startRuns, withBatonStore } from "../systems/baton.ts";
import { sagasOn } from "./saga.ts";

const LOOPS = 10;

/**
 * The embedded default: Baton on PGlite (what `pnpm start` uses without DATABASE_URL), in a temp
 * data directory, at smaller counts. One fresh directory per repetition serves its three runs in
 * turn (PGlite takes seconds to start): startMany of the backlog, its drain, then the sagas.
 * Ratios are to the Postgres rows of the same run.
 */
export const pglite: Scenario = {
  name: "pglite",
  async run(ctx) {
    if (!ctx.has("baton")) return [];
    const n = ctx.options.pgliteTasks;
    const sagas = Math.max(1, Math.round(n / 10));
    const scenario = "embedded default: PGlite";
    const all = await measure(ctx, { scenario, system: "Baton on PGlite: startMany / drain / sagas", unit: "per s" }, () =>
      withBatonStore(ctx.server, "pglite", 1, async (store) => {
        const engine = await openBaton(store);
        try {
          await engine.workflows.registerWorkflow(ONE_STEP);
          const start = performance.now();
          await startRuns(engine, ONE_STEP.name, n, ctx.options.chunk);
          const enqueued = perSecond(n, start, performance.now());
          await expectInstanceStates(engine, { RUNNING: n }, "Baton startMany on PGlite");
          const drained = await drainWithLoops(engine, n, LOOPS, ctx.options.batch);
          const sagasPerSecond = await sagasOn(ctx, engine, store, sagas, false, "sdk");
          return [enqueued, drained, sagasPerSecond];
        } finally {
          await engine.close();
        }
      }),
    );
    const part = (i: number, system: string, unit: string, ref: string): Figure => ({
      ...all,
      system,
      unit,
      ref,
      values: all.values ? [all.values[i] as number] : null,
    });
    return [
      part(0, `Baton startMany, ${count(n)} runs, ${count(Math.min(n, ctx.options.chunk))} per call`, "runs/s", "enqueue-batch"),
      part(
        1,
        `Baton in-process drain of those ${count(n)}: acquire batch ${ctx.options.batch} + completeMany, ${LOOPS} loops`,
        "tasks/s",
        "drain-c10",
      ),
      part(2, `Baton 3-step sagas, ${count(sagas)}, in-process SDK`, "sagas/s", "saga"),
    ];
  },
};
