import { type InstanceView, isBatonError, LIMITS, MAX_RUN_WAIT_MS, strictFields } from "@baton/engine";
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { requireAccess, requireVisible } from "../../auth.ts";
import type { ApiDeps, AppEnv } from "../../env.ts";
import { requestWait } from "../../request-wait.ts";
import { createRouter, errorResponses, jsonContent } from "../../router.ts";
import { COMPAT_NAMESPACE, COMPAT_TAG, startLegacyRun } from "./compat-common.ts";
import { DirectAnswerSchema, directAnswer, TaskResponseSchema, taskResponse } from "./fastapi-task-view.ts";
import { HealthFactsSchema, healthFacts } from "./health-facts.ts";
import { fastapiErrors } from "./legacy-errors.ts";

/*
 * The FastAPI orchestrator's HTTP API (reference/fastapi-orchestrator.md). A request ("task") is a
 * run of the workflow `orchestrate`, one step per service (revenue, rebates, specialty, ...); its
 * input is the request itself. A task_id is a Baton instance id.
 */

/** The workflow the FastAPI routes run: register it with one step per service. */
export const FASTAPI_WORKFLOW = "orchestrate";

const OrchestrateRequestSchema = strictFields({
  task_name: z.string().min(1).max(LIMITS.maxIdLength),
  task_description: z.string().max(2000).nullable().optional(),
  payload: z
    .array(z.record(z.string(), z.unknown()).meta({ description: "One item: service name -> what that service gets" }))
    .min(1)
    .max(1000),
}).meta({
  example: {
    task_name: "Compute Financial Metrics",
    task_description: "Compute revenue, rebates, and specialty metrics for the given scenarios",
    payload: [
      { revenue: { scenario_id: "123e4567-e89b-12d3-a456-426614174000", business_type_id: "123e4567-e89b-12d3-a456-426614174001" } },
    ],
  },
});
type OrchestrateRequest = z.infer<typeof OrchestrateRequestSchema>;

const AcceptedSchema = z.object({ task_id: z.string(), status: z.literal("accepted"), message: z.string() });

const TaskIdParams = z.object({
  task_id: z.uuid().meta({ param: { name: "task_id", in: "path" }, description: "The task_id /api/orchestrate answered" }),
});
const ListQuery = strictFields({
  limit: z.coerce.number().int().min(1).max(100).optional().meta({ description: "Tasks per page, newest first (default 50)" }),
  cursor: z.string().min(1).max(1000).optional().meta({ description: "The X-Next-Cursor header of the previous page" }),
});

const body = { required: true, content: { "application/json": { schema: OrchestrateRequestSchema } } };

const orchestrate = createRoute({
  method: "post",
  path: "/api/orchestrate",
  tags: [COMPAT_TAG],
  summary: `FastAPI orchestrator: accept a request; it runs as the workflow '${FASTAPI_WORKFLOW}'`,
  request: { body },
  responses: { 200: jsonContent(AcceptedSchema, "Accepted; follow it at /api/tasks/{task_id}"), ...errorResponses(400, 403, 404, 413) },
});

const direct = createRoute({
  method: "post",
  path: "/api/orchestrate/direct",
  tags: [COMPAT_TAG],
  summary: "FastAPI orchestrator: run a request and answer when it has ended",
  description: `Waits up to ${MAX_RUN_WAIT_MS / 1000} s for the run to end; if it has not, answers 202 with status IN_PROGRESS (follow it at /api/tasks/{task_id}).`,
  request: { body },
  responses: {
    200: jsonContent(DirectAnswerSchema, "The run ended: COMPLETED or FAILED"),
    202: jsonContent(DirectAnswerSchema, "Still running when the wait ran out"),
    ...errorResponses(400, 403, 404, 413),
  },
});

const list = createRoute({
  method: "get",
  path: "/api/tasks",
  tags: [COMPAT_TAG],
  summary: "FastAPI orchestrator: tasks with their status and service requests, newest first",
  request: { query: ListQuery },
  responses: {
    200: jsonContent(z.array(TaskResponseSchema), "One page of tasks; X-Next-Cursor names the next"),
    ...errorResponses(400, 403),
  },
});

const show = createRoute({
  method: "get",
  path: "/api/tasks/{task_id}",
  tags: [COMPAT_TAG],
  summary: "FastAPI orchestrator: one task with its service requests",
  request: { params: TaskIdParams },
  responses: { 200: jsonContent(TaskResponseSchema, "The task"), ...errorResponses(400, 404) },
});

