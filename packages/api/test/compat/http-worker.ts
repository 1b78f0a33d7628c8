import type { Harness } from "../http-harness.ts";

/** What a test worker does with a task: answer its output, or throw to fail it for good. */
export type HttpHandler = (task: { taskId: string; kind: string; input: unknown }) => unknown;

/**
 * Plays a worker over HTTP, as an existing service would: acquires from `queues`, runs the handler
 * and completes (or fails: not retryable unless asked) each task, until `done` says so or no task is left.
 * Returns the tasks handled, in order, as `kind taskId`.
 */
export async function workOver(
  h: Harness,
  queues: string[],
  handler: HttpHandler,
  options: { headers?: Record<string, string>; until?: () => boolean | Promise<boolean>; waitMs?: number; retryable?: boolean } = {},
): Promise<string[]> {
  const handled: string[] = [];
  const workerId = "compat-test-worker";
  for (let round = 0; round < 500; round++) {
    if (await options.until?.()) return handled;
    const acquired = await h.call("POST", "/v1/tasks/acquire", { workerId, queues, max: 10, waitMs: options.waitMs ?? 0 }, options.headers);
    if (acquired.status !== 200) throw new Error(`acquire: ${acquired.status} ${JSON.stringify(acquired.body)}`);
    const tasks = acquired.body.tasks as { executionId: string; fenceToken: number; taskId: string; kind: string; input: unknown }[];
    if (tasks.length === 0 && !options.until) return handled;
    for (const t of tasks) {
      handled.push(`${t.kind} ${t.taskId}`);
      const lease = { workerId, fenceToken: t.fenceToken };
      let report: { path: string; body: Record<string, unknown> };
      try {
        report = { path: "complete", body: { ...lease, output: await handler(t) } };
      } catch (error) {
        report = { path: "fail", body: { ...lease, error: { message: (error as Error).message }, retryable: options.retryable ?? false } };
      }
      const answer = await h.call("POST", `/v1/tasks/${t.executionId}/${report.path}`, report.body, options.headers);
      if (answer.status !== 200) throw new Error(`${report.path}: ${answer.status} ${JSON.stringify(answer.body)}`);
    }
  }
  throw new Error("the worker never ran out of tasks");
}
