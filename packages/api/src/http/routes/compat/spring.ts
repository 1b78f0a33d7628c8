import { BatonError, type InstanceState, isLegacyRegistration, LIMITS } from "@baton/engine";
import { createRoute, z } from "@hono/zod-openapi";
import { inputOfLegacyPayload } from "../../../legacy-payload.ts";
import { requireAccess, requireVisible } from "../../auth.ts";
import { readDefinitionBody } from "../../definition-body.ts";
import type { ApiDeps } from "../../env.ts";
import { registerLegacyWorker } from "../../legacy-worker.ts";
import { createRouter, errorResponses, jsonContent } from "../../router.ts";
import { namespaceNamedBy } from "../workflows.ts";
import { COMPAT_TAG, startLegacyRun } from "./compat-common.ts";
import { HealthFactsSchema, healthFacts } from "./health-facts.ts";
import { springErrors } from "./legacy-errors.ts";
import { legacyInstanceStatus } from "./legacy-statuses.ts";

/*
 * The Spring orchestrator's HTTP API (reference/orchestrator-service-spring.md) over Baton's
 * coordinators, answering `{status: "SUCCESS" | "ERROR", message, ...}` as it did. A flowId is a
 * Baton instance id.
 */

const SpringAnswerSchema = z.object({
  status: z.literal("SUCCESS"),
  message: z.string(),
});

const ExecuteAnswerSchema = SpringAnswerSchema.extend({
  flowId: z.uuid().meta({ description: "The run's id (a Baton instance id)" }),
});

const UndoAnswerSchema = SpringAnswerSchema.extend({
  flowId: z.uuid(),
  state: z.string().meta({ description: "Baton's state of the run now: COMPENSATING, or COMPENSATED when nothing had an UNDO" }),
});

const OrchNameParams = z.object({
  orchName: z
    .string()
    .min(1)
    .max(LIMITS.maxNameLength)
    .meta({ param: { name: "orchName", in: "path" }, example: "tenantCreation" }),
});
const FlowIdParams = z.object({
  flowId: z.uuid().meta({ param: { name: "flowId", in: "path" }, description: "The flowId that execute answered (a Baton instance id)" }),
});

const register = createRoute({
  method: "post",
  path: "/register",
  tags: [COMPAT_TAG],
  summary: "Spring orchestrator: register an initiator (a workflow) or a worker (YAML or JSON)",
  description:
    "`as: initiator` registers the orchestration as a Baton workflow (every step over Kafka, with an UNDO, in `seq` " +
    "order or together for `simultaneous`); `as: worker` records the service named by the `X-Service-Name` header (or " +
    "a `service` field) as serving the listed steps, remembered across restarts (GET /v1/registrations). Same as POST /v1/workflows.",
  request: {
    headers: z.object({ "x-service-name": z.string().min(1).max(LIMITS.maxIdLength).optional() }),
    body: {
      required: true,
      content: {
        "application/json": { schema: { $ref: "#/components/schemas/WorkflowDefinition" } },
        "application/yaml": { schema: { $ref: "#/components/schemas/WorkflowDefinition" } },
      },
    },
  },
  responses: { 200: jsonContent(SpringAnswerSchema, "Registered"), ...errorResponses(400, 403, 404, 413, 415) },
});

const execute = createRoute({
  method: "post",
  path: "/execute/{orchName}",
  tags: [COMPAT_TAG],
  summary: "Spring orchestrator: start a run; the body is the payload, in any content type",
  description:
    "A body that is a JSON object is the run's input; any other body (binary, text) is kept as base64 under `payload`, " +
    "as a Kafka start's base64 payload is. Each call starts a new run.",
  request: {
    params: OrchNameParams,
    body: { required: false, content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } } },
  },
  responses: { 200: jsonContent(ExecuteAnswerSchema, "Started"), ...errorResponses(400, 403, 404, 413) },
});

const undo = createRoute({
  method: "post",
  path: "/undo/{flowId}",
  tags: [COMPAT_TAG],
  summary: "Spring orchestrator: undo a run by hand, also one that completed",
  description:
    "Every completed step with an UNDO is undone, in reverse dependency order (POST /v1/instances/{id}/compensate). " +
    "The run's history records the API key that asked.",
  request: { params: FlowIdParams },
  responses: { 200: jsonContent(UndoAnswerSchema, "Undo started"), ...errorResponses(400, 403, 404, 409) },
});

const health = createRoute({
  method: "get",
  path: "/health",
  tags: [COMPAT_TAG],
  summary: "Spring orchestrator: health check (`status: UP`), with the database and version",
  responses: { 200: jsonContent(HealthFactsSchema.extend({ status: z.literal("UP") }), "Up"), ...errorResponses(503) },
});

/** Spring orchestrator routes, mounted at /api/orchestration. */
export function springRoutes(deps: ApiDeps) {
  const { engine } = deps;
  const router = createRouter();
  router.onError(springErrors);

  router.openapi(register, async (c) => {
    const body = await readDefinitionBody(c);
    const namespace = namespaceNamedBy(body);
    if (isLegacyRegistration(body) && body.as === "worker") {
      requireAccess(c, "workers.announce", namespace);
      const worker = await registerLegacyWorker(deps, body, c);
      return c.json({ status: "SUCCESS" as const, message: `Registration initiated for orchestration: ${body.orchName}`, ...worker }, 200);
    }
    requireAccess(c, "workflows.register", namespace);
    const { definition: _definition, ...result } = await engine.workflows.registerWorkflow(body);
    return c.json({ status: "SUCCESS" as const, message: `Registration initiated for orchestration: ${result.name}`, ...result }, 200);
  });

  router.openapi(execute, async (c) => {
    const { orchName } = c.req.valid("param");
    const input = inputOfLegacyPayload(new Uint8Array(await c.req.arrayBuffer()));
    const started = await startLegacyRun(c, deps, orchName, input);
    return c.json({ status: "SUCCESS" as const, flowId: started.instanceId, message: "Orchestration execution started" }, 200);
  });

  router.openapi(undo, async (c) => {
    const { flowId } = c.req.valid("param");
    const caller = requireVisible(c, "runs.operate", await engine.workflows.instanceNamespace(flowId), `Flow ${flowId}`);
    const { state } = await engine.workflows.triggerCompensation(flowId, undefined, caller).catch((error: unknown) => {
      throw inOldWords(error, flowId);
    });
    return c.json({ status: "SUCCESS" as const, flowId, state, message: `Undo initiated for flowId: ${flowId}` }, 200);
  });

  router.openapi(health, async (c) => c.json({ status: "UP" as const, ...(await healthFacts(deps)) }, 200));

  return router;
}

/** A refused undo, said in the old status names (`UNDONE`, `UNDOING`) beside Baton's. */
function inOldWords(error: unknown, flowId: string): unknown {
  if (!(error instanceof BatonError) || error.code !== "INVALID_STATE") return error;
  const state = error.details.state as InstanceState;
  const old = legacyInstanceStatus("spring", "run", state);
  return new BatonError("INVALID_STATE", `Cannot undo flow ${flowId}: it is ${old} (Baton state ${state})`, {
    ...error.details,
    legacyStatus: old,
  });
}
