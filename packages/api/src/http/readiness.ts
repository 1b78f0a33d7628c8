import type { DefinitionRow, HttpCall, HttpStepConfig, StepStatus, WorkerPollRow, WorkerView, WorkflowView } from "@baton/engine";

/** Workers that polled each queue within the readiness window. */
export function recentWorkersByQueue(polls: WorkerPollRow[]): Map<string, string[]> {
  const byQueue = new Map<string, string[]>();
  for (const p of polls) if (p.recent) byQueue.set(p.queue, [...(byQueue.get(p.queue) ?? []), p.workerId]);
  return byQueue;
}

/** A stored definition with, for each DO and UNDO queue, whether a worker is polling it. */
export function workflowView(row: DefinitionRow, workersByQueue: Map<string, string[]>): WorkflowView {
  const readiness = (queue: string) => {
    const workers = workersByQueue.get(queue) ?? [];
    return { ready: workers.length > 0, workers };
  };
  const steps = row.definition.steps.map(
    (s): StepStatus => ({
      name: s.name,
      queue: s.queue,
      transport: s.transport,
      leaseMs: s.leaseMs,
      retry: s.retry,
      dependsOn: s.dependsOn,
      ...readiness(s.queue),
      undo: s.undo ? { ...s.undo, ...readiness(s.undo.queue) } : null,
      ...(s.http ? { http: httpStepView(s.http) } : {}),
    }),
  );
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
}

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
