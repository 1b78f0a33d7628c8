import { BatonError, type WorkflowDefinition } from "@baton/contract";
import type { DbOrTrx } from "../db/database.ts";
import { definitionGet, definitionLatestVersion } from "../store/definitions.ts";

/**
 * Definition versions never change once stored, so each is read from the database once. The latest
 * version of each workflow is remembered too, as a guess: a start inserts its run only while no
 * newer version exists (see instanceInsertCte), and looks again when that refused it.
 */
export class DefinitionCache {
  private readonly byVersion = new Map<string, WorkflowDefinition>();
  private readonly latest = new Map<string, number>();

  /** The latest version this process knows of (`fresh`: as the database has it now); null when none. */
  async latestVersion(db: DbOrTrx, namespace: string, name: string, fresh: boolean): Promise<number | null> {
    const key = `${namespace}\u0000${name}`;
    const known = fresh ? undefined : this.latest.get(key);
    if (known !== undefined) return known;
    const version = await definitionLatestVersion(db, namespace, name);
    if (version === null) this.latest.delete(key);
    else this.latest.set(key, version);
    return version;
  }

  /** After this process registered a version: the next start looks the latest up again. */
  forgetLatest(namespace: string, name: string): void {
    this.latest.delete(`${namespace}\u0000${name}`);
  }

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
