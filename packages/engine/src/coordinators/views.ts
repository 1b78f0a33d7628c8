import { type AcquiredTask, type EventView, type InstanceSummary, type TaskView, taskIdParts } from "@baton/contract";
import type { EventRow } from "../store/events.ts";
import type { InstanceRow } from "../store/instances.ts";
import type { AcquiredRow } from "../store/task-leases.ts";
import type { TaskRow } from "../store/tasks.ts";

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export function acquiredView(row: AcquiredRow): AcquiredTask {
  return {
    executionId: row.executionId,
    instanceId: row.instanceId,
    workflowName: row.workflowName,
    namespace: row.namespace,
    taskId: row.taskId,
    ...taskIdParts(row.taskId),
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
    taskId: row.taskId,
    ...taskIdParts(row.taskId),
    kind: row.kind,
    queue: row.queue,
    attempt: row.attempt,
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
