import type {
  DefinitionRow,
  HttpCall,
  HttpStepConfig,
  InstanceView,
  StepRef,
  StepServing,
  StepStatus,
  WaitingStep,
  WorkerPollRow,
  WorkerView,
  WorkflowView,
} from "@baton/engine";
import type { ApiDeps } from "./env.ts";

type ServingDeps = Pick<ApiDeps, "engine" | "readinessWindowMs" | "relayWorkers">;

/** Who serves each queue, asked once for all of them (relays such as the Kafka bridge left out). */
async function servingOf(deps: ServingDeps, refs: StepRef[]): Promise<StepServing[]> {
  return deps.engine.registrations.serving(refs, { recentMs: deps.readinessWindowMs, ignoreWorkers: deps.relayWorkers });
}

/** Stored definitions with, for each DO and UNDO queue, who serves it: a polling worker, a registered service, or nobody. */
export async function workflowViews(deps: ServingDeps, rows: DefinitionRow[]): Promise<WorkflowView[]> {
  const refs = rows.flatMap((row) =>
    row.definition.steps.flatMap((s) => {
      const ref = { namespace: row.namespace, workflow: row.name, step: s.name };
      return [{ ...ref, queue: s.queue }, ...(s.undo ? [{ ...ref, queue: s.undo.queue }] : [])];
    }),
  );
  const answers = await servingOf(deps, refs);
  const byRef = new Map(refs.map((ref, i) => [refKey(ref), answers[i] as StepServing]));
  const readiness = (ref: StepRef) => {
    const answer = byRef.get(refKey(ref)) as StepServing;
    return { ready: answer.serving !== "nobody", ...answer };
  };
  return rows.map((row) => {
    const steps = row.definition.steps.map((s): StepStatus => {
      const ref = { namespace: row.namespace, workflow: row.name, step: s.name };
      return {
        name: s.name,
        queue: s.queue,
        transport: s.transport,
        leaseMs: s.leaseMs,
        retry: s.retry,
        dependsOn: s.dependsOn,
        ...readiness({ ...ref, queue: s.queue }),
        undo: s.undo ? { ...s.undo, ...readiness({ ...ref, queue: s.undo.queue }) } : null,
        ...(s.http ? { http: httpStepView(s.http) } : {}),
        ...(s.forEach !== undefined ? { forEach: s.forEach, maxConcurrency: s.maxConcurrency } : {}),
      };
    });
    return {
      namespace: row.namespace,
      name: row.name,
      version: row.version,
      type: row.definition.type,
      ...(row.definition.description ? { description: row.definition.description } : {}),
      createdAt: row.createdAt.toISOString(),
      ready: steps.every((s) => s.ready && (s.undo === null || s.undo.ready)),
      steps,
    };
  });
}

/**
 * An instance's PENDING attempts with who serves each, so a run waiting on a step nobody serves
 * says so. Worker ids are left out: the instance view shows lease holders to admin keys only.
 */
export async function waitingSteps(deps: ServingDeps, view: InstanceView): Promise<WaitingStep[]> {
  const pending = view.tasks.filter((t) => t.state === "PENDING");
  const answers = await servingOf(
    deps,
    // An element of a fan-out step is served by whoever serves its step.
    pending.map((t) => ({ namespace: view.namespace, workflow: view.workflowName, step: t.step, queue: t.queue })),
  );
  return pending.map((t, i) => {
    const { serving, services } = answers[i] as StepServing;
    return { taskId: t.taskId, kind: t.kind, queue: t.queue, attempt: t.attempt, serving, services };
  });
}

const refKey = (ref: StepRef) => [ref.namespace, ref.workflow, ref.step, ref.queue].join("\u0000");

/** One entry per worker: the queues it polled and when it was last seen. */
export function workerViews(polls: WorkerPollRow[]): WorkerView[] {
  const byWorker = new Map<string, WorkerPollRow[]>();
  for (const p of polls) byWorker.set(p.workerId, [...(byWorker.get(p.workerId) ?? []), p]);
  return [...byWorker].map(([id, rows]) => ({
    id,
    queues: rows.map((r) => r.queue),
    lastSeenAt: new Date(Math.max(...rows.map((r) => r.lastSeenAt.getTime()))).toISOString(),
    ready: rows.some((r) => r.recent),
  }));
}

/** What a workflow's view shows of an HTTP step: its calls, with header names but never their values. */
function httpStepView(http: HttpStepConfig): NonNullable<StepStatus["http"]> {
  const call = ({ url, method, headers, timeoutMs }: HttpCall) => ({ url, method, headerNames: Object.keys(headers).sort(), timeoutMs });
  return { maxInFlight: http.maxInFlight, do: call(http.do), undo: http.undo ? call(http.undo) : null };
}
