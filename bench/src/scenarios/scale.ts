import { spawnTypeScript } from "../child-process.ts";
import { count, poolFor, type Scenario } from "../context.ts";
import type { RelationSize } from "../database.ts";
import { type Figure, LostWorkError } from "../figure.ts";
import { measure } from "../measure.ts";
import { SCALE_CHILD, type ScaleParams, type ScaleResult } from "../scale-child.ts";

const LOOPS = 10;
/** A backlog this large is loaded and drained once, whatever --reps says: it takes long. */
const ONCE_FROM = 1_000_000;
const SCALE_SCENARIO = "scale: backlog drain, memory, table sizes";

/**
 * Scale: does the drain rate hold with a deep backlog? Each backlog is loaded with startMany (the
 * fastest path), then drained by engine loops, in a child process so its memory is measured
 * alone. Also Baton's tables' sizes after the largest backlog. The server-process memory row is
 * added by main once every scenario ran (serverRssFigure).
 */
export const scale: Scenario = {
  name: "scale",
  async run(ctx) {
    if (!ctx.has("baton")) return [];
    const scenario = SCALE_SCENARIO;
    const backlogs = [...ctx.options.scale].sort((a, b) => a - b);
    const largest = backlogs.at(-1) as number;
    const key = `scale-${backlogs[0]}`;
    const figures: Figure[] = [];
    const peaks: number[] = [];
    let tables: RelationSize[] = [];
    for (const backlog of backlogs) {
      const system = `Baton in-process, ${count(backlog)} pending: acquire batch ${ctx.options.batch} + completeMany, ${LOOPS} loops`;
      const loads: number[] = [];
      const figure = await measure(
        ctx,
        { scenario, system, unit: "tasks/s", ref: key, ...(backlog === backlogs[0] ? { key } : {}) },
        () =>
          ctx.server.withFreshDatabase("baton_scale", async (url) => {
            const params: ScaleParams = {
              url,
              backlog,
              loops: LOOPS,
              batch: ctx.options.batch,
              pool: poolFor(ctx, LOOPS),
              chunk: ctx.options.chunk,
              sizes: backlog === largest,
            };
            const result = await runChild(params);
            loads.push(result.loadPerSecond);
            if (result.peakRssMb !== null) peaks.push(result.peakRssMb);
            if (backlog === largest) tables = result.sizes;
            return [result.drainPerSecond];
          }),
        backlog >= ONCE_FROM ? 1 : ctx.options.reps,
      );
      const [low, high] = [Math.min(...loads), Math.max(...loads)].map((v) => count(Math.round(v)));
      const loaded = loads.length === 0 ? "" : `loaded with startMany at ${low === high ? low : `${low}–${high}`} runs/s`;
      figures.push({ ...figure, ...(figure.failed ? {} : { note: [figure.note, loaded].filter(Boolean).join("; ") }) });
    }
    figures.push({
      scenario,
      system: "Baton peak RSS, in-process (engine in its own process)",
      values: peaks.length > 0 ? [Math.max(...peaks)] : null,
      unit: "MB",
      note: peaks.length > 0 ? `largest over the scale runs; node + tsx + engine, backlog up to ${count(largest)}` : "not measured",
    });
    for (const t of tables) {
      figures.push({
        scenario,
        system: `size after ${count(largest)}: ${t.table}`,
        values: [t.totalMb, t.indexesMb],
        unit: "MB",
        labels: ["total", "indexes"],
      });
    }
    return figures;
  },
};

/** Runs one scale run in its own process; its failure (LostWorkError included) is rethrown here. */
async function runChild(params: ScaleParams): Promise<ScaleResult> {
  const child = spawnTypeScript(SCALE_CHILD, [JSON.stringify(params)], {}, ["ignore", "pipe", "inherit"]);
  let stdout = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  const last = stdout.trim().split("\n").at(-1) ?? "";
  let answer: (ScaleResult & { error?: undefined }) | { error: { name: string; message: string } };
  try {
    answer = JSON.parse(last);
  } catch {
    throw new Error(`the scale process exited with code ${code} and no answer`);
  }
  if (answer.error) {
    throw answer.error.name === "LostWorkError" ? new LostWorkError(answer.error.message) : new Error(answer.error.message);
  }
  return answer;
}

/** The HTTP server processes' peak RSS, known only once every scenario that started one ran. */
export function serverRssFigure(peaksMb: number[]): Figure {
  return {
    scenario: SCALE_SCENARIO,
    system: "Baton peak RSS, HTTP server process (production bundle)",
    values: peaksMb.length > 0 ? [Math.max(...peaksMb)] : null,
    unit: "MB",
    note: peaksMb.length > 0 ? `largest of ${peaksMb.length} server processes in this run` : "no scenario started a server",
  };
}
