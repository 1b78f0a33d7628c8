import { BatonError } from "../contract/errors.ts";
import type { InstancePage, InstanceView, RegisterResult, StartResult } from "../contract/types.ts";
import type { Db } from "../db/database.ts";
import { jsonEqual } from "../domain/canonical-json.ts";
import { parseDefinition, type WorkflowDefinition } from "../domain/definition.ts";
import type { InstanceState } from "../domain/states.ts";
import { type DefinitionRow, definitionGet, definitionInsert, definitionListLatest, definitionLockName } from "../store/definitions.ts";
import { eventListByInstance } from "../store/events.ts";
import { instanceGet, instanceGetByRunId, instanceInsertIfAbsent, instanceList } from "../store/instances.ts";
import { taskListByInstances, taskParkPending } from "../store/tasks.ts";
import type { DefinitionCache } from "./definition-cache.ts";
import { InstanceChange } from "./instance-change.ts";
import { eventView, instanceSummary, taskView } from "./views.ts";

export interface StartParams {
  workflow: string;
  namespace?: string;
  /** Makes the start idempotent: the same runId returns the same instance. Generated when absent. */
  runId?: string;
  input?: Record<string, unknown>;
}

export interface StartManyParams {
  workflow: string;
  namespace?: string;
  runs: { runId?: string; input?: Record<string, unknown> }[];
}

export interface ListParams {
  namespace?: string;
  workflow?: string;
  state?: InstanceState;
  cursor?: string;
  limit?: number;
}

/** Registers definitions and runs instances through their lifecycle (DESIGN §3, §5, §6). */
export class WorkflowCoordinator {
  constructor(
    private readonly db: Db,
    private readonly definitions: DefinitionCache,
  ) {}

  /**
   * Validates and stores a definition. The same definition again is a no-op (`created: false`);
   * a changed one becomes the next version. Throws INVALID_DEFINITION naming the field.
   */
  async registerWorkflow(raw: unknown): Promise<RegisterResult & { definition: WorkflowDefinition }> {
    const definition = parseDefinition(raw);
    return this.db.transaction().execute(async (trx) => {
      await definitionLockName(trx, definition.namespace, definition.name);
      const latest = await definitionGet(trx, definition.namespace, definition.name);
      if (latest && jsonEqual(latest.definition, definition)) {
        return { namespace: latest.namespace, name: latest.name, version: latest.version, created: false, definition };
      }
      const row = await definitionInsert(trx, definition, (latest?.version ?? 0) + 1);
      return { namespace: row.namespace, name: row.name, version: row.version, created: true, definition };
    });
  }

  /** The latest (or a given) version of a workflow definition. */
  async getDefinition(name: string, namespace = "default", version?: number): Promise<DefinitionRow> {
    const row = await definitionGet(this.db, namespace, name, version);
    if (!row)
      throw new BatonError("NOT_FOUND", `Workflow ${namespace}/${name}${version ? ` version ${version}` : ""} not found`, {
        namespace,
        name,
      });
    return row;
  }

  async listDefinitions(namespace?: string): Promise<DefinitionRow[]> {
    return definitionListLatest(this.db, namespace);
  }

  /**
   * Starts an instance of the latest version, idempotently by runId: a repeat returns the existing
   * instance with `created: false`; the same runId with other input is RUN_ID_CONFLICT.
   * @example await engine.workflows.startWorkflow({ workflow: "tenantCreation", runId: "acme", input: { tenant: "acme" } });
   */
  async startWorkflow(params: StartParams): Promise<StartResult> {
    const namespace = params.namespace ?? "default";
    const runId = params.runId ?? crypto.randomUUID();
    const input = params.input ?? {};
    const { version } = await this.getDefinition(params.workflow, namespace);
    const key = { namespace, workflowName: params.workflow, runId };
    // The insert, the first event and the first tasks commit together, or not at all.
    const started = await this.db.transaction().execute(async (trx) => {
      const row = await instanceInsertIfAbsent(trx, { ...key, workflowVersion: version, input });
      if (!row) return null;
      const change = await InstanceChange.started(trx, this.definitions, row, async (c) => {
        c.record("WORKFLOW_STARTED", { input, runId, workflowVersion: version });
        return c;
      });
      return { instanceId: row.instanceId, runId, state: change.state, created: true };
    });
    return started ?? this.existingRun(key, input);
  }

  /**
   * Starts many runs of one workflow, each idempotent by its runId; each run gets its own answer,
   * a StartResult or the error that refused it (e.g. RUN_ID_CONFLICT).
   */
  async startMany(params: StartManyParams): Promise<(StartResult | BatonError)[]> {
    return Promise.all(
      params.runs.map((run) =>
        this.startWorkflow({ workflow: params.workflow, ...(params.namespace ? { namespace: params.namespace } : {}), ...run }).catch(
          (error: unknown) => {
            if (error instanceof BatonError) return error;
            throw error;
          },
        ),
      ),
    );
  }

  private async existingRun(key: { namespace: string; workflowName: string; runId: string }, input: unknown): Promise<StartResult> {
    const existing = await instanceGetByRunId(this.db, key);
    if (!existing) throw new BatonError("INTERNAL", `Run ${key.runId} conflicted but cannot be read`, key);
    if (!jsonEqual(existing.input, input)) {
      throw new BatonError("RUN_ID_CONFLICT", `Run '${key.runId}' of ${key.workflowName} already exists with different input`, {
        ...key,
        instanceId: existing.instanceId,
      });
    }
    return { instanceId: existing.instanceId, runId: existing.runId, state: existing.state, created: false };
  }

