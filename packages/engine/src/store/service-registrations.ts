import { type Selectable, sql } from "kysely";
import type { DbOrTrx } from "../db/database.ts";
import type { ServiceRegistrationsTable } from "../db/schema.ts";

/** A service's remembered registration for one workflow. */
export interface RegistrationRow {
  namespace: string;
  workflow: string;
  service: string;
  steps: string[];
  queues: string[];
  transport: "http" | "kafka";
  firstRegisteredAt: Date;
  lastRegisteredAt: Date;
  lastContactAt: Date;
}

/** One entry of the registrations' audit trail. */
export interface RegistrationChangeRow {
  changeId: number;
  namespace: string;
  workflow: string;
  service: string;
  change: "created" | "changed";
  steps: string[];
  stepsAdded: string[];
  transport: "http" | "kafka";
  transportBefore: "http" | "kafka" | null;
  byKeyId: string | null;
  byName: string;
  at: Date;
}

export interface RegistrationKey {
  namespace: string;
  workflow: string;
  service: string;
}

const registrationColumns = [
  "namespace",
  "workflow_name",
  "service",
  "steps",
  "queues",
  "transport",
  "first_registered_at",
  "last_registered_at",
  "last_contact_at",
] as const;

/** A registration as stored (the schema's row). */
type RegistrationRecord = Selectable<ServiceRegistrationsTable>;

function registrationRow(r: RegistrationRecord): RegistrationRow {
  return {
    namespace: r.namespace,
    workflow: r.workflow_name,
    service: r.service,
    steps: r.steps,
    queues: r.queues,
    transport: r.transport as RegistrationRow["transport"],
    firstRegisteredAt: r.first_registered_at,
    lastRegisteredAt: r.last_registered_at,
    lastContactAt: r.last_contact_at,
  };
}

/**
 * Stores a service's first registration for a workflow; answers null when it has one already
 * (then lock it with registrationGetForUpdate and change it with registrationUpdate).
 */
export async function registrationInsertIfNew(
  db: DbOrTrx,
  row: RegistrationKey & { steps: string[]; queues: string[]; transport: string },
): Promise<RegistrationRow | null> {
  const inserted = await db
    .insertInto("service_registrations")
    .values({
      namespace: row.namespace,
      workflow_name: row.workflow,
      service: row.service,
      steps: row.steps,
      queues: row.queues,
      transport: row.transport,
    })
    .onConflict((oc) => oc.columns(["namespace", "workflow_name", "service"]).doNothing())
    .returning(registrationColumns)
    .executeTakeFirst();
  return inserted ? registrationRow(inserted) : null;
}

/** The registration, locked until the transaction ends. */
export async function registrationGetForUpdate(db: DbOrTrx, key: RegistrationKey): Promise<RegistrationRow | null> {
  const row = await db
    .selectFrom("service_registrations")
    .select(registrationColumns)
    .where("namespace", "=", key.namespace)
    .where("workflow_name", "=", key.workflow)
    .where("service", "=", key.service)
    .forUpdate()
    .executeTakeFirst();
  return row ? registrationRow(row) : null;
}

/** A registration repeated or changed: its steps, queues and transport now, registered and heard from now. */
export async function registrationUpdate(
  db: DbOrTrx,
  row: RegistrationKey & { steps: string[]; queues: string[]; transport: string },
): Promise<RegistrationRow> {
  const updated = await db
    .updateTable("service_registrations")
    .set({
      steps: row.steps,
      queues: row.queues,
      transport: row.transport,
      last_registered_at: sql`now()`,
      last_contact_at: sql`now()`,
    })
    .where("namespace", "=", row.namespace)
    .where("workflow_name", "=", row.workflow)
    .where("service", "=", row.service)
    .returning(registrationColumns)
    .executeTakeFirstOrThrow();
  return registrationRow(updated);
}

