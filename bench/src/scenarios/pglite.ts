import { count, type Scenario } from "../context.ts";
import type { Figure } from "../figure.ts";
import { measure } from "../measure.ts";
import { batonLoopDrain } from "./drain.ts";
import { batonStartMany } from "./enqueue.ts";
import { batonSagas } from "./saga.ts";

/**
 * The embedded default: the same Baton runs on PGlite (what `pnpm start` uses without
 * DATABASE_URL), in a temp data directory, at smaller counts. Ratios are to the Postgres rows.
 */
export const pglite: Scenario = {
  name: "pglite",
  async run(ctx) {
    if (!ctx.has("baton")) return [];
    const n = ctx.options.pgliteTasks;
    const sagas = Math.max(1, Math.round(n / 10));
    const scenario = "embedded default: PGlite";
    const figures: Figure[] = [
      await measure(
        ctx,
        { scenario, system: `Baton in-process drain, ${count(n)} tasks, 10 loops`, unit: "tasks/s", ref: "drain-c10" },
        () => batonLoopDrain(ctx, "pglite", n, 10),
      ),
      await measure(ctx, { scenario, system: `Baton startMany, ${count(n)} runs`, unit: "runs/s", ref: "enqueue-batch" }, () =>
        batonStartMany(ctx, "pglite", n),
      ),
      await measure(ctx, { scenario, system: `Baton 3-step sagas, ${count(sagas)}, in-process SDK`, unit: "sagas/s", ref: "saga" }, () =>
        batonSagas(ctx, "pglite", sagas, false, "sdk"),
      ),
    ];
    return figures;
  },
};