const health = createRoute({
  method: "get",
  path: "/health",
  tags: [COMPAT_TAG],
  summary: "FastAPI orchestrator: health check with the processing mode",
  responses: {
    200: jsonContent(HealthFactsSchema.extend({ status: z.literal("healthy"), mode: z.enum(["kafka", "http"]) }), "Up"),
    ...errorResponses(503),
  },
});

/** FastAPI orchestrator routes, mounted at the root. */
export function fastapiRoutes(deps: ApiDeps) {
  const { engine } = deps;
  const router = createRouter();
  router.onError(fastapiErrors);
  const start = (c: Context<AppEnv>, request: OrchestrateRequest) =>
    startLegacyRun(c, deps, FASTAPI_WORKFLOW, {
      task_name: request.task_name,
      task_description: request.task_description ?? null,
      payload: request.payload,
    });
  /** The services of a run: its workflow version's step names (read once per request and version). */
  const servicesOf = async (view: InstanceView, seen = new Map<string, Promise<string[]>>()) => {
    const key = `${view.workflowName}@${view.workflowVersion}`;
    let names = seen.get(key);
    if (!names) {
      names = engine.workflows
        .getDefinition(view.workflowName, view.namespace, view.workflowVersion)
        .then((row) => row.definition.steps.map((s) => s.name));
      seen.set(key, names);
    }
    return names;
  };

  router.openapi(orchestrate, async (c) => {
    const { instanceId } = await start(c, c.req.valid("json"));
    return c.json({ task_id: instanceId, status: "accepted" as const, message: "Request accepted and sent to processing queue" }, 200);
  });

  router.openapi(direct, async (c) => {
    const { instanceId } = await start(c, c.req.valid("json"));
    // Ended, out of time, or cut short (the client left, the server is stopping): the answer says which.
    const wait = requestWait(c, deps.shutdown);
    await engine.workflows.waitForEnd(instanceId, { waitMs: MAX_RUN_WAIT_MS, signal: wait.signal }).finally(wait.dispose);
    const view = await engine.workflows.getWorkflow(instanceId);
    const answer = directAnswer(view, await servicesOf(view));
    return answer.status === "IN_PROGRESS" || answer.status === "PENDING" ? c.json(answer, 202) : c.json(answer, 200);
  });

  router.openapi(list, async (c) => {
    requireAccess(c, "runs.read", COMPAT_NAMESPACE);
    const { limit, cursor } = c.req.valid("query");
    const page = await engine.workflows.listWorkflows({
      namespace: COMPAT_NAMESPACE,
      workflow: FASTAPI_WORKFLOW,
      limit: limit ?? 50,
      cursor,
    });
    const definitions = new Map<string, Promise<string[]>>();
    const tasks = await Promise.all(
      page.items.map(async (item) => {
        const view = await engine.workflows.getWorkflow(item.instanceId);
        return taskResponse(view, await servicesOf(view, definitions));
      }),
    );
    if (page.nextCursor) c.header("X-Next-Cursor", page.nextCursor);
    return c.json(tasks, 200);
  });

  router.openapi(show, async (c) => {
    const { task_id } = c.req.valid("param");
    requireVisible(c, "runs.read", await engine.workflows.instanceNamespace(task_id), `Task with ID ${task_id}`);
    const view = await engine.workflows.getWorkflow(task_id);
    return c.json(taskResponse(view, await servicesOf(view)), 200);
  });

  router.openapi(health, async (c) => {
    const facts = await healthFacts(deps);
    return c.json({ status: "healthy" as const, mode: await processingMode(deps), ...facts }, 200);
  });

  return router;
}

/**
 * How the FastAPI requests are processed, in its old words: `kafka` when every step (service) of
 * the workflow runs over the Kafka bridge, else `http` (workers poll Baton over HTTP).
 */
async function processingMode({ engine }: ApiDeps): Promise<"kafka" | "http"> {
  const row = await engine.workflows.getDefinition(FASTAPI_WORKFLOW, COMPAT_NAMESPACE).catch((error: unknown) => {
    if (isBatonError(error, "NOT_FOUND")) return null;
    throw error;
  });
  return row?.definition.steps.every((s) => s.transport === "kafka") ? "kafka" : "http";
}
