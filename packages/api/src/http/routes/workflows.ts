import {
  BatonError,
  isLegacyRegistration,
  MAX_BATCH_ITEMS,
  MAX_RUN_WAIT_MS,
  PageQuerySchema,
  RegisterResultSchema,
  type RunRefusal,
  StartBatchRequestSchema,
  StartBatchResultSchema,
  StartBatchWaitResultSchema,
  StartRequestSchema,
  type StartResult,
  StartResultSchema,
  StartWaitResultSchema,
  WorkerRegistrationResultSchema,
  WorkflowDefinitionSchema,
  WorkflowListSchema,
  WorkflowViewSchema,
} from "@baton/engine";
import { createRoute, z } from "@hono/zod-openapi";
import { listNamespace, requireAccess } from "../auth.ts";
import { readDefinitionBody } from "../definition-body.ts";
import type { ApiDeps } from "../env.ts";
import { registerLegacyWorker } from "../legacy-worker.ts";
import { workflowViews } from "../readiness.ts";
import { createRouter, errorResponses, jsonContent } from "../router.ts";
import { waitForRunEnd, waitForRunsEnd } from "../run-end.ts";

const NamespaceQuery = z.object({
  namespace: z.string().min(1).max(128).optional().meta({ description: "Namespace (default: default; for listing: all)" }),
});
const NameParams = z.object({
  name: z
    .string()
    .min(1)
    .max(128)
    .meta({ param: { name: "name", in: "path" }, example: "tenantCreation" }),
});

// The definition body is parsed by hand (JSON or YAML, legacy format included), so the route
// documents it with a plain JSON Schema: a zod schema here would make the router validate it first.
const definitionJsonSchema = (() => {
  const { $schema: _ignored, ...schema } = z.toJSONSchema(WorkflowDefinitionSchema, { io: "input" }) as Record<string, unknown>;
  return schema;
})();

const register = createRoute({
  method: "post",
  path: "/",
  tags: ["workflows"],
  summary: "Register a workflow definition (JSON or YAML)",
  description:
    "Stores a new version when the definition changed (201) and is a no-op when it is identical to the latest (200). " +
    "The legacy `orchName/as/type/steps` format is accepted: `as: initiator` registers the definition, `as: worker` " +
    "remembers the sending service (`service` field or X-Service-Name header) as serving the named steps (GET /v1/registrations), " +
    "and the steps' readiness says `registered` from then on.",
  request: {
    body: {
      required: true,
      content: {
        "application/json": { schema: { $ref: "#/components/schemas/WorkflowDefinition" } },
        "application/yaml": { schema: { $ref: "#/components/schemas/WorkflowDefinition" } },
        "text/yaml": { schema: { $ref: "#/components/schemas/WorkflowDefinition" } },
      },
    },
  },
  responses: {
    201: jsonContent(RegisterResultSchema, "A new version was stored"),
    200: jsonContent(
      z.union([RegisterResultSchema, WorkerRegistrationResultSchema]),
      "Identical to the latest version (or a worker registration)",
    ),
    ...errorResponses(400, 413, 415),
  },
});

const list = createRoute({
  method: "get",
  path: "/",
  tags: ["workflows"],
  summary:
    "List workflows (latest version of each) with who serves each step (a polling worker, a registered service, nobody), " +
    "by namespace then name, a page at a time",
  request: { query: NamespaceQuery.extend(PageQuerySchema.shape) },
  responses: { 200: jsonContent(WorkflowListSchema, "One page of latest definitions"), ...errorResponses(400) },
});

const show = createRoute({
  method: "get",
  path: "/{name}",
  tags: ["workflows"],
  summary: "Show a workflow's latest definition with who serves each step (a polling worker, a registered service, nobody)",
  request: { params: NameParams, query: NamespaceQuery },
  responses: { 200: jsonContent(WorkflowViewSchema, "The latest definition"), ...errorResponses(400, 404) },
});

const start = createRoute({
  method: "post",
  path: "/{name}/runs",
  tags: ["workflows"],
  summary: "Start a run (idempotent by runId); with `waitMs`, answer when it has ended",
  description:
    "Without `waitMs` the answer comes at once: 201 for a new instance, 200 when one with this runId already existed. " +
    `With \`waitMs\` (0 to ${MAX_RUN_WAIT_MS}) the answer comes when the run reaches a terminal state (COMPLETED, FAILED, ` +
    "COMPENSATED, COMPENSATION_FAILED, CANCELLED): 200 with its output and error; or, when `waitMs` runs out first, 202 with " +
    "its state then (look it up later with GET /v1/instances/{instanceId}). No database connection is held while waiting. " +
    "A client that disconnects ends its wait; the run goes on. Every field is checked: an unknown one is a 400 naming it.",
  request: { params: NameParams, body: { required: true, content: { "application/json": { schema: StartRequestSchema } } } },
  responses: {
    201: jsonContent(StartResultSchema, "A new instance was started (no `waitMs`)"),
    200: jsonContent(
      z.union([StartWaitResultSchema, StartResultSchema]),
      "With `waitMs`: the run ended (StartWaitResult). Without: an instance with this runId already existed (same input)",
    ),
    202: jsonContent(StartWaitResultSchema, "With `waitMs`: the run had not ended when the wait ran out; `state` is its state then"),
    ...errorResponses(400, 404, 409, 413),
  },
});

