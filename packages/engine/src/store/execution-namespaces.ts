import { sql } from "kysely";
import type { DbOrTrx } from "../db/database.ts";
import { idList } from "./id-list.ts";

/** The namespace of the instance each execution belongs to (executions that do not exist are absent). */
export async function executionNamespaces(db: DbOrTrx, executionIds: string[]): Promise<Map<string, string>> {
  if (executionIds.length === 0) return new Map();
  const rows = await sql<{ execution_id: string; namespace: string }>`
    SELECT t.execution_id, i.namespace
    FROM task_executions t JOIN workflow_instances i ON i.instance_id = t.workflow_instance_id
    WHERE t.execution_id = ANY(${idList([...new Set(executionIds)])})`.execute(db);
  return new Map(rows.rows.map((r) => [r.execution_id, r.namespace]));
}
