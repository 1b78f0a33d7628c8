import {
  BatonError,
  LIMITS,
  PAGE_LIMITS,
  type RegistrationChangeView,
  type ServiceContact,
  type ServiceRegistrationView,
  type Serving,
  type WorkerRegistrationResult,
  type WorkflowDefinition,
} from "@baton/contract";
import type { Logger } from "pino";
import type { Db } from "../db/database.ts";
import { decodeRegistrationCursor, decodeSequenceCursor, encodeRegistrationCursor, encodeSequenceCursor } from "../domain/list-cursor.ts";
import { definitionGet } from "../store/definitions.ts";
import {
  type RegistrationRow,
  registrationChangeInsert,
  registrationChangePage,
  registrationGetForUpdate,
  registrationInsertIfNew,
  registrationListByWorkflows,
  registrationPage,
  registrationTouchByStep,
  registrationUpdate,
} from "../store/service-registrations.ts";
import { workerListRecentByQueues } from "../store/workers.ts";
import { isoTimes } from "./views.ts";

/** Who registered a service: an API key, or a channel without one (`kafka:<topic>`, `in-process`). */
export interface Registrant {
  keyId: string | null;
  name: string;
}

export interface RegisterServiceParams {
  namespace?: string;
  workflow: string;
  /** The service's name (X-Service-Name, or the registration's `service` field). */
  service: string;
  steps: string[];
  transport: "http" | "kafka";
  by: Registrant;
}

/** A step's DO or UNDO queue, as readiness is asked about it. */
export interface StepRef {
  namespace: string;
  workflow: string;
  step: string;
  queue: string;
}

export interface StepServing {
  serving: Serving;
  /** Workers that polled the queue within the window. */
  workers: string[];
  services: ServiceContact[];
}

export interface RegistrationListParams {
  namespace?: string;
  workflow?: string;
  service?: string;
  cursor?: string;
  limit?: number;
}

/**
 * Services' `as: worker` registrations, remembered (issue 11): what each serves, how it
 * registered, and when Baton last heard from it; and, from them and the recent polls, who serves
 * a step. A registration is contact; so is a poll of one of its queues (recorded with the poll,
 * see workerRecordPoll) and a Kafka reply for one of its steps (`noteReply`).
 */
