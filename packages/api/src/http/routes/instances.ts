import {
  type Action,
  CompensateRequestSchema,
  EventPageSchema,
  InstanceListQuerySchema,
  InstancePageSchema,
  InstanceStateResultSchema,
  InstanceViewSchema,
  PageQuerySchema,
  RetryTaskRequestSchema,
  RetryTaskResultSchema,
  TaskPageSchema,
} from "@baton/engine";
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { attemptsFor, eventsFor, instanceViewFor, listNamespace, requireVisible } from "../auth.ts";
import type { ApiDeps, AppEnv } from "../env.ts";
import { waitingSteps } from "../readiness.ts";
import { createRouter, errorResponses, jsonContent, noJsonBody, optionalJsonBody } from "../router.ts";

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
  summary: "One instance with its task attempts, its event history, and who serves each of its waiting attempts",
  request: { params: IdParams },
  responses: { 200: jsonContent(InstanceViewSchema, "The instance"), ...errorResponses(400, 404) },
});

const tasks = createRoute({
  method: "get",
  path: "/{id}/tasks",
  tags: ["instances"],
  summary: "An instance's task attempts in the order they were scheduled, a page at a time",
  request: { params: IdParams, query: PageQuerySchema },
  responses: { 200: jsonContent(TaskPageSchema, "One page of attempts"), ...errorResponses(400, 404) },
});

const events = createRoute({
  method: "get",
  path: "/{id}/events",
  tags: ["instances"],
  summary: "An instance's event history by sequence number, a page at a time",
  request: { params: IdParams, query: PageQuerySchema },
  responses: { 200: jsonContent(EventPageSchema, "One page of events"), ...errorResponses(400, 404) },
});

const lifecycle = (action: "pause" | "resume" | "cancel", summary: string) =>
  createRoute({
    method: "post",
    path: `/{id}/${action}`,
    tags: ["instances"],
    summary,
    description: "Takes no body: a body with fields is refused (400), so nothing sent is silently dropped.",
    middleware: [noJsonBody] as const,
    request: { params: IdParams },
    responses: { 200: jsonContent(InstanceStateResultSchema, "The instance's new state"), ...errorResponses(400, 404, 409) },
  });

const compensate = createRoute({
  method: "post",
  path: "/{id}/compensate",
  tags: ["instances"],
  summary: "Start compensation (UNDO of completed steps) by hand, also of a COMPLETED run",
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
export function instanceRoutes(deps: ApiDeps) {
  const { engine, httpSteps } = deps;
  const router = createRouter();
  /** Refuses (404) an instance outside the caller's namespaces before anything else is read. */
  const visible = async (c: Context<AppEnv>, action: Action, id: string) =>
    requireVisible(c, action, await engine.workflows.instanceNamespace(id), `Instance ${id}`);

  router.openapi(list, async (c) => {
    const query = c.req.valid("query");
    const namespace = listNamespace(c, "runs.read", query.namespace);
    return c.json(await engine.workflows.listWorkflows({ ...query, namespace }), 200);
  });

  router.openapi(show, async (c) => {
    const { id } = c.req.valid("param");
    const caller = await visible(c, "runs.read", id);
    const view = await engine.workflows.getWorkflow(id);
    const [httpCircuits, waiting] = await Promise.all([httpSteps ? httpSteps.circuitsFor(view) : [], waitingSteps(deps, view)]);
    return c.json(instanceViewFor(caller, { ...view, ...(httpCircuits.length > 0 ? { httpCircuits } : {}), waiting }), 200);
  });

  router.openapi(tasks, async (c) => {
    const { id } = c.req.valid("param");
    const caller = await visible(c, "runs.read", id);
    const page = await engine.workflows.listTasks(id, c.req.valid("query"));
    return c.json({ ...page, items: attemptsFor(caller, page.items) }, 200);
  });

  router.openapi(events, async (c) => {
    const { id } = c.req.valid("param");
    const caller = await visible(c, "runs.read", id);
    const page = await engine.workflows.listEvents(id, c.req.valid("query"));
    return c.json({ ...page, items: eventsFor(caller, page.items) }, 200);
  });

  router.openapi(lifecycle("pause", "Pause: stop hand-outs until resumed"), async (c) => {
    const { id } = c.req.valid("param");
    await visible(c, "runs.operate", id);
    return c.json(await engine.workflows.pause(id), 200);
  });
  router.openapi(lifecycle("resume", "Resume a paused instance"), async (c) => {
    const { id } = c.req.valid("param");
    await visible(c, "runs.operate", id);
    return c.json(await engine.workflows.resume(id), 200);
  });
  router.openapi(lifecycle("cancel", "Cancel: pending tasks are cancelled, leased ones can no longer report"), async (c) => {
    const { id } = c.req.valid("param");
    await visible(c, "runs.operate", id);
    return c.json(await engine.workflows.cancel(id), 200);
  });

  router.openapi(compensate, async (c) => {
    const { id } = c.req.valid("param");
    const caller = await visible(c, "runs.operate", id);
    const { fromTaskId } = c.req.valid("json");
    return c.json(await engine.workflows.triggerCompensation(id, fromTaskId, caller), 200);
  });

  router.openapi(retry, async (c) => {
    const { id, taskId } = c.req.valid("param");
    await visible(c, "runs.operate", id);
    const { input } = c.req.valid("json");
    return c.json(await engine.tasks.retryTask(id, taskId, input), 200);
  });

  return router;
}
