import {
  AcquireRequestSchema,
  AcquireResponseSchema,
  allNamespaces,
  BatonError,
  CompleteBatchRequestSchema,
  CompleteRequestSchema,
  type Engine,
  FailBatchRequestSchema,
  FailRequestSchema,
  HeartbeatBatchRequestSchema,
  HeartbeatBatchResultSchema,
  HeartbeatRequestSchema,
  HeartbeatResultSchema,
  inNamespace,
  LEASE_ERROR_CODES,
  leaseHolderOf,
  MAX_BATCH_ITEMS,
  queueAllowed,
  ReleaseBatchRequestSchema,
  ReleaseResultSchema,
  TaskOutcomeBatchSchema,
  TaskOutcomeSchema,
  type TaskRefusal,
} from "@baton/engine";
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { redactFor, requireAccess } from "../auth.ts";
import type { ApiDeps, AppEnv } from "../env.ts";
import { requestWait } from "../request-wait.ts";
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

// The batch routes are one path segment (`/complete`), the single ones two (`/{executionId}/complete`),
// so neither can match the other's requests.
const batched = <S extends z.ZodType, R extends z.ZodType>(action: string, summary: string, request: S, response: R) =>
  createRoute({
    method: "post",
    path: `/${action}`,
    tags: ["tasks"],
    summary,
    description:
      `Up to ${MAX_BATCH_ITEMS} items, each validated like the single-item route's body and answered on its own, in request order: ` +
      "a refused item (e.g. STALE_FENCE) gets its `error` in its slot and never fails the request or its neighbours.",
    request: { body: { required: true, content: { "application/json": { schema: request } } } },
    responses: { 200: jsonContent(response, "One result per item, in request order"), ...errorResponses(400, 413) },
  });

const heartbeatBatch = batched(
  "heartbeat",
  "Extend many leases, each only with its lease's fence token",
  HeartbeatBatchRequestSchema,
  HeartbeatBatchResultSchema,
);
const completeBatch = batched(
  "complete",
  "Complete many tasks, each with its output; a repeat of an accepted item answers `duplicate`",
  CompleteBatchRequestSchema,
  TaskOutcomeBatchSchema,
);
const failBatch = batched(
  "fail",
  "Fail many attempts; each is retried after its backoff unless its `retryable` is false",
  FailBatchRequestSchema,
  TaskOutcomeBatchSchema,
);

const release = createRoute({
  method: "post",
  path: "/release",
  tags: ["tasks"],
  summary: "Hand leases back unstarted: each step is scheduled again at once, without spending an attempt",
  description:
    `Up to ${MAX_BATCH_ITEMS} leases, each fenced like a heartbeat (this worker, this fence token). For work a worker ` +
    "leased but will not start (a prefetched task it is stopping with, or one whose lease ran low while it waited). " +
    "The lease need not be unexpired; a lease no longer held as named (finished, reaped, handed to someone else) is " +
    "left as it is and not counted.",
  request: { body: { required: true, content: { "application/json": { schema: ReleaseBatchRequestSchema } } } },
  responses: { 200: jsonContent(ReleaseResultSchema, "How many leases were handed back"), ...errorResponses(400, 413) },
});

/** A batch answer's results: each item's success as it is, each refusal in the single route's error shape. */
function batchResults<T extends object>(c: Context<AppEnv>, items: { executionId: string }[], answers: (T | BatonError)[]) {
  return answers.map((answer, i): (T & { executionId: string }) | TaskRefusal => {
    const { executionId } = items[i] as { executionId: string };
    return answer instanceof BatonError ? { executionId, ...redactFor(c.var.caller, answer).toJSON() } : { executionId, ...answer };
  });
}

/**
 * Reports name the lease by the worker id the worker knows; the lease itself records the key too
 * (see leaseHolderOf), so a report sent with any other key names a holder that is not the lease's.
 */
function asHolder<T extends { workerId: string }>(c: Context<AppEnv>, items: T[]): T[] {
  const caller = requireAccess(c, "tasks.work");
  return caller.keyId === null ? items : items.map((item) => ({ ...item, workerId: leaseHolderOf(caller, item.workerId) }));
}

type LeaseItem = { executionId: string; workerId: string; fenceToken: number };

/** Refusals that say the execution exists (NOT_FOUND says it does not). */
const EXISTENCE_CODES: ReadonlySet<string> = new Set(LEASE_ERROR_CODES.filter((code) => code !== "NOT_FOUND"));

/**
 * A report's answers as a caller scoped to namespaces may see them: a refusal of an execution of
 * another namespace is answered exactly as the engine answers one that does not exist (404
 * NOT_FOUND, same message and details), so execution ids cannot be probed across tenants. Only
 * refusals are looked at: a report the engine accepted was on the caller's own lease.
 */
