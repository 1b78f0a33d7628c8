import type { Context } from "./context.ts";
import { type Figure, LostWorkError } from "./figure.ts";
import { medianOfRuns } from "./stats.ts";
import { formatNumber } from "./table.ts";

/** A run that could not be measured for a reason that is not a failure (e.g. a route not there yet). */
export class NotAvailable {
  constructor(readonly reason: string) {}
}

/** What one run measured; `note` (e.g. the rate actually offered) is shown beside the figure. */
export type Measured = number[] | { values: number[]; note: string } | NotAvailable;

/**
 * Runs `once` `reps` times (each run sets up its own fresh database) and returns the figure with
 * the median of each value. A run that throws makes the figure failed, with the reason.
 */
export async function measure(
  ctx: Context,
  figure: Omit<Figure, "values">,
  once: () => Promise<Measured>,
  reps = ctx.options.reps,
): Promise<Figure> {
  const runs: number[][] = [];
  const notes: string[] = [];
  for (let rep = 1; rep <= reps; rep++) {
    const label = `${figure.scenario} · ${figure.system}${reps > 1 ? ` · run ${rep}/${reps}` : ""}`;
    try {
      const measured = await once();
      if (measured instanceof NotAvailable) {
        ctx.progress(`${label}: ${measured.reason}`);
        return { ...figure, values: null, note: measured.reason };
      }
      const values = Array.isArray(measured) ? measured : measured.values;
      if (!Array.isArray(measured)) notes.push(measured.note);
      ctx.progress(`${label}: ${values.map((v) => formatNumber(v, figure.unit)).join(" / ")} ${figure.unit}`);
      runs.push(values);
    } catch (error) {
      const lost = error instanceof LostWorkError;
      const reason = `${lost ? "LOST WORK" : "ERROR"}: ${error instanceof Error ? error.message : String(error)}`;
      ctx.progress(`${label}: ${reason}`);
      if (!lost && error instanceof Error && error.stack) ctx.progress(error.stack);
      return { ...figure, values: null, failed: reason.split("\n")[0] as string };
    }
  }
  const note = [figure.note, ...new Set(notes)].filter(Boolean).join("; ");
  return { ...figure, values: medianOfRuns(runs), ...(note ? { note } : {}) };
}

/** Throughput in items per second between two performance.now() readings. */
export function perSecond(items: number, startMs: number, endMs: number): number {
  return (items * 1000) / Math.max(endMs - startMs, 0.001);
}
