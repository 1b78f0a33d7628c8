import type { ReportLine } from "@baton/api/check";
import { createHttpTransport, createWorker, type Handlers, silentLogger } from "@baton/worker-sdk";
import { balancedFetch } from "./balanced-fetch.ts";
import { LineLog, loggingTransport } from "./report-log.ts";
import { requiredEnv, StepEffects } from "./step-effect.ts";
import { workerSteps } from "./workflows.ts";

/*
 * One chaos worker process: serves every SDK step of every chaos workflow over HTTP with the SDK.
 * Each attempt does its effect in the ledger with its fence token (refused when a newer attempt
 * wrote), then returns; about one attempt in six fails on purpose, and a run's plan can fail a step
 * for good. Every report it sends is logged with Baton's answer.
 */

const servers = requiredEnv("CHAOS_API_URLS").split(",");
const workerId = requiredEnv("CHAOS_WORKER_ID");
const effects = new StepEffects(requiredEnv("CHAOS_LEDGER_URL"), workerId, Number(process.env.CHAOS_FAIL_RATE ?? "0.15"));

const log = new LineLog(requiredEnv("CHAOS_REPORTS_FILE"));
log.write({ type: "worker", workerId, at: new Date().toISOString() } satisfies ReportLine);
const transport = loggingTransport(createHttpTransport({ url: servers[0] as string, fetch: balancedFetch(servers) }), log);

const handlers: Handlers = {};
for (const [workflow, step] of workerSteps()) {
  const queue = `${workflow}.${step}`;
  handlers[queue] = { queue, do: (ctx) => effects.perform(ctx), undo: (ctx) => effects.perform(ctx) };
}

const worker = createWorker({
  transport,
  handlers,
  workerId,
  concurrency: Number(process.env.CHAOS_CONCURRENCY ?? "16"),
  pollWaitMs: 5000,
  logger: silentLogger,
  retry: { retries: 20, maxDelayMs: 2000 },
});

process.on("SIGTERM", async () => {
  await worker.stop({ deadlineMs: 5000 });
  await effects.close();
  log.close();
  process.exit(0);
});