const startBatch = createRoute({
  method: "post",
  path: "/{name}/runs/batch",
  tags: ["workflows"],
  summary: "Start many runs of one workflow (each idempotent by its runId); with `waitMs`, answer when they have ended",
  description:
    `Up to ${MAX_BATCH_ITEMS} runs, each validated like the single start's body and answered on its own, in request order: ` +
    "a new run answers `created: true`, a repeated runId with the same input `created: false`, and a refused run " +
    "(e.g. RUN_ID_CONFLICT) gets its `error` in its slot without failing the others. A run without a runId gets a " +
    `generated one, returned in its result. With \`waitMs\` (0 to ${MAX_RUN_WAIT_MS}, one deadline for the whole batch) ` +
    "each started run is answered when it has ended, or at the deadline, with its state, output and error then " +
    "(StartWaitResult: compare `state` with the terminal states); no database connection is held while waiting.",
  request: { params: NameParams, body: { required: true, content: { "application/json": { schema: StartBatchRequestSchema } } } },
  responses: {
    200: jsonContent(
      z.union([StartBatchResultSchema, StartBatchWaitResultSchema]),
      "One result per run, in request order (StartBatchWaitResult with `waitMs`)",
    ),
    ...errorResponses(400, 404, 413),
  },
});

/** Workflow definitions: registration, readiness, and starting runs. */
export function workflowRoutes(deps: ApiDeps) {
  const { engine } = deps;
  const router = createRouter();
  router.openAPIRegistry.registerComponent("schemas", "WorkflowDefinition", definitionJsonSchema);

  router.openapi(register, async (c) => {
    const body = await readDefinitionBody(c);
    const namespace = namespaceNamedBy(body);
    if (isLegacyRegistration(body) && body.as === "worker") {
      requireAccess(c, "workers.announce", namespace);
      return c.json(await registerLegacyWorker(deps, body, c), 200);
    }
    requireAccess(c, "workflows.register", namespace);
    const { definition, ...result } = await engine.workflows.registerWorkflow(body);
    // A new HTTP step is served at once rather than on the runner's next look at the definitions.
    if (result.created && definition.steps.some((s) => s.http)) void deps.httpSteps?.refresh();
    return c.json(result, result.created ? 201 : 200);
  });

  router.openapi(list, async (c) => {
    const { namespace: named, ...page } = c.req.valid("query");
    const namespace = listNamespace(c, "workflows.read", named);
    const rows = await engine.workflows.listDefinitionPage({ ...page, ...(namespace ? { namespace } : {}) });
    return c.json({ items: await workflowViews(deps, rows.items), nextCursor: rows.nextCursor }, 200);
  });

  router.openapi(show, async (c) => {
    const { name } = c.req.valid("param");
    const { namespace } = c.req.valid("query");
    requireAccess(c, "workflows.read", namespace ?? "default");
    const [view] = await workflowViews(deps, [await engine.workflows.getDefinition(name, namespace)]);
    return c.json(view as NonNullable<typeof view>, 200);
  });

  router.openapi(start, async (c) => {
    const { name } = c.req.valid("param");
    const { waitMs, ...body } = c.req.valid("json");
    requireAccess(c, "runs.start", body.namespace ?? "default");
    const result = await engine.workflows.startWorkflow({ workflow: name, ...body });
    if (waitMs === undefined) return c.json(result, result.created ? 201 : 200);
    const answer = await waitForRunEnd(deps, c, result, waitMs);
    return c.json(answer.body, answer.status);
  });

  router.openapi(startBatch, async (c) => {
    const { name } = c.req.valid("param");
    const { namespace, runs, waitMs } = c.req.valid("json");
    requireAccess(c, "runs.start", namespace ?? "default");
    // An unknown workflow is the request's fault, not each run's: one 404 rather than a slot each.
    await engine.workflows.getDefinition(name, namespace);
    // Named here so that a refused run's slot can say which run it was.
    const named = runs.map((run) => ({ ...run, runId: run.runId ?? crypto.randomUUID() }));
    const answers = await engine.workflows.startMany({ workflow: name, namespace, runs: named });
    const results = answers.map((answer, i): StartResult | RunRefusal =>
      answer instanceof BatonError ? { runId: (named[i] as { runId: string }).runId, ...answer.toJSON() } : answer,
    );
    if (waitMs === undefined) return c.json({ results }, 200);
    return c.json({ results: await waitForRunsEnd(deps, c, results, waitMs) }, 200);
  });

  return router;
}

/** The namespace a registration body names (a definition's or a legacy registration's), default "default". */
export function namespaceNamedBy(body: unknown): string {
  const named = typeof body === "object" && body !== null ? (body as { namespace?: unknown }).namespace : undefined;
  return typeof named === "string" ? named : "default";
}
