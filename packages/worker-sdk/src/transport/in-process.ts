import type { InstanceSummary, RegisterResult, StartResult } from "@baton/contract";
import { asBatonError } from "../errors.ts";
import type { LeaseRef, StartParams, Transport } from "./transport.ts";

/**
 * What the in-process transport calls on an engine, in the transport's own terms: the engine that
 * `createEngine` of @baton/engine opens fits it. Written here rather than imported from the engine,
 * so that neither the SDK's code nor its type declarations need @baton/engine installed.
 */
export interface InProcessEngine {
  readonly dispatcher: { acquire: Transport["acquire"] };
  readonly tasks: Pick<Transport, "heartbeat" | "complete" | "fail" | "heartbeatMany" | "completeMany" | "failMany"> & {
    release(leases: LeaseRef[]): Promise<number>;
    retryTask: Transport["retry"];
  };
  readonly workflows: {
    registerWorkflow(definition: unknown): Promise<RegisterResult & { definition: unknown }>;
    startWorkflow(params: Omit<StartParams, "waitMs"> & { workflow: string }): Promise<StartResult>;
    waitForEnd(instanceId: string, options: { waitMs: number }): Promise<InstanceSummary>;
    getWorkflow: Transport["get"];
    listWorkflows: Transport["list"];
    pause: Transport["pause"];
    resume: Transport["resume"];
    cancel: Transport["cancel"];
    triggerCompensation: Transport["compensate"];
  };
}

/**
 * A transport that calls an engine in the same process: for embedding Baton, for tests and for
 * benchmarks without HTTP in the way. The SDK imports nothing from the engine, so it loads no
 * database code unless the caller already has an engine.
 * @example const transport = createInProcessTransport(await createEngine({ database: { kind: "pglite" } }));
 */
export function createInProcessTransport(engine: InProcessEngine): Transport {
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