  /** One instance with its attempts and its history. */
  async getWorkflow(instanceId: string): Promise<InstanceView> {
    const instance = await instanceGet(this.db, instanceId);
    if (!instance) throw new BatonError("NOT_FOUND", `Instance ${instanceId} not found`, { instanceId });
    const [tasks, events] = await Promise.all([taskListByInstances(this.db, [instanceId]), eventListByInstance(this.db, instanceId)]);
    return {
      ...instanceSummary(instance),
      sequenceNumber: instance.sequenceNumber,
      tasks: tasks.map(taskView),
      events: events.map(eventView),
    };
  }

  /** Instances newest first; pass `nextCursor` back as `cursor` for the next page. */
  async listWorkflows(params: ListParams = {}): Promise<InstancePage> {
    const limit = Math.min(Math.max(params.limit ?? 50, 1), 500);
    const rows = await instanceList(this.db, {
      ...(params.namespace ? { namespace: params.namespace } : {}),
      ...(params.workflow ? { workflowName: params.workflow } : {}),
      ...(params.state ? { state: params.state } : {}),
      ...(params.cursor ? { after: decodeCursor(params.cursor) } : {}),
      limit: limit + 1,
    });
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      items: page.map(instanceSummary),
      nextCursor: rows.length > limit && last ? encodeCursor(last.createdAt, last.instanceId) : null,
    };
  }

  /** Stops hand-outs; leased tasks may finish and are recorded, but nothing advances until resume. */
  async pause(instanceId: string): Promise<{ state: InstanceState }> {
    return InstanceChange.run(this.db, this.definitions, { instanceId }, async (change) => {
      requireState(change, ["RUNNING"], "pause");
      change.state = "PAUSED";
      change.record("WORKFLOW_PAUSED", {});
      // Out of acquire's way, so a backlog of paused work does not slow every hand-out.
      await taskParkPending(change.trx, instanceId, true);
      return { state: change.state };
    });
  }

  /** Resumes a paused instance: what finished meanwhile is acted on, pending tasks flow again. */
  async resume(instanceId: string): Promise<{ state: InstanceState }> {
    const change = await InstanceChange.run(this.db, this.definitions, { instanceId }, async (c) => {
      requireState(c, ["PAUSED"], "resume");
      c.state = "RUNNING";
      c.record("WORKFLOW_RESUMED", {});
      const pending = await taskParkPending(c.trx, instanceId, false);
      c.wake(pending.map((t) => t.queue));
      return c;
    });
    return { state: change.state };
  }

  /** Cancels the instance: pending tasks are cancelled, leased tasks' later writes are rejected. */
  async cancel(instanceId: string): Promise<{ state: InstanceState }> {
    return InstanceChange.run(this.db, this.definitions, { instanceId }, async (change) => {
      requireState(change, ["RUNNING", "PAUSED"], "cancel");
      const open = (await taskListByInstances(change.trx, [instanceId])).filter((t) => t.state === "PENDING" || t.state === "LEASED");
      await change.cancelTasks(open.map((t) => t.executionId));
      change.state = "CANCELLED";
      change.record("WORKFLOW_CANCELLED", {});
      return { state: change.state };
    });
  }

  /**
   * Starts compensation by hand: UNDOs run for completed steps that declare one, in reverse
   * dependency order. With `fromTaskId`, only that step and the steps it depends on are undone.
   */
  async triggerCompensation(instanceId: string, fromTaskId?: string): Promise<{ state: InstanceState }> {
    const done = await InstanceChange.run(this.db, this.definitions, { instanceId }, async (change) => {
      requireState(change, ["RUNNING", "PAUSED", "FAILED"], "compensate");
      if (fromTaskId !== undefined && !change.definition.steps.some((s) => s.name === fromTaskId)) {
        throw new BatonError("NOT_FOUND", `Workflow ${change.definition.name} has no step '${fromTaskId}'`, { instanceId, fromTaskId });
      }
      change.state = "COMPENSATING";
      change.compensateFrom = fromTaskId ?? null;
      change.error = { reason: "COMPENSATION_REQUESTED", ...(fromTaskId ? { step: fromTaskId } : {}) };
      change.record("COMPENSATION_STARTED", { error: change.error, ...(fromTaskId ? { fromTaskId } : {}) });
      return change;
    });
    return { state: done.state };
  }
}

function requireState(change: InstanceChange, allowed: InstanceState[], action: string): void {
  if (!allowed.includes(change.state)) {
    throw new BatonError("INVALID_STATE", `Cannot ${action} an instance that is ${change.state} (allowed from ${allowed.join(", ")})`, {
      instanceId: change.instance.instanceId,
      state: change.state,
      allowed,
    });
  }
}

function encodeCursor(createdAt: Date, instanceId: string): string {
  return Buffer.from(JSON.stringify([createdAt.toISOString(), instanceId])).toString("base64url");
}

function decodeCursor(cursor: string): { createdAt: Date; instanceId: string } {
  try {
    const [createdAt, instanceId] = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as [string, string];
    const date = new Date(createdAt);
    if (Number.isNaN(date.getTime()) || typeof instanceId !== "string") throw new Error("bad cursor");
    return { createdAt: date, instanceId };
  } catch {
    throw new BatonError("VALIDATION_ERROR", "cursor: not a cursor returned by a previous page", { field: "cursor" });
  }
}
