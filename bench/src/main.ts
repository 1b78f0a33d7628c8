/**
 * pnpm bench — Baton side by side with graphile-worker and pg-boss on one Postgres server; prints
 * the machine, the server and one Markdown table (docs/benchmarks.md explains every row).
 */

import { killChildren } from "./child-process.ts";
import type { Context, Scenario } from "./context.ts";
import { PgServer } from "./database.ts";
import type { Figure } from "./figure.ts";
import { describeRun } from "./machine.ts";
import { commandLine, helpText, parseOptions, type ScenarioName, UsageError } from "./options.ts";
import { drain } from "./scenarios/drain.ts";
import { enqueue } from "./scenarios/enqueue.ts";
import { latency } from "./scenarios/latency.ts";
import { pglite } from "./scenarios/pglite.ts";
import { saga } from "./scenarios/saga.ts";
import { scale, serverRssFigure } from "./scenarios/scale.ts";
import { serverPeaksMb } from "./systems/baton-server.ts";
import { renderTable } from "./table.ts";

const RUN_ORDER: Scenario[] = [drain, enqueue, latency, saga, scale, pglite];

const argv = process.argv.slice(2);
let parsed: ReturnType<typeof parseOptions>;
try {
  parsed = parseOptions(argv);
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  console.error(`pnpm bench: ${error.message}`);
  process.exit(2);
}
if (parsed === "help") {
  console.log(helpText());
  process.exit(0);
}
const options = parsed;
const server = new PgServer(options.databaseUrl);

// An interrupted run still drops its databases (WITH FORCE: a half-stopped worker may hold them).
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping this run's processes, dropping its databases`);
    killChildren();
    server.dropAll().finally(() => process.exit(130));
  });
}

const started = performance.now();
const ctx: Context = {
  options,
  server,
  has: (system) => options.systems.includes(system),
  progress: (line) => console.error(`[${((performance.now() - started) / 1000).toFixed(1).padStart(6)} s] ${line}`),
};

const header = await describeRun(server, commandLine(argv));
console.log(header.join("\n"));
console.error("");

const byScenario = new Map<ScenarioName, Figure[]>();
for (const scenario of RUN_ORDER) {
  if (!options.only.includes(scenario.name)) continue;
  byScenario.set(scenario.name, await scenario.run(ctx));
}
if (options.only.includes("scale") || serverPeaksMb.length > 0) {
  byScenario.set("scale", [...(byScenario.get("scale") ?? []), serverRssFigure(serverPeaksMb)]);
}

const figures = RUN_ORDER.flatMap((scenario) => byScenario.get(scenario.name) ?? []);
const seconds = (performance.now() - started) / 1000;
console.log("");
console.log(
  `repetitions: ${options.reps} (median shown); ratio = figure ÷ Baton's figure named in its scenario; run took ${Math.round(seconds)} s`,
);
console.log("");
console.log(renderTable(figures));

const failed = figures.filter((f) => f.failed);
if (failed.length > 0) {
  console.error(`\n${failed.length} figure(s) lost work or broke:`);
  for (const f of failed) console.error(`  ${f.scenario} · ${f.system}: ${f.failed}`);
  process.exit(1);
}
// Peers' pools and timers may linger a moment after stop; the run is over.
process.exit(0);
