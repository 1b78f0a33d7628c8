import type { StartResult } from "@baton/engine";
import type { Context } from "hono";
import { requireAccess } from "../../auth.ts";
import type { ApiDeps, AppEnv } from "../../env.ts";

/** The OpenAPI tag of every compatibility route. */
export const COMPAT_TAG = "compatibility";

/** Where the compatibility routes act: the old services knew no namespaces. */
export const COMPAT_NAMESPACE = "default";

/**
 * Starts a run of `workflow` with a fresh runId, as the old services did on every call (they had
 * no idempotent start). The caller must be allowed to start runs in the default namespace.
 */
export function startLegacyRun(c: Context<AppEnv>, deps: ApiDeps, workflow: string, input: Record<string, unknown>): Promise<StartResult> {
  requireAccess(c, "runs.start", COMPAT_NAMESPACE);
  return deps.engine.workflows.startWorkflow({ workflow, namespace: COMPAT_NAMESPACE, input });
}
