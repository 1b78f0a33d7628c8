/**
 * The scale scenario's Baton run, in a process of its own so its peak RSS is Baton's alone (the
 * bench process also holds the peers and every earlier run). Loads a backlog with startMany,
 * drains it with engine loops, prints one JSON line: ScaleResult, or { error }.
 */
import { pathToFileURL } from "node:url";
import { analyze, type RelationSize, relationSizes } from "./database.ts";
import { perSecond } from "./measure.ts";
import { peakRssMb } from "./rss.ts";
import { drainWithLoops, ONE_STEP, openBaton, startRuns } from "./systems/baton.ts";

export interface ScaleParams {
  url: string;
  backlog: number;
  loops: number;
  batch: number;
  pool: number;
  chunk: number;
  sizes: boolean;
}

export interface ScaleResult {
  drainPerSecond: number;
  loadPerSecond: number;
  peakRssMb: number | null;
  sizes: RelationSize[];
}

export const SCALE_CHILD = "bench/src/scale-child.ts";

async function main(params: ScaleParams): Promise<ScaleResult> {
  const engine = await openBaton({ kind: "postgres", url: params.url, pool: params.pool });
  try {
    await engine.workflows.registerWorkflow(ONE_STEP);
    const start = performance.now();
    await startRuns(engine, ONE_STEP.name, params.backlog, params.chunk);
    const loadPerSecond = perSecond(params.backlog, start, performance.now());
    await analyze(params.url);
    const drainPerSecond = await drainWithLoops(engine, params.backlog, params.loops, params.batch);
    return { drainPerSecond, loadPerSecond, peakRssMb: peakRssMb(), sizes: params.sizes ? await relationSizes(params.url) : [] };
  } finally {
    await engine.close();
  }
}

// Run only as the entry point: the scale scenario imports this module for its types and path.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    console.log(JSON.stringify(await main(JSON.parse(process.argv[2] ?? "") as ScaleParams)));
    process.exit(0);
  } catch (error) {
    const { name, message } = error instanceof Error ? error : { name: "Error", message: String(error) };
    console.log(JSON.stringify({ error: { name, message } }));
    process.exit(1);
  }
}
