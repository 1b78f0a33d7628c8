import { isTerminalInstanceState, type RunRefusal, type StartResult, type StartWaitResultSchema } from "@baton/engine";
import type { Context } from "hono";
import type { z } from "zod";
import type { ApiDeps, AppEnv } from "./env.ts";
import { requestWait } from "./request-wait.ts";

export type StartWaitResult = z.infer<typeof StartWaitResultSchema>;

/**
 * A synchronous start's answer: waits up to `waitMs` for the started run to end, holding no
 * database connection (WorkflowCoordinator.waitForEnd), then answers 200 with its final state,
 * output and error, or 202 with its state at the deadline. A client that disconnects ends the
 * wait, and so does the server shutting down (answered 202 with the state then).
 * @example
 * const { status, body } = await waitForRunEnd(deps, c, await engine.workflows.startWorkflow(params), 30_000);
 */
export async function waitForRunEnd(
  { engine, metrics, shutdown }: Pick<ApiDeps, "engine" | "metrics" | "shutdown">,
  c: Context<AppEnv>,
  started: StartResult,
  waitMs: number,
): Promise<{ status: 200 | 202; body: StartWaitResult }> {
  const begun = performance.now();
  const wait = requestWait(c, shutdown);
  const run = await engine.workflows.waitForEnd(started.instanceId, { waitMs, signal: wait.signal }).finally(wait.dispose);
  const ended = isTerminalInstanceState(run.state);
  const outcome = wait.clientGone ? "aborted" : ended ? "ended" : "deadline";
  metrics.runWait.observe({ outcome }, (performance.now() - begun) / 1000);
  return { status: ended ? 200 : 202, body: { ...started, state: run.state, output: run.output, error: run.error } };
}

/**
 * A batch start's answer with `waitMs`: every started run is waited for with one deadline for all
 * (WorkflowCoordinator.waitForEndMany, holding no connection), and each is answered with its
 * state, output and error when it ended or at the deadline; a refused run keeps its refusal. A
 * client that disconnects, or the server shutting down, ends the waits: each run is answered with
 * its state then.
 */
export async function waitForRunsEnd(
  { engine, metrics, shutdown }: Pick<ApiDeps, "engine" | "metrics" | "shutdown">,
  c: Context<AppEnv>,
  results: (StartResult | RunRefusal)[],
  waitMs: number,
): Promise<(StartWaitResult | RunRefusal)[]> {
  const begun = performance.now();
  const started = results.filter((r): r is StartResult => "instanceId" in r);
  const wait = requestWait(c, shutdown);
  const standings = await engine.workflows
    .waitForEndMany(
      started.map((r) => r.instanceId),
      { waitMs, signal: wait.signal },
    )
    .finally(wait.dispose);
  const byInstance = new Map(standings.flatMap((s) => (s ? [[s.instanceId, s] as const] : [])));
  const seconds = (performance.now() - begun) / 1000;
  return results.map((result) => {
    if (!("instanceId" in result)) return result;
    const run = byInstance.get(result.instanceId);
    const ended = run !== undefined && isTerminalInstanceState(run.state);
    metrics.runWait.observe({ outcome: wait.clientGone ? "aborted" : ended ? "ended" : "deadline" }, seconds);
    return { ...result, state: run?.state ?? result.state, output: run?.output ?? null, error: run?.error ?? null };
  });
}
