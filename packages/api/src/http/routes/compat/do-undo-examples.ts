import { LIMITS, strictFields } from "@baton/engine";
import { createRoute, z } from "@hono/zod-openapi";
import { inputOfLegacyPayload } from "../../../legacy-payload.ts";
import type { ApiDeps } from "../../env.ts";
import { createRouter, errorResponses, jsonContent } from "../../router.ts";
import { COMPAT_TAG, startLegacyRun } from "./compat-common.ts";
import { springErrors } from "./legacy-errors.ts";

/*
 * The REST execute of the DO/UNDO examples (reference/do-undo-examples.md): the same start as the
 * Kafka topic `orchestrator.execution.start`, answered as the Spring orchestrator answered execute.
 */

const ExecuteRequestSchema = strictFields(
  {
    orchestrationName: z.string().min(1).max(LIMITS.maxNameLength).meta({ description: "The workflow to run" }),
    payload: z
      .union([z.record(z.string(), z.unknown()), z.string().max(LIMITS.maxValueBytes * 2)])
      .optional()
      .meta({ description: "The run's input: a JSON object, or base64 bytes as on the Kafka start topic" }),
  },
  { runId: "this route starts a new run on every call; for idempotent starts use POST /v1/workflows/{name}/runs" },
).meta({ example: { orchestrationName: "tenantCreation", payload: { tenantName: "acme-corp", domain: "acme.example.com" } } });

const ExecuteAnswerSchema = z.object({
  status: z.literal("SUCCESS"),
  flowId: z.uuid().meta({ description: "The run's id (a Baton instance id)" }),
  message: z.string(),
});

const execute = createRoute({
  method: "post",
  path: "/execute",
  tags: [COMPAT_TAG],
  summary: "DO/UNDO examples: start a run from `{orchestrationName, payload}`",
  request: { body: { required: true, content: { "application/json": { schema: ExecuteRequestSchema } } } },
  responses: { 200: jsonContent(ExecuteAnswerSchema, "Started"), ...errorResponses(400, 403, 404, 413) },
});

/** The DO/UNDO examples' REST start, mounted at /api/orchestrations. */
export function doUndoExampleRoutes(deps: ApiDeps) {
  const router = createRouter();
  router.onError(springErrors);
  router.openapi(execute, async (c) => {
    const { orchestrationName, payload } = c.req.valid("json");
    const input = typeof payload === "string" ? inputOfLegacyPayload(Buffer.from(payload, "base64")) : (payload ?? {});
    const started = await startLegacyRun(c, deps, orchestrationName, input);
    return c.json({ status: "SUCCESS" as const, flowId: started.instanceId, message: "Orchestration execution started" }, 200);
  });
  return router;
}
