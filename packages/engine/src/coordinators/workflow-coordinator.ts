import {
  BatonError,
  definitionQueues,
  type EventPage,
  type InstancePage,
  type InstanceState,
  type InstanceSummary,
  type InstanceView,
  parseDefinition,
  type RegisterResult,
  runInputError,
  type StartResult,
  type TaskPage,
  type WorkflowDefinition,
} from "@baton/contract";
import type { Db } from "../db/database.ts";
import { jsonEqual } from "../domain/canonical-json.ts";
import type { Requester } from "../domain/history-events.ts";
import { timeOrderedId } from "../domain/time-ordered-id.ts";
import { statesAllowing } from "../domain/transitions.ts";
import { startWrite } from "../store/change-writes.ts";
import {
  type DefinitionKey,
  type DefinitionRow,
  definitionGet,
  definitionInsert,
  definitionListLatest,
  definitionListVersions,
  definitionLockName,
} from "../store/definitions.ts";
import type { HistoryAppend } from "../store/events.ts";
import {
  type InstanceRow,
  type InstanceStanding,
  instanceCountByState,
  instanceGet,
  instanceListByRunIds,
  instanceLockPastDeadline,
  instanceNamespace,
  type NewInstance,
} from "../store/instances.ts";
import { queueClaim } from "../store/queue-owners.ts";
import { type NewTaskRow, type QueueWake, taskListByInstances, taskParkPending } from "../store/tasks.ts";
import type { DefinitionCache } from "./definition-cache.ts";
import { GroupCommit } from "./group-commit.ts";
import { type ChangeContext, InstanceChange } from "./instance-change.ts";
import { checkRunWait, type InstanceEndWaiter, type WaitForEndOptions } from "./instance-end-waiter.ts";
import { definitionPage, eventPage, type InstanceListParams, instancePage, instanceView, type PageParams, taskPage } from "./list-pages.ts";
import type { LocalHandoffs } from "./local-handoffs.ts";
import type { LocalWakes } from "./local-wakes.ts";
import { instanceSummary } from "./views.ts";

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

/** Filters and page of the instance list. */
export type ListParams = InstanceListParams;

/** One start, as the group commit carries it. */
interface StartCall {
  namespace: string;
  workflow: string;
  runId: string;
  input: Record<string, unknown>;
}

/**
 * Registers definitions and runs instances through their lifecycle (DESIGN §3, §5, §6). Concurrent
 * starts are group-committed: one statement inserts a whole batch of instances with their first
 * attempts and events.
 */
export class WorkflowCoordinator {
  // Starts are planned in memory, then written by one statement: two flushes of at most 250 runs
  // overlap, so one is planned while the other is in Postgres (a startMany of 1,000 is four).
  private readonly starts = new GroupCommit<StartCall, StartResult>((calls) => this.startRuns(calls), { maxFlushes: 2, maxBatch: 250 });
  private readonly changes: ChangeContext;

  constructor(
    private readonly db: Db,
    private readonly definitions: DefinitionCache,
    private readonly instanceEnds: InstanceEndWaiter,
    private readonly wakes: LocalWakes,
    private readonly handoffs: LocalHandoffs,
  ) {
    this.changes = { db, definitions, wakes, handoffs };
  }

