import { count, poolFor, type Scenario } from "../context.ts";
import { analyze, relationSizes } from "../database.ts";
import type { Figure } from "../figure.ts";
import { measure, perSecond } from "../measure.ts";
import { peakRssMb, resetPeakRss } from "../rss.ts";
import { ONE_STEP, openBaton, startRuns } from "../systems/baton.ts";
import { drainWithLoops } from "./drain.ts";

const LOOPS = 10;
/** A backlog this large is loaded and drained once, whatever --reps says: it takes long. */
const ONCE_FROM = 1_000_000;

/**
 * Scale: does the drain rate hold with a deep backlog? Each backlog is loaded with startMany (the
 * fastest path), then drained by engine loops. Also Baton's memory and its tables' sizes.
 * The server-process memory row is added by main after every scenario ran (see serverRssFigure).
 */
export const scale: Scenario = {
  name: "scale",
  async run(ctx) {
    if (!ctx.has("baton")) return [];
    const scenario = "scale: drain of a backlog";
    const sizes = [...ctx.options.scale].sort((a, b) => a - b);
    const key = `scale-${sizes[0]}`;
    // Runs first in a run, so this process holds little besides what Baton needs (see main).
    const resettable = resetPeakRss();
    const figures: Figure[] = [];
    let tables: Awaited<ReturnType<typeof relationSizes>> = [];
    for (const backlog of sizes) {
      const system = `Baton in-process, ${count(backlog)} pending: acquire batch ${ctx.options.batch} + completeMany, ${LOOPS} loops`;
      let loadRate = 0;
      const figure = await measure(
        ctx,
        { scenario, system, unit: "tasks/s", ref: key, ...(backlog === sizes[0] ? { key } : {}) },
        () =>
          ctx.server.withFreshDatabase("baton_scale", async (url) => {
            const engine = await openBaton({ kind: "postgres", url, pool: poolFor(ctx, LOOPS) });
            try {
              await engine.workflows.registerWorkflow(ONE_STEP);
              const start = performance.now();
              await startRuns(engine, ONE_STEP.name, backlog, ctx.options.chunk);
              loadRate = perSecond(backlog, start, performance.now());
              await analyze(url);
              const rate = await drainWithLoops(engine, backlog, LOOPS, ctx.options.batch);
              if (backlog === sizes.at(-1)) tables = await relationSizes(url);
              return { values: [rate], note: `loaded at ${count(Math.round(loadRate))} runs/s (startMany)` };
            } finally {
              await engine.close();
            }
          }),
        backlog >= ONCE_FROM ? 1 : ctx.options.reps,
      );
      figures.push(figure);
    }
    const peak = peakRssMb();
    figures.push({
      scenario,
      system: "Baton peak RSS, in-process (this bench process)",
      values: peak === null ? null : [peak],
      unit: "MB",
      note:
        peak === null ? "no /proc/self/status" : `during the scale runs${resettable ? "" : " (could not reset the peak: whole process)"}`,
    });
    for (const t of tables) {
      figures.push({
        scenario,
        system: `size after ${count(sizes.at(-1) as number)}: ${t.table}`,
        values: [t.totalMb, t.indexesMb],
        unit: "MB",
        labels: ["total", "indexes"],
      });
    }
    return figures;
  },
};

/** The HTTP server processes' peak RSS, known only once every scenario that started one ran. */
export function serverRssFigure(peaksMb: number[]): Figure {
  return {
    scenario: "scale: drain of a backlog",
    system: "Baton peak RSS, HTTP server process",
    values: peaksMb.length > 0 ? [Math.max(...peaksMb)] : null,
    unit: "MB",
    note: peaksMb.length > 0 ? `largest of ${peaksMb.length} server processes in this run` : "no scenario started a server",
  };
}
