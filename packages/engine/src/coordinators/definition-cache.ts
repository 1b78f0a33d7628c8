import { BatonError } from "@baton/contract";
import type { DbOrTrx } from "../db/database.ts";
import type { WorkflowDefinition } from "../domain/definition.ts";
import { definitionGet } from "../store/definitions.ts";

/** Definition versions never change once stored, so each is read from the database once. */
export class DefinitionCache {
  private readonly byVersion = new Map<string, WorkflowDefinition>();

  async get(db: DbOrTrx, namespace: string, name: string, version: number): Promise<WorkflowDefinition> {
    const key = `${namespace}\u0000${name}\u0000${version}`;
    const cached = this.byVersion.get(key);
    if (cached) return cached;
    const row = await definitionGet(db, namespace, name, version);
    if (!row) throw new BatonError("NOT_FOUND", `Workflow ${namespace}/${name} version ${version} not found`, { namespace, name, version });
    this.byVersion.set(key, row.definition);
    return row.definition;
  }
}
