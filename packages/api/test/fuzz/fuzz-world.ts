import { acquireOne, type Harness, uniqueWorkflow } from "../http-harness.ts";

/**
 * Real things for the fuzz to aim at: a workflow, instances in each interesting state, and leases
 * with their current and replaced (stale) fence tokens, so that mutated requests reach the engine
 * with ids and tokens that exist rather than stopping at validation.
 */
export interface FuzzWorld {
  workflow: string;
  queue: string;
  steps: string[];
  namespace: string;
  instanceIds: string[];
  executionIds: string[];
  /** Fence tokens handed out so far: the current ones and the stale ones they replaced. */
  fenceTokens: number[];
  workerIds: string[];
  runIds: string[];
  /** A cursor a real page answered. */
  cursor: string;
}

/** Builds the world over HTTP, as a client would. */
export async function buildFuzzWorld(h: Harness): Promise<FuzzWorld> {
  const { name: workflow, queue } = uniqueWorkflow("fuzz");
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await h.call(method, path, body);
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  };
  await call("POST", "/v1/workflows", {
    name: workflow,
    steps: [
      { name: "a", queue, undo: true, retry: { maxAttempts: 3, backoffMs: 0 } },
      { name: "b", queue, retry: { maxAttempts: 2, backoffMs: 0 } },
    ],
  });
  const start = async (runId: string) => (await call("POST", `/v1/workflows/${workflow}/runs`, { runId, input: { runId } })).instanceId;
  const executionIds: string[] = [];
  const fenceTokens: number[] = [];
  const lease = async (workerId = "w1") => {
    const task = await acquireOne(h, queue, workerId);
    executionIds.push(task.executionId);
    fenceTokens.push(task.fenceToken);
    return { ...task, workerId };
  };
  const report = (t: { executionId: string; workerId: string; fenceToken: number }, action: string, extra: object = {}) =>
    call("POST", `/v1/tasks/${t.executionId}/${action}`, { workerId: t.workerId, fenceToken: t.fenceToken, ...extra });

  // Done: both steps completed.
  const done = await start("done");
  await report(await lease(), "complete", { output: { a: 1 } });
  await report(await lease(), "complete", { output: { b: 1 } });
  // Failed for good: step a refused without retry (a candidate for the retry route).
  const failed = await start("failed");
  await report(await lease(), "fail", { error: { reason: "seed" }, retryable: false });
  // Leased: attempt 1 failed and retried, attempt 2 held by w1 with a long lease; attempt 1's token is stale.
  const leased = await start("leased");
  await report(await lease("w1"), "fail", { error: { reason: "first try" } });
  await lease("w1");
  const paused = await start("paused");
  await call("POST", `/v1/instances/${paused}/pause`);
  const cancelled = await start("cancelled");
  await call("POST", `/v1/instances/${cancelled}/cancel`);
  const page = await call("GET", `/v1/instances?workflow=${workflow}&limit=1`);

  return {
    workflow,
    queue,
    steps: ["a", "b"],
    namespace: "default",
    instanceIds: [done, failed, leased, paused, cancelled],
    executionIds,
    fenceTokens,
    workerIds: ["w1", "w2"],
    runIds: ["done", "failed", "leased", "paused", "cancelled"],
    cursor: page.nextCursor,
  };
}
