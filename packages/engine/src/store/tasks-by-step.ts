import type { DbOrTrx } from "../db/database.ts";
import type { TaskKind } from "../domain/states.ts";
import { type TaskRow, toTaskRow } from "./tasks.ts";

/**
 * The attempt of one step (DO or UNDO) of one instance that `holderId` currently holds leased,
 * or null. For replies that name the step but not the execution (services written against the
 * older orchestrators echo only flowId, stepName and action).
 */
export async function taskGetLeasedByStep(
  db: DbOrTrx,
  params: { instanceId: string; taskId: string; kind: TaskKind; holderId: string },
): Promise<TaskRow | null> {
  const row = await db
    .selectFrom("task_executions")
    .selectAll()
    .where("workflow_instance_id", "=", params.instanceId)
    .where("task_id", "=", params.taskId)
    .where("kind", "=", params.kind)
    .where("state", "=", "LEASED")
    .where("lease_holder", "=", params.holderId)
    .orderBy("attempt_number", "desc")
    .limit(1)
    .executeTakeFirst();
  return row ? toTaskRow(row) : null;
}
