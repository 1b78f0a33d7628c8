import {
  CompensateRequestSchema,
  InstanceListQuerySchema,
  InstancePageSchema,
  InstanceStateResultSchema,
  InstanceViewSchema,
  RetryTaskRequestSchema,
  RetryTaskResultSchema,
} from "@baton/engine";
import { createRoute, z } from "@hono/zod-openapi";
import type { ApiDeps } from "../env.ts";
import { createRouter, errorResponses, jsonContent, optionalJsonBody } from "../router.ts";

const IdParams = z.object({ id: z.uuid().meta({ param: { name: "id", in: "path" }, description: "Instance id" }) });
const TaskParams = IdParams.extend({
  taskId: z
    .string()
    .min(1)
    .max(128)
    .meta({ param: { name: "taskId", in: "path" }, description: "Step name" }),
});

const list = createRoute({
  method: "get",
  path: "/",
  tags: ["instances"],
  summary: "List instances, newest first",
  request: { query: InstanceListQuerySchema },
  responses: { 200: jsonContent(InstancePageSchema, "One page of instances"), ...errorResponses(400) },
});

const show = createRoute({
  method: "get",
  path: "/{id}",
  tags: ["instances"],
  summary: "One instance with its task attempts and its event history",
  request: { params: IdParams },
  responses: { 200: jsonContent(InstanceViewSchema, "The instance"), ...errorResponses(400, 404) },
});

const lifecycle = (action: "pause" | "resume" | "cancel", summary: string) =>
  createRoute({
    method: "post",
    path: `/{id}/${action}`,
    tags: ["instances"],
    summary,
    request: { params: IdParams },
    responses: { 200: jsonContent(InstanceStateResultSchema, "The instance's new state"), ...errorResponses(400, 404, 409) },
  });

const compensate = createRoute({
  method: "post",
  path: "/{id}/compensate",
  tags: ["instances"],
  summary: "Start compensation (UNDO of completed steps) by hand",
  middleware: [optionalJsonBody] as const,
  request: { params: IdParams, body: { required: false, content: { "application/json": { schema: CompensateRequestSchema } } } },
  responses: { 200: jsonContent(InstanceStateResultSchema, "The instance's new state"), ...errorResponses(400, 404, 409) },
});

const retry = createRoute({
  method: "post",
  path: "/{id}/tasks/{taskId}/retry",
  tags: ["instances"],
  summary: "Re-run a failed step of a FAILED or COMPENSATION_FAILED instance, optionally with new input",
  middleware: [optionalJsonBody] as const,
  request: { params: TaskParams, body: { required: false, content: { "application/json": { schema: RetryTaskRequestSchema } } } },
  responses: { 200: jsonContent(RetryTaskResultSchema, "The new attempt"), ...errorResponses(400, 404, 409) },
});

/** Instances: listing, inspection and operator actions. */
export function instanceRoutes({ engine }: ApiDeps) {
  const router = createRouter();

  router.openapi(list, async (c) => c.json(await engine.workflows.listWorkflows(c.req.valid("query")), 200));

  router.openapi(show, async (c) => c.json(await engine.workflows.getWorkflow(c.req.valid("param").id), 200));

  router.openapi(lifecycle("pause", "Pause: stop hand-outs until resumed"), async (c) =>
    c.json(await engine.workflows.pause(c.req.valid("param").id), 200),
  );
  router.openapi(lifecycle("resume", "Resume a paused instance"), async (c) =>
    c.json(await engine.workflows.resume(c.req.valid("param").id), 200),
  );
  router.openapi(lifecycle("cancel", "Cancel: pending tasks are cancelled, leased ones can no longer report"), async (c) =>
    c.json(await engine.workflows.cancel(c.req.valid("param").id), 200),
  );

  router.openapi(compensate, async (c) => {
    const { fromTaskId } = c.req.valid("json");
    return c.json(await engine.workflows.triggerCompensation(c.req.valid("param").id, fromTaskId), 200);
  });

  router.openapi(retry, async (c) => {
    const { id, taskId } = c.req.valid("param");
    const { input } = c.req.valid("json");
    return c.json(await engine.tasks.retryTask(id, taskId, input), 200);
  });

  return router;
}
