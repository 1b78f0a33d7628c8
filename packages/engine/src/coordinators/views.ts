import { type AcquiredTask, type EventView, type InstanceSummary, type TaskAttempt, type TaskView, taskIdParts } from "@baton/contract";
import type { EventRow } from "../store/events.ts";
import type { InstanceRow } from "../store/instances.ts";
import type { AcquiredRow } from "../store/task-leases.ts";
import type { TaskRow } from "../store/tasks.ts";

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

/** A row as the API shows it: the same fields, each time (a Date) an ISO-8601 string. */
export type WithIsoTimes<T> = { [K in keyof T]: T[K] extends Date ? string : T[K] extends Date | null ? string | null : T[K] };

/** The row with its times written as the API writes them (ISO-8601); every other field as it is. */
export function isoTimes<T extends object>(row: T): WithIsoTimes<T> {
  return Object.fromEntries(
    Object.entries(row).map(([key, value]) => [key, value instanceof Date ? value.toISOString() : value]),
  ) as WithIsoTimes<T>;
}

function attemptOf(row: TaskRow): TaskAttempt {
  const { step, elementIndex } = taskIdParts(row.taskId);
  return { taskId: row.taskId, step, elementIndex, kind: row.kind, queue: row.queue, attempt: row.attempt };
}

export function acquiredView(
  row: Pick<
    AcquiredRow,
    "executionId" | "instanceId" | "workflowName" | "namespace" | "taskId" | "kind" | "queue" | "attempt" | "input"
  > & {
    fenceToken: number | null;
    leaseExpiresAt: Date | null;
  },
): AcquiredTask {
  // Written out rather than spread from attemptOf: one of these is made for every task handed out.
  const { step, elementIndex } = taskIdParts(row.taskId);
  return {
    executionId: row.executionId,
    instanceId: row.instanceId,
    workflowName: row.workflowName,
    namespace: row.namespace,
    taskId: row.taskId,
    step,
    elementIndex,
    kind: row.kind,
    queue: row.queue,
    attempt: row.attempt,
    fenceToken: row.fenceToken as number,
    leaseExpiresAt: (row.leaseExpiresAt as Date).toISOString(),
    input: row.input,
  };
}

export function taskView(row: TaskRow): TaskView {
  return {
    executionId: row.executionId,
    ...attemptOf(row),
    maxAttempts: row.maxAttempts,
    state: row.state,
    fenceToken: row.fenceToken,
    leaseHolder: row.leaseHolder,
    leaseExpiresAt: iso(row.leaseExpiresAt),
    availableAt: row.availableAt.toISOString(),
    input: row.input,
    output: row.output,
    error: row.error,
    createdAt: row.createdAt.toISOString(),
    startedAt: iso(row.startedAt),
    finishedAt: iso(row.finishedAt),
  };
}

export function instanceSummary(row: InstanceRow): InstanceSummary {
  return {
    instanceId: row.instanceId,
    namespace: row.namespace,
    workflowName: row.workflowName,
    workflowVersion: row.workflowVersion,
    runId: row.runId,
    state: row.state,
    input: row.input,
    output: row.output,
    error: row.error,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

export function eventView(row: EventRow): EventView {
  return { ...row, createdAt: row.createdAt.toISOString() };
}