async function unknownOutsideNamespaces<T>(
  c: Context<AppEnv>,
  engine: Engine,
  items: LeaseItem[],
  answers: (T | BatonError)[],
): Promise<(T | BatonError)[]> {
  const caller = c.var.caller;
  const tellsExistence = (answer: T | BatonError | undefined) => answer instanceof BatonError && EXISTENCE_CODES.has(answer.code);
  if (allNamespaces(caller) || !answers.some(tellsExistence)) return answers;
  const owners = await engine.access.executionNamespaces(
    items.filter((_, i) => tellsExistence(answers[i])).map((item) => item.executionId),
  );
  return answers.map((answer, i) => {
    const { executionId, fenceToken, workerId } = items[i] as LeaseItem;
    const owner = owners.get(executionId);
    if (!tellsExistence(answer) || owner === undefined || inNamespace(caller, owner)) return answer;
    // The engine's words for an execution it does not have (TaskCoordinator's refusal).
    return new BatonError("NOT_FOUND", `Execution ${executionId} not found`, { executionId, fenceToken, workerId });
  });
}

/** One report: the engine's answer, or its refusal as `unknownOutsideNamespaces` shows it. */
async function reported<T>(c: Context<AppEnv>, engine: Engine, item: LeaseItem, report: () => Promise<T>): Promise<T> {
  let answer: T | BatonError;
  try {
    answer = await report();
  } catch (error) {
    if (!(error instanceof BatonError)) throw error;
    answer = error;
  }
  const [shown] = await unknownOutsideNamespaces(c, engine, [item], [answer]);
  if (shown instanceof BatonError) throw shown;
  return shown as T;
}

/**
 * The holder an acquire leases to, after checking the caller may work every queue it names: by
 * its key's queue patterns, and (for keys scoped to namespaces) only queues a definition of one of
 * its namespaces claimed.
 */
async function workerOf(c: Context<AppEnv>, engine: Engine, workerId: string, queues: string[]): Promise<string> {
  const caller = requireAccess(c, "tasks.work");
  const refused = queues.filter((q) => !queueAllowed(caller, q));
  if (refused.length > 0) {
    throw new BatonError("FORBIDDEN", `This key may not work queue ${refused.map((q) => `'${q}'`).join(", ")}`, { queues: refused });
  }
  if (!allNamespaces(caller)) {
    const owners = await engine.access.queueNamespaces(queues);
    const foreign = queues.filter((q) => {
      const owner = owners.get(q);
      return owner === undefined || !inNamespace(caller, owner);
    });
    if (foreign.length > 0) {
      throw new BatonError("FORBIDDEN", `Queue ${foreign.map((q) => `'${q}'`).join(", ")} is not registered in this key's namespaces`, {
        queues: foreign,
      });
    }
  }
  return leaseHolderOf(caller, workerId);
}

/**
 * The worker protocol: long-poll acquire, fenced heartbeat / complete / fail one at a time or in
 * batches, and release of leases a worker will not start.
 */
export function taskRoutes({ engine, metrics, shutdown }: ApiDeps) {
  const router = createRouter();

  router.openapi(acquire, async (c) => {
    const body = c.req.valid("json");
    const { queues, max, waitMs } = body;
    const workerId = await workerOf(c, engine, body.workerId, queues);
    const started = performance.now();
    // Ends the wait when the client disconnects or the server shuts down.
    const wait = requestWait(c, shutdown);
    const tasks = await engine.dispatcher.acquire({ workerId, queues, max, waitMs, signal: wait.signal }).finally(wait.dispose);
    const outcome = wait.clientGone ? "aborted" : tasks.length > 0 ? "tasks" : "empty";
    metrics.acquireWait.observe({ outcome }, (performance.now() - started) / 1000);
    metrics.countAcquired(tasks);
    if (wait.clientGone && tasks.length > 0) {
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

  router.openapi(heartbeatBatch, async (c) => {
    const items = asHolder(c, c.req.valid("json").items);
    const answers = await unknownOutsideNamespaces(c, engine, items, await engine.tasks.heartbeatMany(items));
    return c.json({ results: batchResults(c, items, answers) }, 200);
  });

  router.openapi(completeBatch, async (c) => {
    const items = asHolder(c, c.req.valid("json").items);
    const answers = await unknownOutsideNamespaces(c, engine, items, await engine.tasks.completeMany(items));
    return c.json({ results: batchResults(c, items, answers) }, 200);
  });

  router.openapi(failBatch, async (c) => {
    const items = asHolder(c, c.req.valid("json").items);
    const answers = await unknownOutsideNamespaces(c, engine, items, await engine.tasks.failMany(items));
    return c.json({ results: batchResults(c, items, answers) }, 200);
  });

  router.openapi(release, async (c) => {
    const items = asHolder(c, c.req.valid("json").items);
    return c.json({ released: await engine.tasks.release(items) }, 200);
  });

  router.openapi(heartbeat, async (c) => {
    const [item] = asHolder(c, [{ executionId: c.req.valid("param").executionId, ...c.req.valid("json") }]);
    const lease = item as typeof item & object;
    return c.json(await reported(c, engine, lease, () => engine.tasks.heartbeat(lease)), 200);
  });

  router.openapi(complete, async (c) => {
    const [item] = asHolder(c, [{ executionId: c.req.valid("param").executionId, ...c.req.valid("json") }]);
    const lease = item as typeof item & object;
    return c.json(await reported(c, engine, lease, () => engine.tasks.complete(lease)), 200);
  });

  router.openapi(fail, async (c) => {
    const [item] = asHolder(c, [{ executionId: c.req.valid("param").executionId, ...c.req.valid("json") }]);
    const lease = item as typeof item & object;
    return c.json(await reported(c, engine, lease, () => engine.tasks.fail(lease)), 200);
  });

  return router;
}
