import type { Database } from "@baton/engine";
import { directDb } from "@baton/engine/internal";
import { sql } from "kysely";

/**
 * A fingerprint of everything Baton has committed, to prove that a refused request wrote nothing.
 *
 * Per table: the row count and the newest `xmin` (the id of the transaction that wrote a row
 * version). Under MVCC every INSERT and every UPDATE (HOT or not, even one that sets a column to the
 * value it had) creates a row version stamped with its writer's transaction id, which is newer than
 * every id already in the table, so it raises that table's max xmin; a DELETE removes a row and
 * lowers the count. A rolled-back write leaves no visible version and rightly counts as nothing
 * written. Per sequence: its `last_value` and `is_called`, since `nextval` (a fence token, an event position) is not
 * rolled back and would show a refused request that got as far as taking a number.
 *
 * Cheaper and stronger than hashing contents (an update to an equal value changes no content), and
 * unlike `pg_current_snapshot()` it is local to this database: the shared test cluster runs other
 * test files whose transactions advance the cluster-wide counter at any moment.
 */
export async function databaseDigest(database: Database): Promise<string> {
  const query = await digestQuery(database);
  const { rows } = await query.execute(directDb(database));
  return JSON.stringify(rows.map((r) => Object.values(r as object)));
}

/** The fingerprint once background writes of accepted requests (e.g. an acquire's poll record) have landed. */
export async function settledDigest(database: Database): Promise<string> {
  let previous = await databaseDigest(database);
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    const next = await databaseDigest(database);
    if (next === previous) return next;
    previous = next;
  }
}

/**
 * The same fingerprint, of one namespace's rows only: its definitions, the queues it owns, and its
 * instances with their attempts, leases and history. A request acting in another namespace (or in
 * none) must leave it unchanged, even when it was accepted.
 */
export async function namespaceDigest(database: Database, namespace: string): Promise<string> {
  const of = (rows: ReturnType<typeof sql>) =>
    sql`(SELECT count(*)::text || ':' || coalesce(max(x::text::bigint), 0) FROM ${rows} AS r(x))`;
  const instanceRows = (table: string) =>
    sql`(SELECT t.xmin FROM ${sql.table(table)} t JOIN workflow_instances i ON i.instance_id = t.workflow_instance_id
         WHERE i.namespace = ${namespace})`;
  const { rows } = await sql<Record<string, string>>`
    SELECT ${of(sql`(SELECT xmin FROM workflow_definitions WHERE namespace = ${namespace})`)} AS definitions,
           ${of(sql`(SELECT xmin FROM queue_owners WHERE namespace = ${namespace})`)} AS queues,
           ${of(sql`(SELECT xmin FROM workflow_instances WHERE namespace = ${namespace})`)} AS instances,
           ${of(instanceRows("task_executions"))} AS attempts,
           ${of(instanceRows("task_leases"))} AS leases,
           ${of(instanceRows("events"))} AS events`.execute(directDb(database));
  return JSON.stringify(rows[0]);
}

const queries = new WeakMap<Database, ReturnType<typeof sql>>();

async function digestQuery(database: Database) {
  const known = queries.get(database);
  if (known) return known;
  const { rows } = await sql<{ name: string; kind: string }>`
    SELECT c.relname AS name, c.relkind AS kind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'S') ORDER BY c.relname`.execute(directDb(database));
  const parts = rows.map(({ name, kind }) =>
    kind === "S"
      ? sql`SELECT ${name}::text AS name, is_called::int::bigint AS rows, last_value::bigint AS newest FROM ${sql.table(name)}`
      : sql`SELECT ${name}::text AS name, count(*)::bigint AS rows, coalesce(max(xmin::text::bigint), 0) AS newest FROM ${sql.table(name)}`,
  );
  const query = sql`${sql.join(parts, sql` UNION ALL `)}`;
  queries.set(database, query);
  return query;
}
