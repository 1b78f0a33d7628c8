import type { Engine } from "@baton/engine";
import { asBatonError } from "../errors.ts";
import type { Transport } from "./transport.ts";

/**
 * A transport that calls an engine in the same process: for embedding Baton, for tests and for
 * benchmarks without HTTP in the way. Only a type is imported from the engine, so the SDK loads
 * no database code unless the caller already has an engine.
 * @example const transport = createInProcessTransport(await createEngine({ database: { kind: "pglite" } }));
 */
export function createInProcessTransport(engine: Engine): Transport {
  // Anything the engine throws that is not a BatonError (a dropped connection, a bug) is reported
  // as INTERNAL, as the HTTP API would answer it: one error class for callers either way.
  const call = async <T>(run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      throw asBatonError(error);
    }
  };
  return {
    acquire: ({ workerId, queues, max, waitMs, signal }) =>
      call(() => engine.dispatcher.acquire({ workerId, queues, max, waitMs, ...(signal ? { signal } : {}) })),
    heartbeat: (lease) => call(() => engine.tasks.heartbeat(lease)),
    complete: (lease) => call(() => engine.tasks.complete(lease)),
    fail: (lease) => call(() => engine.tasks.fail(lease)),
    heartbeatMany: (leases) => call(() => engine.tasks.heartbeatMany(leases)),
    completeMany: (reports) => call(() => engine.tasks.completeMany(reports)),
    failMany: (reports) => call(() => engine.tasks.failMany(reports)),
    release: (leases) => call(async () => ({ released: await engine.tasks.release(leases) })),
    register: (definition) =>
      call(async () => {
        const { definition: _stored, ...result } = await engine.workflows.registerWorkflow(definition);
        return result;
      }),
    start: (workflow, { waitMs, ...params }) =>
      call(async () => {
        const started = await engine.workflows.startWorkflow({ workflow, ...params });
        if (waitMs === undefined) return started;
        const run = await engine.workflows.waitForEnd(started.instanceId, { waitMs });
        return { ...started, state: run.state, output: run.output, error: run.error };
      }),
    get: (instanceId) => call(() => engine.workflows.getWorkflow(instanceId)),
    list: (params) => call(() => engine.workflows.listWorkflows(params)),
    pause: (instanceId) => call(() => engine.workflows.pause(instanceId)),
    resume: (instanceId) => call(() => engine.workflows.resume(instanceId)),
    cancel: (instanceId) => call(() => engine.workflows.cancel(instanceId)),
    compensate: (instanceId, fromTaskId) => call(() => engine.workflows.triggerCompensation(instanceId, fromTaskId)),
    retry: (instanceId, taskId, input) => call(() => engine.tasks.retryTask(instanceId, taskId, input)),
  };
}