  /**
   * Validates and stores a definition. The same definition again is a no-op (`created: false`);
   * a changed one becomes the next version. Throws INVALID_DEFINITION naming the field.
   */
  async registerWorkflow(raw: unknown): Promise<RegisterResult & { definition: WorkflowDefinition }> {
    const definition = parseDefinition(raw);
    const registered = await this.db.transaction().execute(async (trx) => {
      await definitionLockName(trx, definition.namespace, definition.name);
      const latest = await definitionGet(trx, definition.namespace, definition.name);
      if (latest && jsonEqual(latest.definition, definition)) {
        return { namespace: latest.namespace, name: latest.name, version: latest.version, created: false, definition };
      }
      const taken = await queueClaim(trx, definition.namespace, definitionQueues(definition));
      if (taken.length > 0) {
        throw new BatonError("INVALID_DEFINITION", `Queue ${taken.map((q) => `'${q}'`).join(", ")} belongs to another namespace`, {
          fields: taken.map((queue) => ({ field: "steps", message: `queue '${queue}' belongs to another namespace` })),
        });
      }
      const row = await definitionInsert(trx, definition, (latest?.version ?? 0) + 1);
      return { namespace: row.namespace, name: row.name, version: row.version, created: true, definition };
    });
    if (registered.created) this.definitions.forgetLatest(registered.namespace, registered.name);
    return registered;
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

  /** The namespace an instance belongs to, or null when there is none with this id (access checks). */
  async instanceNamespace(instanceId: string): Promise<string | null> {
    return instanceNamespace(this.db, instanceId);
  }

  /** The definition an instance runs: the version pinned when it started (read once per version). Throws NOT_FOUND. */
  async instanceDefinition(instanceId: string): Promise<WorkflowDefinition> {
    const instance = await instanceGet(this.db, instanceId);
    if (!instance) throw new BatonError("NOT_FOUND", `Instance ${instanceId} not found`, { instanceId });
    return this.definitions.get(this.db, instance.namespace, instance.workflowName, instance.workflowVersion);
  }

  /** Every stored definition version (namespace, name, version), oldest first; read one with getDefinition. */
  async listDefinitionVersions(): Promise<DefinitionKey[]> {
    return definitionListVersions(this.db);
  }

  /** The latest version of every workflow (of one namespace): all of them, for the Kafka bridge's look-ups. */
  async listDefinitions(namespace?: string): Promise<DefinitionRow[]> {
    return definitionListLatest(this.db, namespace);
  }

  /** A page of the latest definitions by namespace, then name (default 100, at most 500). */
  async listDefinitionPage(
    params: PageParams & { namespace?: string } = {},
  ): Promise<{ items: DefinitionRow[]; nextCursor: string | null }> {
    return definitionPage(this.db, params);
  }

  /**
   * Starts an instance of the latest version, idempotently by runId: a repeat returns the existing
   * instance with `created: false`; the same runId with other input is RUN_ID_CONFLICT.
   * @example await engine.workflows.startWorkflow({ workflow: "tenantCreation", runId: "acme", input: { tenant: "acme" } });
   */
  startWorkflow(params: StartParams): Promise<StartResult> {
    return this.starts.submit(startCall(params.workflow, params.namespace, params));
  }

  /**
   * Starts many runs of one workflow, each idempotent by its runId; each run gets its own answer,
   * a StartResult or the error that refused it (e.g. RUN_ID_CONFLICT).
   */
  startMany(params: StartManyParams): Promise<(StartResult | BatonError)[]> {
    return this.starts.submitMany(params.runs.map((run) => startCall(params.workflow, params.namespace, run)));
  }

  /**
   * One batch of starts: every new instance is planned in memory on its workflow's latest version
   * (as this process knows it, or `fresh` from the database), and one statement inserts them all
   * with their first attempts and events. Runs whose runId already exists (or repeats an earlier
   * one in the batch) are answered from the stored instance; runs the statement refused because a
   * newer version exists (registered by another process) are planned again on it.
   */
  private async startRuns(calls: StartCall[], fresh = false): Promise<(StartResult | BatonError)[]> {
    const versions = new Map<string, number | null>();
    for (const c of calls) {
      const key = workflowKey(c);
      if (!versions.has(key)) versions.set(key, await this.definitions.latestVersion(this.db, c.namespace, c.workflow, fresh));
    }
    const answers: (StartResult | BatonError | undefined)[] = calls.map(() => undefined);
    const firstOfRun = new Set<string>();
    const instances: NewInstance[] = [];
    const tasks: NewTaskRow[] = [];
    const history: HistoryAppend[] = [];
    const wakes: QueueWake[] = [];
    const planned: { index: number; instanceId: string; state: InstanceState }[] = [];
    for (const [index, c] of calls.entries()) {
      const version = versions.get(workflowKey(c));
      if (version === null || version === undefined) {
        answers[index] = new BatonError("NOT_FOUND", `Workflow ${c.namespace}/${c.workflow} not found`, {
          namespace: c.namespace,
          name: c.workflow,
        });
        continue;
      }
      const definition = await this.definitions.get(this.db, c.namespace, c.workflow, version);
      const refused = runInputError(c.input, definition.steps.length);
      if (refused) {
        answers[index] = refused;
        continue;
      }
      const runKey = `${workflowKey(c)}\u0000${c.runId}`;
      if (firstOfRun.has(runKey)) continue;
      firstOfRun.add(runKey);
      const row = newInstanceRow(c, version);
      const change = InstanceChange.planStart(this.db, row, definition);
      const pending = change.pending();
      if (!pending) continue;
      instances.push({
        ...row,
        state: change.state,
        output: change.output,
        error: change.error,
        sequenceNumber: pending.sequenceNumber,
        ...(definition.timeoutMs !== undefined ? { timeoutMs: definition.timeoutMs } : {}),
      });
      tasks.push(...pending.inserts);
      history.push(pending.history);
      wakes.push(...pending.wake);
      planned.push({ index, instanceId: row.instanceId, state: change.state });
    }
    const inserted =
      instances.length > 0 ? await this.writeStarts({ instances, tasks, history, wakes }, calls, planned) : new Set<string>();
    for (const p of planned) {
      if (!inserted.has(p.instanceId)) continue;
      const c = calls[p.index] as StartCall;
      answers[p.index] = { instanceId: p.instanceId, runId: c.runId, state: p.state, created: true };
    }
    const missing = await this.answerExisting(calls, answers);
    // Planned on a version another process has since superseded: plan them again on the newest.
    const again =
      missing.length > 0 && !fresh
        ? await this.startRuns(
            missing.map((i) => calls[i] as StartCall),
            true,
          )
        : [];
    for (const [j, i] of missing.entries()) {
      const c = calls[i] as StartCall;
      answers[i] =
        again[j] ??
        new BatonError("INTERNAL", `Run ${c.runId} was refused but cannot be read`, {
          namespace: c.namespace,
          workflowName: c.workflow,
          runId: c.runId,
        });
    }
    return answers as (StartResult | BatonError)[];
  }

  /**
   * Writes planned starts in one statement. New tasks on queues that polls of this process are
   * parked on go to those polls directly, leased by the statement itself (LocalHandoffs); the
   * other queues are woken once it commits. Returns the ids of the instances it inserted.
   */
  private writeStarts(
    writes: { instances: NewInstance[]; tasks: NewTaskRow[]; history: HistoryAppend[]; wakes: QueueWake[] },
    calls: StartCall[],
    planned: { index: number; instanceId: string }[],
  ): Promise<Set<string>> {
    const workflowOf = new Map(
      planned.map((p) => {
        const call = calls[p.index] as StartCall;
        return [p.instanceId, { workflowName: call.workflow, namespace: call.namespace }];
      }),
    );
    return this.handoffs.writeHandingOff(
      writes.tasks,
      writes.wakes,
      (instanceId) => workflowOf.get(instanceId),
      async (holders, wakes) => {
        const written = await startWrite(this.db, { ...writes, wakes }, this.wakes.id, holders);
        if (written.inserted.size > 0) this.wakes.announce(wakes);
        return { result: written.inserted, leased: written.leased };
      },
    );
  }

  /**
   * Answers the starts still unanswered from the instances their runIds already have; returns the
   * indexes of those with none (refused for a newer version of their workflow).
   */
  private async answerExisting(calls: StartCall[], answers: (StartResult | BatonError | undefined)[]): Promise<number[]> {
    const missing: number[] = [];
    const byWorkflow = new Map<string, number[]>();
    for (const [i, c] of calls.entries()) {
      if (answers[i] === undefined) byWorkflow.set(workflowKey(c), [...(byWorkflow.get(workflowKey(c)) ?? []), i]);
    }
    for (const indexes of byWorkflow.values()) {
      const { namespace, workflow } = calls[indexes[0] as number] as StartCall;
      const runIds = indexes.map((i) => (calls[i] as StartCall).runId);
      const existing = new Map(
        (await instanceListByRunIds(this.db, { namespace, workflowName: workflow, runIds })).map((r) => [r.runId, r]),
      );
      for (const i of indexes) {
        const c = calls[i] as StartCall;
        const found = existing.get(c.runId);
        const key = { namespace, workflowName: workflow, runId: c.runId };
        if (!found) missing.push(i);
        else if (!jsonEqual(found.input, c.input)) {
          answers[i] = new BatonError("RUN_ID_CONFLICT", `Run '${c.runId}' of ${workflow} already exists with different input`, {
            ...key,
            instanceId: found.instanceId,
          });
        } else answers[i] = { instanceId: found.instanceId, runId: found.runId, state: found.state, created: false };
      }
    }
    return missing;
  }

  /**
   * One instance with its attempts and its history, up to 500 of each: `tasksNextCursor` and
   * `eventsNextCursor` (null when nothing is left out) continue them with listTasks and listEvents.
   */
  async getWorkflow(instanceId: string): Promise<InstanceView> {
    return instanceView(this.db, instanceId);
  }

  /** A page of an instance's attempts in the order they were scheduled (default 100, at most 500). */
  async listTasks(instanceId: string, page: PageParams = {}): Promise<TaskPage> {
    return taskPage(this.db, instanceId, page);
  }

  /** A page of an instance's history by sequence number (default 100, at most 500). */
  async listEvents(instanceId: string, page: PageParams = {}): Promise<EventPage> {
    return eventPage(this.db, instanceId, page);
  }

  /**
   * The instance once it has ended (a terminal state), or as it is when `waitMs` runs out or the
   * signal aborts; no database session is held while waiting (see InstanceEndWaiter). Throws
   * NOT_FOUND for an unknown instance, VALIDATION_ERROR for a wait out of bounds.
   * @example const run = await engine.workflows.waitForEnd(instanceId, { waitMs: 30_000 });
   */
  async waitForEnd(instanceId: string, options: WaitForEndOptions): Promise<InstanceSummary> {
    checkRunWait(options.waitMs);
    await this.instanceEnds.wait(instanceId, options);
    const row = await instanceGet(this.db, instanceId);
    if (!row) throw new BatonError("NOT_FOUND", `Instance ${instanceId} not found`, { instanceId });
    return instanceSummary(row);
  }

  /**
   * Waits for several instances to end with one deadline for all (a batch start's `waitMs`),
   * holding no connection. Each answer is the instance's state, output and error when it ended, at
   * the deadline, or when `signal` ended the wait (read then); null for an instance that does not exist.
   */
  async waitForEndMany(instanceIds: string[], options: WaitForEndOptions): Promise<(InstanceStanding | null)[]> {
    checkRunWait(options.waitMs);
    return this.instanceEnds.waitAll(instanceIds, options);
  }

  /** Instances newest first (default 50, at most 500); pass `nextCursor` back as `cursor` for the next page. */
  async listWorkflows(params: ListParams = {}): Promise<InstancePage> {
    return instancePage(this.db, params);
  }

  /** How many instances are in each state, across namespaces (states with none left out); for metrics. */
  async countInstancesByState(): Promise<Record<string, number>> {
    return instanceCountByState(this.db);
  }

  /** Stops hand-outs; leased tasks may finish and are recorded, but nothing advances until resume. */
  async pause(instanceId: string): Promise<{ state: InstanceState }> {
    return InstanceChange.run(this.changes, { instanceId }, async (change) => {
      requireState(change, "pause");
      change.pause();
      // Out of acquire's way, so a backlog of paused work does not slow every hand-out.
      await taskParkPending(change.trx, instanceId, true);
      return { state: change.state };
    });
  }

  /** Resumes a paused instance: what finished meanwhile is acted on, pending tasks flow again. */
  async resume(instanceId: string): Promise<{ state: InstanceState }> {
    const change = await InstanceChange.run(this.changes, { instanceId }, async (c) => {
      requireState(c, "resume");
      c.resume();
      c.wake(await taskParkPending(c.trx, instanceId, false));
      return c;
    });
    return { state: change.state };
  }

  /** Cancels the instance: pending tasks are cancelled, leased tasks' later writes are rejected. */
  async cancel(instanceId: string): Promise<{ state: InstanceState }> {
    return InstanceChange.run(this.changes, { instanceId }, async (change) => {
      requireState(change, "cancel");
      const open = (await taskListByInstances(change.trx, [instanceId])).filter((t) => t.state === "PENDING" || t.state === "LEASED");
      await change.cancelTasks(open.map((t) => t.executionId));
      change.cancel();
      return { state: change.state };
    });
  }

  /**
   * Compensates runs that are past their workflow's `timeoutMs` and still RUNNING or PAUSED, up to
   * `limit` per call (batches of DEADLINE_BATCH, locked with SKIP LOCKED so replicas share them):
   * their open DO attempts are cancelled at once (a worker still holding one is fenced off: its
   * report is refused), and the completed steps are undone, or the run FAILS when nothing has an
   * undo. The history says why (`DEADLINE_EXCEEDED`). Returns how many runs it moved.
   */
  async expireDeadlines(limit = 10_000): Promise<number> {
    let expired = 0;
    while (expired < limit) {
      const batch = await InstanceChange.runLocked(
        this.changes,
        (trx) => instanceLockPastDeadline(trx, DEADLINE_BATCH),
        async (changes, trx) => {
          const open = (await taskListByInstances(trx, [...changes.keys()])).filter(
            (t) => t.kind === "DO" && (t.state === "PENDING" || t.state === "LEASED"),
          );
          for (const change of changes.values()) {
            await change.cancelTasks(open.filter((t) => t.instanceId === change.instance.instanceId).map((t) => t.executionId));
            change.expire();
          }
          return changes.size;
        },
      );
      expired += batch;
      if (batch < DEADLINE_BATCH) break;
    }
    return expired;
  }

  /**
   * Starts compensation by hand: UNDOs run for completed steps that declare one, in reverse
   * dependency order. With `fromTaskId`, only that step and the steps it depends on are undone.
   * A COMPLETED run may be undone too (the replaced orchestrators' manual undo). The history's
   * COMPENSATION_STARTED event names who asked (`requestedBy`; in-process callers when absent).
   */
  async triggerCompensation(instanceId: string, fromTaskId?: string, requestedBy?: Requester): Promise<{ state: InstanceState }> {
    const done = await InstanceChange.run(this.changes, { instanceId }, async (change) => {
      requireState(change, "compensate");
      if (fromTaskId !== undefined && !change.definition.steps.some((s) => s.name === fromTaskId)) {
        throw new BatonError("NOT_FOUND", `Workflow ${change.definition.name} has no step '${fromTaskId}'`, { instanceId, fromTaskId });
      }
      change.compensate(fromTaskId ?? null, requesterRecord(requestedBy));
      return change;
    });
    return { state: done.state };
  }
}

export type { Requester };

/** Runs past their deadline compensated per transaction. */
const DEADLINE_BATCH = 100;

function requesterRecord(requestedBy: Requester | undefined): Requester {
  return requestedBy
    ? { keyId: requestedBy.keyId, name: requestedBy.name, role: requestedBy.role }
    : { keyId: null, name: "in-process", role: "admin" };
}

function startCall(workflow: string, namespace: string | undefined, run: { runId?: string; input?: Record<string, unknown> }): StartCall {
  return { workflow, namespace: namespace ?? "default", runId: run.runId ?? crypto.randomUUID(), input: run.input ?? {} };
}

const workflowKey = (c: StartCall) => `${c.namespace}\u0000${c.workflow}`;

/** The row a start will insert, before the planner has run. */
function newInstanceRow(c: StartCall, version: number): InstanceRow {
  const now = new Date();
  return {
    instanceId: timeOrderedId(),
    namespace: c.namespace,
    workflowName: c.workflow,
    workflowVersion: version,
    runId: c.runId,
    state: "RUNNING",
    input: c.input,
    output: null,
    error: null,
    compensateFrom: null,
    sequenceNumber: 0,
    createdAt: now,
    updatedAt: now,
  };
}

/** Refuses (INVALID_STATE) an operator's request that the instance's state does not allow (the transitions table). */
function requireState(change: InstanceChange, action: "pause" | "resume" | "cancel" | "compensate"): void {
  const allowed = statesAllowing(action);
  if (!allowed.includes(change.state)) {
    throw new BatonError("INVALID_STATE", `Cannot ${action} an instance that is ${change.state} (allowed from ${allowed.join(", ")})`, {
      instanceId: change.instance.instanceId,
      state: change.state,
      allowed,
    });
  }
}