export async function registrationChangeInsert(db: DbOrTrx, change: Omit<RegistrationChangeRow, "changeId" | "at">): Promise<void> {
  await db
    .insertInto("service_registration_changes")
    .values({
      namespace: change.namespace,
      workflow_name: change.workflow,
      service: change.service,
      change: change.change,
      steps: change.steps,
      steps_added: change.stepsAdded,
      transport: change.transport,
      transport_before: change.transportBefore,
      by_key_id: change.byKeyId,
      by_name: change.byName,
    })
    .execute();
}

/**
 * Registrations by namespace, workflow, then service: those after `after`, at most `limit`,
 * optionally of one namespace, workflow or service.
 */
export async function registrationPage(
  db: DbOrTrx,
  params: { namespace?: string; workflow?: string; service?: string; after?: RegistrationKey; limit: number },
): Promise<RegistrationRow[]> {
  let query = db
    .selectFrom("service_registrations")
    .select(registrationColumns)
    .orderBy("namespace")
    .orderBy("workflow_name")
    .orderBy("service")
    .limit(params.limit);
  if (params.namespace !== undefined) query = query.where("namespace", "=", params.namespace);
  if (params.workflow !== undefined) query = query.where("workflow_name", "=", params.workflow);
  if (params.service !== undefined) query = query.where("service", "=", params.service);
  if (params.after) {
    const { namespace, workflow, service } = params.after;
    query = query.where(sql<boolean>`(namespace, workflow_name, service) > (${namespace}, ${workflow}, ${service})`);
  }
  return (await query.execute()).map(registrationRow);
}

/** The registrations of these workflows (for the readiness of their steps). */
export async function registrationListByWorkflows(
  db: DbOrTrx,
  workflows: { namespace: string; workflow: string }[],
): Promise<RegistrationRow[]> {
  if (workflows.length === 0) return [];
  const result = await sql<RegistrationRecord>`
    SELECT r.namespace, r.workflow_name, r.service, r.steps, r.queues, r.transport,
           r.first_registered_at, r.last_registered_at, r.last_contact_at
    FROM service_registrations r
    JOIN unnest(${workflows.map((w) => w.namespace)}::text[], ${workflows.map((w) => w.workflow)}::text[]) AS w(namespace, workflow_name)
      ON r.namespace = w.namespace AND r.workflow_name = w.workflow_name
    ORDER BY r.namespace, r.workflow_name, r.service`.execute(db);
  return result.rows.map(registrationRow);
}

/** The audit trail, newest first: changes before `before` (a change id), at most `limit`. */
export async function registrationChangePage(
  db: DbOrTrx,
  params: { namespace?: string; workflow?: string; service?: string; before?: number; limit: number },
): Promise<RegistrationChangeRow[]> {
  let query = db.selectFrom("service_registration_changes").selectAll().orderBy("change_id", "desc").limit(params.limit);
  if (params.namespace !== undefined) query = query.where("namespace", "=", params.namespace);
  if (params.workflow !== undefined) query = query.where("workflow_name", "=", params.workflow);
  if (params.service !== undefined) query = query.where("service", "=", params.service);
  if (params.before !== undefined) query = query.where("change_id", "<", params.before);
  const rows = await query.execute();
  return rows.map((r) => ({
    changeId: Number(r.change_id),
    namespace: r.namespace,
    workflow: r.workflow_name,
    service: r.service,
    change: r.change as RegistrationChangeRow["change"],
    steps: r.steps,
    stepsAdded: r.steps_added,
    transport: r.transport as RegistrationChangeRow["transport"],
    transportBefore: r.transport_before as RegistrationChangeRow["transportBefore"],
    byKeyId: r.by_key_id,
    byName: r.by_name,
    at: r.created_at,
  }));
}

/**
 * A service answered for a step of this instance (a Kafka reply): every registration for that
 * step of the instance's workflow was heard from now.
 */
export async function registrationTouchByStep(db: DbOrTrx, params: { namespace: string; instanceId: string; step: string }): Promise<void> {
  await sql`
    UPDATE service_registrations r SET last_contact_at = now()
    FROM workflow_instances i
    WHERE i.instance_id = ${params.instanceId} AND i.namespace = ${params.namespace}
      AND r.namespace = i.namespace AND r.workflow_name = i.workflow_name AND ${params.step} = ANY(r.steps)`.execute(db);
}
