import type { WorkflowDefinition } from "@baton/contract";
import { sql } from "kysely";
import type { DbOrTrx } from "../db/database.ts";
import type { DefinitionListPosition } from "../domain/list-cursor.ts";

export interface DefinitionRow {
  namespace: string;
  name: string;
  version: number;
  definition: WorkflowDefinition;
  createdAt: Date;
}

/** Serialises registrations of one workflow name for the rest of the transaction. */
export async function definitionLockName(db: DbOrTrx, namespace: string, name: string): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(hashtext(${`baton.definition:${namespace}/${name}`}))`.execute(db);
}

export async function definitionGet(db: DbOrTrx, namespace: string, name: string, version?: number): Promise<DefinitionRow | null> {
  let query = db.selectFrom("workflow_definitions").selectAll().where("namespace", "=", namespace).where("name", "=", name);
  query = version === undefined ? query.orderBy("version", "desc").limit(1) : query.where("version", "=", version);
  const row = await query.executeTakeFirst();
  return row
    ? {
        namespace: row.namespace,
        name: row.name,
        version: row.version,
        definition: row.definition as WorkflowDefinition,
        createdAt: row.created_at,
      }
    : null;
}

/** The latest version number of a workflow, or null when it has none. */
export async function definitionLatestVersion(db: DbOrTrx, namespace: string, name: string): Promise<number | null> {
  const row = await db
    .selectFrom("workflow_definitions")
    .select((eb) => eb.fn.max("version").as("version"))
    .where("namespace", "=", namespace)
    .where("name", "=", name)
    .executeTakeFirst();
  return row?.version ?? null;
}

/** Names a stored definition version. */
export interface DefinitionKey {
  namespace: string;
  name: string;
  version: number;
}

/** Every stored version, oldest first, without the definitions: cheap to list again and again, since versions never change. */
export async function definitionListVersions(db: DbOrTrx): Promise<DefinitionKey[]> {
  return db.selectFrom("workflow_definitions").select(["namespace", "name", "version"]).orderBy("created_at").orderBy("version").execute();
}

export async function definitionInsert(db: DbOrTrx, definition: WorkflowDefinition, version: number): Promise<DefinitionRow> {
  const row = await db
    .insertInto("workflow_definitions")
    .values({ namespace: definition.namespace, name: definition.name, version, definition: JSON.stringify(definition) })
    .returningAll()
    .executeTakeFirstOrThrow();
  return { namespace: row.namespace, name: row.name, version: row.version, definition, createdAt: row.created_at };
}

/** The latest version of every workflow, optionally of one namespace (the Kafka bridge reads them all). */
export async function definitionListLatest(db: DbOrTrx, namespace?: string): Promise<DefinitionRow[]> {
  return definitionPageLatest(db, { ...(namespace ? { namespace } : {}) });
}

/**
 * The latest version of each workflow by namespace, then name: those after `after`, at most
 * `limit` of them (all when no limit is given).
 */
export async function definitionPageLatest(
  db: DbOrTrx,
  params: { namespace?: string; after?: DefinitionListPosition; limit?: number },
): Promise<DefinitionRow[]> {
  let query = db
    .selectFrom("workflow_definitions")
    .selectAll()
    .distinctOn(["namespace", "name"])
    .orderBy("namespace")
    .orderBy("name")
    .orderBy("version", "desc");
  if (params.namespace) query = query.where("namespace", "=", params.namespace);
  if (params.after) query = query.where(sql<boolean>`(namespace, name) > (${params.after.namespace}, ${params.after.name})`);
  if (params.limit !== undefined) query = query.limit(params.limit);
  const rows = await query.execute();
  return rows.map((row) => ({
    namespace: row.namespace,
    name: row.name,
    version: row.version,
    definition: row.definition as WorkflowDefinition,
    createdAt: row.created_at,
  }));
}