export class ServiceRegistry {
  /** When a reply for a namespace and step name was last written as contact. */
  private readonly repliesNoted = new Map<string, number>();
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly db: Db,
    private readonly contactIntervalMs: number,
    private readonly logger: Pick<Logger, "warn">,
  ) {}

  /**
   * Records that `service` serves these steps of the workflow (added to the steps it registered
   * before), and appends the change to the audit trail when it is the first registration or it
   * changed something. The workflow need not be registered yet (its queues then follow the default
   * naming); when it is, every step must be one of its steps (NOT_FOUND otherwise).
   * @example await engine.registrations.register({ workflow: "tenantCreation", service: "realm-service", steps: ["createRealm"], transport: "http", by: { keyId: null, name: "in-process" } });
   */
  async register(params: RegisterServiceParams): Promise<WorkerRegistrationResult> {
    checkRegistration(params);
    const namespace = params.namespace ?? "default";
    const key = { namespace, workflow: params.workflow, service: params.service };
    const named = [...new Set(params.steps)];
    return this.db.transaction().execute(async (trx) => {
      const definition = (await definitionGet(trx, namespace, params.workflow))?.definition ?? null;
      const unknown = definition ? named.filter((name) => !definition.steps.some((s) => s.name === name)) : [];
      if (unknown.length > 0) {
        throw new BatonError("NOT_FOUND", `Workflow ${params.workflow} has no step ${unknown.map((s) => `'${s}'`).join(", ")}`, {
          workflow: params.workflow,
          step: unknown[0],
          steps: unknown,
        });
      }
      const queuesOf = (steps: string[]) => steps.flatMap((step) => stepQueues(definition, params.workflow, step));
      const change = { ...key, transport: params.transport, byKeyId: params.by.keyId, byName: params.by.name };
      const created = await registrationInsertIfNew(trx, { ...key, steps: named, queues: queuesOf(named), transport: params.transport });
      if (created) {
        await registrationChangeInsert(trx, { ...change, change: "created", steps: named, stepsAdded: named, transportBefore: null });
        return { workerId: params.service, queues: created.queues, steps: created.steps, change: "created" };
      }
      const before = await registrationGetForUpdate(trx, key);
      if (!before) throw new BatonError("INTERNAL", `Registration of ${params.service} for ${params.workflow} vanished`, key);
      const added = named.filter((s) => !before.steps.includes(s));
      const steps = [...before.steps, ...added];
      const row = await registrationUpdate(trx, { ...key, steps, queues: queuesOf(steps), transport: params.transport });
      const transportBefore = before.transport === params.transport ? null : before.transport;
      if (added.length === 0 && transportBefore === null) {
        return { workerId: params.service, queues: row.queues, steps: row.steps, change: "unchanged" };
      }
      await registrationChangeInsert(trx, { ...change, change: "changed", steps, stepsAdded: added, transportBefore });
      return { workerId: params.service, queues: row.queues, steps: row.steps, change: "changed" };
    });
  }

  /** A page of registrations by namespace, workflow, then service (default 100, at most 500). */
  async page(params: RegistrationListParams = {}): Promise<{ items: ServiceRegistrationView[]; nextCursor: string | null }> {
    const limit = pageLimit(params.limit);
    const rows = await registrationPage(this.db, {
      ...filters(params),
      ...(params.cursor ? { after: decodeRegistrationCursor(params.cursor) } : {}),
      limit: limit + 1,
    });
    const items = rows.slice(0, limit);
    const last = items.at(-1);
    return { items: items.map(registrationView), nextCursor: rows.length > limit && last ? encodeRegistrationCursor(last) : null };
  }

  /** A page of the audit trail, newest first (default 100, at most 500). */
  async history(params: RegistrationListParams = {}): Promise<{ items: RegistrationChangeView[]; nextCursor: string | null }> {
    const limit = pageLimit(params.limit);
    const rows = await registrationChangePage(this.db, {
      ...filters(params),
      // The cursor holds the change id the previous page ended with.
      ...(params.cursor ? { before: decodeSequenceCursor(params.cursor) } : {}),
      limit: limit + 1,
    });
    const items = rows.slice(0, limit).map(
      ({ byKeyId, byName, at, ...row }): RegistrationChangeView => ({
        ...row,
        by: { keyId: byKeyId, name: byName },
        at: at.toISOString(),
      }),
    );
    const last = items.at(-1);
    return { items, nextCursor: rows.length > limit && last ? encodeSequenceCursor(last.changeId) : null };
  }

  /**
   * Who serves each of these queues: a worker that polled it within `recentMs` (`polling`), else a
   * service registered for its step (`registered`), else `nobody`. Workers in `ignoreWorkers` (a
   * relay such as the Kafka bridge, which only passes commands on) do not count.
   */
  async serving(refs: StepRef[], options: { recentMs: number; ignoreWorkers?: readonly string[] }): Promise<StepServing[]> {
    const ignored = new Set(options.ignoreWorkers ?? []);
    const workflows = [...new Map(refs.map((r) => [`${r.namespace}\u0000${r.workflow}`, r])).values()];
    const [polls, registrations] = await Promise.all([
      workerListRecentByQueues(this.db, { queues: refs.map((r) => r.queue), recentMs: options.recentMs }),
      registrationListByWorkflows(this.db, workflows),
    ]);
    return refs.map((ref) => {
      const workers = polls.filter((p) => p.queue === ref.queue && !ignored.has(p.workerId)).map((p) => p.workerId);
      const services = registrations
        .filter((r) => r.namespace === ref.namespace && r.workflow === ref.workflow && r.steps.includes(ref.step))
        .map(serviceContact);
      const serving: Serving = workers.length > 0 ? "polling" : services.length > 0 ? "registered" : "nobody";
      return { serving, workers, services };
    });
  }

  /**
   * A Kafka reply for `step` of this instance arrived: the services registered for that step were
   * heard from. Written at most once per namespace and step name every `contactIntervalMs`, and not
   * awaited, so replies are never slowed by it (last contact is advisory).
   */
  noteReply(params: { namespace: string; instanceId: string; step: string }): void {
    const now = Date.now();
    const key = `${params.namespace}\u0000${params.step}`;
    if (now - (this.repliesNoted.get(key) ?? 0) < this.contactIntervalMs) return;
    if (this.repliesNoted.size > 100_000) this.repliesNoted.clear();
    this.repliesNoted.set(key, now);
    const write = registrationTouchByStep(this.db, params).catch((error: unknown) => {
      this.repliesNoted.delete(key);
      this.logger.warn({ err: error, ...params }, "could not record a service's reply as contact; trying again on its next reply");
    });
    this.inFlight.add(write);
    void write.finally(() => this.inFlight.delete(write));
  }

  /** Resolves once the contact writes already started have finished (before the database is closed). */
  async settled(): Promise<void> {
    await Promise.all(this.inFlight);
  }
}

/** A step's DO and UNDO queues, from the definition when there is one, else by the default naming. */
function stepQueues(definition: WorkflowDefinition | null, workflow: string, name: string): string[] {
  const step = definition?.steps.find((s) => s.name === name);
  if (!step) return [`${workflow}.${name}`, `${workflow}.${name}.undo`];
  return step.undo ? [step.queue, step.undo.queue] : [step.queue];
}

function checkRegistration(params: RegisterServiceParams): void {
  const bad = (field: string, message: string) =>
    new BatonError("VALIDATION_ERROR", `Invalid registration: ${field}: ${message}`, { fields: [{ field, message }] });
  if (!params.service || params.service.length > LIMITS.maxIdLength) throw bad("service", `1 to ${LIMITS.maxIdLength} characters`);
  if (!params.workflow || params.workflow.length > LIMITS.maxNameLength) throw bad("orchName", `1 to ${LIMITS.maxNameLength} characters`);
  if (params.steps.length === 0 || params.steps.length > LIMITS.maxSteps) throw bad("steps", `1 to ${LIMITS.maxSteps} steps`);
  const long = params.steps.findIndex((s) => !s || s.length > LIMITS.maxNameLength);
  if (long >= 0) throw bad(`steps.${long}.name`, `1 to ${LIMITS.maxNameLength} characters`);
}

function filters(params: RegistrationListParams) {
  return {
    ...(params.namespace !== undefined ? { namespace: params.namespace } : {}),
    ...(params.workflow !== undefined ? { workflow: params.workflow } : {}),
    ...(params.service !== undefined ? { service: params.service } : {}),
  };
}

function pageLimit(limit: number | undefined): number {
  return Math.min(Math.max(limit ?? PAGE_LIMITS.defaultLimit, 1), PAGE_LIMITS.maxLimit);
}

function serviceContact(r: RegistrationRow): ServiceContact {
  return {
    service: r.service,
    transport: r.transport,
    lastRegisteredAt: r.lastRegisteredAt.toISOString(),
    lastContactAt: r.lastContactAt.toISOString(),
  };
}

function registrationView(r: RegistrationRow): ServiceRegistrationView {
  return isoTimes(r);
}
