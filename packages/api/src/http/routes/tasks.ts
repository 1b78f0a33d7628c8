import {
  AcquireRequestSchema,
  AcquireResponseSchema,
  CompleteRequestSchema,
  FailRequestSchema,
  HeartbeatRequestSchema,
  HeartbeatResultSchema,
  TaskOutcomeSchema,
} from "@baton/engine";
import { createRoute, z } from "@hono/zod-openapi";
import type { ApiDeps } from "../env.ts";
import { createRouter, errorResponses, jsonContent } from "../router.ts";

const ExecutionParams = z.object({
  executionId: z.uuid().meta({ param: { name: "executionId", in: "path" }, description: "The attempt, as handed out by acquire" }),
});

const acquire = createRoute({
  method: "post",
  path: "/acquire",
  tags: ["tasks"],
  summary: "Lease up to `max` tasks, waiting up to `waitMs` for one to become available (long-poll)",
  description:
    "Answers as soon as a task is available (a NOTIFY wakes waiting polls), or with an empty list when `waitMs` " +
    "runs out. A client that disconnects while waiting is handed nothing. If the disconnect lands while the lease " +
    "query is already running, the tasks it leased are released at once and scheduled again without spending an attempt.",
  request: { body: { required: true, content: { "application/json": { schema: AcquireRequestSchema } } } },
  responses: { 200: jsonContent(AcquireResponseSchema, "The tasks leased to this worker (possibly none)"), ...errorResponses(400, 413) },
});

const fenced = <S extends z.ZodType, R extends z.ZodType>(action: string, summary: string, request: S, response: R) =>
  createRoute({
    method: "post",
    path: `/{executionId}/${action}`,
    tags: ["tasks"],
    summary,
    request: { params: ExecutionParams, body: { required: true, content: { "application/json": { schema: request } } } },
    responses: {
      200: jsonContent(response, "Accepted"),
      ...errorResponses(400, 404, 409, 413),
    },
  });

const heartbeat = fenced(
  "heartbeat",
  "Extend the lease (only with the lease's fence token)",
  HeartbeatRequestSchema,
  HeartbeatResultSchema,
);
const complete = fenced(
  "complete",
  "Complete the task with its output; a repeat with the same fence and output is a no-op success",
  CompleteRequestSchema,
  TaskOutcomeSchema,
);
const fail = fenced(
  "fail",
  "Fail the attempt; it is retried after its backoff unless `retryable` is false",
  FailRequestSchema,
  TaskOutcomeSchema,
);

/** The worker protocol: long-poll acquire and fenced heartbeat / complete / fail. */
export function taskRoutes({ engine, metrics, shutdown }: ApiDeps) {
  const router = createRouter();

  router.openapi(acquire, async (c) => {
    const { workerId, queues, max, waitMs } = c.req.valid("json");
    const started = performance.now();
    // Ends the wait when the client disconnects or the server shuts down.
    const signal = AbortSignal.any([c.req.raw.signal, shutdown]);
    const tasks = await engine.dispatcher.acquire({ workerId, queues, max, waitMs, signal });
    const outcome = c.req.raw.signal.aborted ? "aborted" : tasks.length > 0 ? "tasks" : "empty";
    metrics.acquireWait.observe({ outcome }, (performance.now() - started) / 1000);
    metrics.countAcquired(tasks);
    if (c.req.raw.signal.aborted && tasks.length > 0) {
      // The client left while the lease query ran: nobody will run these. Hand them back at once;
      // each step is scheduled again without spending an attempt.
      metrics.acquireAbandoned.inc(tasks.length);
      const released = await engine.tasks.release(tasks.map((t) => ({ executionId: t.executionId, workerId, fenceToken: t.fenceToken })));
      c.var.logger.warn(
        { workerId, executionIds: tasks.map((t) => t.executionId), released },
        "client disconnected while its tasks were being leased; released them",
      );
    }
    return c.json({ tasks }, 200);
  });

  router.openapi(heartbeat, async (c) => {
    const { executionId } = c.req.valid("param");
    return c.json(await engine.tasks.heartbeat({ executionId, ...c.req.valid("json") }), 200);
  });

  router.openapi(complete, async (c) => {
    const { executionId } = c.req.valid("param");
    const outcome = await engine.tasks.complete({ executionId, ...c.req.valid("json") });
    return c.json(outcome, 200);
  });

  router.openapi(fail, async (c) => {
    const { executionId } = c.req.valid("param");
    const outcome = await engine.tasks.fail({ executionId, ...c.req.valid("json") });
    return c.json(outcome, 200);
  });

  return router;
}
