import { LEDGER_WRITE, type ReportLine } from "@baton/api/check";
import { createHttpTransport, createWorker, type HandlerContext, type Handlers, NonRetryableError, silentLogger } from "@baton/worker-sdk";
import pg from "pg";
import { balancedFetch } from "./balanced-fetch.ts";
import { LineLog, loggingTransport } from "./report-log.ts";
import { type RunPlan, WORKFLOWS } from "./workflows.ts";

/*
 * One chaos worker process: serves every step of every chaos workflow over HTTP with the SDK. Each
 * attempt does its effect in the ledger with its fence token (refused when a newer attempt wrote),
 * then returns; about one attempt in six fails on purpose, and a run's plan can fail a step for good.
 * Every report it sends is logged with Baton's answer.
 */

const env = (name: string) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const servers = env("CHAOS_API_URLS").split(",");
const workerId = env("CHAOS_WORKER_ID");
const transientFailureRate = Number(process.env.CHAOS_FAIL_RATE ?? "0.15");

const ledger = new pg.Pool({ connectionString: env("CHAOS_LEDGER_URL"), max: 8, application_name: "chaos-ledger" });
ledger.on("error", () => {});
ledger.on("connect", (client) => client.on("error", () => {}));

const log = new LineLog(env("CHAOS_REPORTS_FILE"));
log.write({ type: "worker", workerId, at: new Date().toISOString() } satisfies ReportLine);
const transport = loggingTransport(createHttpTransport({ url: servers[0] as string, fetch: balancedFetch(servers) }), log);

/** Writes the effect with its fence; retried while the ledger's server is away (restarts). */
async function writeEffect(ctx: HandlerContext): Promise<boolean> {
  for (let tries = 0; ; tries++) {
    try {
      const { rows } = await ledger.query<{ accepted: boolean }>(LEDGER_WRITE, [
        ctx.instanceId,
        ctx.taskId,
        ctx.kind,
        ctx.fenceToken,
        ctx.executionId,
        workerId,
      ]);
      return rows[0]?.accepted === true;
    } catch (error) {
      if (tries >= 50) throw error;
      await sleep(200);
    }
  }
}

async function step(ctx: HandlerContext): Promise<unknown> {
  const plan = (ctx.input.chaos ?? {}) as RunPlan;
  await sleep(5 + Math.random() * 45);
  if (ctx.kind === "DO" && plan.failStep === ctx.taskId) throw new NonRetryableError(`planned permanent failure of ${ctx.taskId}`);
  if (ctx.kind === "UNDO" && plan.failUndo === ctx.taskId) throw new NonRetryableError(`planned permanent failure of undo ${ctx.taskId}`);
  if (Math.random() < transientFailureRate) throw new Error("injected transient failure");
  if (!(await writeEffect(ctx))) throw new Error(`the ledger refused fence ${ctx.fenceToken}: a newer attempt wrote first`);
  return { step: ctx.taskId, kind: ctx.kind, fence: ctx.fenceToken, workerId };
}

const handlers: Handlers = {};
for (const workflow of WORKFLOWS) {
  for (const s of workflow.steps) handlers[`${workflow.name}.${s.name}`] = { queue: `${workflow.name}.${s.name}`, do: step, undo: step };
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
  await ledger.end().catch(() => {});
  log.close();
  process.exit(0);
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
