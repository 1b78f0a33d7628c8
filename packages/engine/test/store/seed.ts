import type { WorkflowDefinition } from "@baton/contract";
import { sql } from "kysely";
import type { Db } from "../../src/db/database.ts";
import { startWrite } from "../../src/store/change-writes.ts";
import { definitionInsert } from "../../src/store/definitions.ts";
import type { HistoryAppend } from "../../src/store/events.ts";
import type { NewInstance } from "../../src/store/instances.ts";
import type { NewTaskRow } from "../../src/store/tasks.ts";

/** A name no other test of the file uses. */
export const unique = (prefix: string) => `${prefix}-${crypto.randomUUID().slice(0, 8)}`;

/** A stored one-step definition (the rows below need one to point at). */
export async function seedDefinition(db: Db, namespace = "default"): Promise<WorkflowDefinition> {
  const definition: WorkflowDefinition = { namespace, name: unique("wf"), type: "sequential", steps: [] };
  await definitionInsert(db, definition, 1);
  return definition;
}

/** A RUNNING instance as `startWrite` would store it, with one first event. */
export function newInstance(definition: WorkflowDefinition, fields: Partial<NewInstance> = {}): NewInstance {
  return {
    instanceId: crypto.randomUUID(),
    namespace: definition.namespace,
    workflowName: definition.name,
    workflowVersion: 1,
    runId: crypto.randomUUID(),
    state: "RUNNING",
    input: {},
    output: null,
    error: null,
    sequenceNumber: 1,
    ...fields,
  };
}

/** A first PENDING attempt of step `taskId` of an instance, on `queue`. */
export function newTask(instanceId: string, queue: string, fields: Partial<NewTaskRow> = {}): NewTaskRow {
  return {
    executionId: crypto.randomUUID(),
    instanceId,
    taskId: "a",
    kind: "DO",
    attempt: 1,
    maxAttempts: 3,
    queue,
    leaseMs: 30_000,
    input: {},
    delayMs: 0,
    ...fields,
  };
}

/** The history a start writes: one `WORKFLOW_STARTED` event. */
export function startedEvent(instance: NewInstance): HistoryAppend {
  return { instanceId: instance.instanceId, sequenceNumber: 1, events: [{ type: "WORKFLOW_STARTED", payload: { input: instance.input } }] };
}

/**
 * A running instance of a fresh definition with one PENDING attempt per queue given (one step
 * each, named after its place: `s0`, `s1`, ...). Returns the rows it wrote.
 */
export async function seedRun(db: Db, queues: string[], fields: Partial<NewInstance> = {}) {
  const definition = await seedDefinition(db, fields.namespace);
  const instance = newInstance(definition, fields);
  const tasks = queues.map((queue, i) => newTask(instance.instanceId, queue, { taskId: `s${i}` }));
  await startWrite(db, { instances: [instance], tasks, history: [startedEvent(instance)], wakes: [] });
  return { definition, instance, tasks };
}

/** Moves a lease's expiry into the past, as if its holder had stalled. */
export async function expireLease(db: Db, executionId: string): Promise<void> {
  await sql`UPDATE task_leases SET lease_expires_at = now() - interval '1 second' WHERE execution_id = ${executionId}`.execute(db);
}
