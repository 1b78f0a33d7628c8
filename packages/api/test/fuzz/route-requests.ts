import { MAX_RUN_WAIT_MS } from "@baton/engine";
import fc from "fast-check";
import {
  type FuzzRequest,
  hostileJson,
  hostileString,
  hostileYaml,
  idSegment,
  type JsonTree,
  jsonBody,
  percentEncode,
  queryString,
  render,
  tree,
} from "./arbitraries.ts";
import type { FuzzWorld } from "./fuzz-world.ts";

/** Printable header values, some long (a header cannot carry NUL, CR or LF at all). */
const headerValue = fc.oneof(
  fc.string({ unit: "binary-ascii", maxLength: 20 }).map((s) => s.replace(/[^\x20-\x7e]/g, "")),
  fc.constantFrom("x".repeat(300), "x".repeat(9000), "ünïcödé".replace(/[^\x20-\xff]/g, ""), "\t", "{}"),
);
const headers = fc.record(
  { "x-request-id": headerValue, "x-service-name": headerValue, accept: fc.constantFrom("*/*", "text/html", "application/xml", "") },
  { requiredKeys: [] },
);

function get(path: fc.Arbitrary<string>, query: fc.Arbitrary<string> = fc.constant("")): fc.Arbitrary<FuzzRequest> {
  return fc.tuple(path, query, headers).map(([p, q, h]) => ({ method: "GET", path: `${p}${q}`, headers: h }));
}

function post(path: fc.Arbitrary<string>, body: fc.Arbitrary<{ body?: string | Uint8Array; type?: string }>): fc.Arbitrary<FuzzRequest> {
  return fc.tuple(path, body, headers).map(([p, b, h]) => ({
    method: "POST",
    path: p,
    headers: b.type === undefined ? h : { ...h, "content-type": b.type },
    ...(b.body === undefined ? {} : { body: b.body }),
  }));
}

const obj = (fields: Record<string, fc.Arbitrary<JsonTree>>) =>
  fc.record(fields).map((r) => ({ entries: Object.entries(r) as [string, JsonTree][] }));
const optionalObj = (fields: Record<string, fc.Arbitrary<JsonTree>>) =>
  fc.record(fields, { requiredKeys: [] }).map((r) => ({ entries: Object.entries(r) as [string, JsonTree][] }));
const value = <T>(arb: fc.Arbitrary<T>) => arb.map(tree);
const pick = <T>(values: readonly T[]) => value(fc.constantFrom(...values));
const anyJson = value(fc.jsonValue({ maxDepth: 2 }));
const jsonObject = value(fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }));
const completeFields = { output: anyJson };
const failFields = { error: anyJson, retryable: value(fc.boolean()) };

/** Cursors of the other paged lists: well-formed for some list, or not at all. */
const pageCursor = fc.oneof(
  fc.constantFrom("", "%%%", "AAAA", "x".repeat(1001)),
  fc
    .constantFrom<unknown>([1], [0], [-1], [1.5], [2 ** 53], ["default", "x"], ["", ""], ["a".repeat(129), "b"], [null], [[]], {})
    .map((v) => Buffer.from(JSON.stringify(v)).toString("base64url")),
);
const pageLimit = fc.constantFrom("1", "100", "500", "501", "0", "-1", "1e400", "x");

/** A Spring execute's body: JSON, bytes, text or nothing, in any content type. */
const legacyPayloadBody = fc.oneof(
  jsonBody(jsonObject),
  fc.uint8Array({ maxLength: 64 }).map((body) => ({ body, type: "application/octet-stream" })),
  hostileJson.map((t) => ({ body: render(t), type: "text/plain" })),
  fc.constant({}),
);

/** A FastAPI orchestrate request: task name and description, payload items of service parts. */
const fastapiRequest = optionalObj({
  task_name: value(fc.string({ minLength: 1, maxLength: 8 })),
  task_description: value(fc.option(fc.string({ maxLength: 8 }))),
  payload: value(
    fc.array(fc.dictionary(fc.constantFrom("revenue", "rebates"), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 }), {
      minLength: 1,
      maxLength: 2,
    }),
  ),
});

/**
 * Keeps a valid long-poll or synchronous start from making the fuzz wait: a few milliseconds at
 * most (a wait over every bound is refused at once, so it stays).
 */
function shortWait(r: FuzzRequest): boolean {
  try {
    const waitMs = JSON.parse(String(r.body)).waitMs;
    return !(typeof waitMs === "number" && waitMs > 20 && waitMs <= MAX_RUN_WAIT_MS);
  } catch {
    return true;
  }
}

const itemsOf = (item: fc.Arbitrary<JsonTree>) =>
  obj({ items: fc.array(item, { minLength: 1, maxLength: 3 }).map((items) => ({ items })) });

/** A body the route ignores or takes as optional: none, empty, or hostile. */
const optionalBody = (valid: fc.Arbitrary<JsonTree>) =>
  fc.oneof(fc.constant({}), fc.constant({ body: "", type: "application/json" }), fc.constant({ body: "" }), jsonBody(valid));

/** The pieces of valid requests about one world (its ids, tokens, names). */
function worldParts(world: FuzzWorld) {
  const workerId = pick(world.workerIds);
  const fenceToken = pick(world.fenceTokens);
  const executionId = pick(world.executionIds);
  const lease = { workerId, fenceToken };
  const leaseItem = obj({ executionId, ...lease });
  const reportItem = (extra: Record<string, fc.Arbitrary<JsonTree>>) =>
    fc
      .tuple(obj({ executionId, ...lease, ...extra }), optionalObj({ idempotencyKey: value(fc.string({ minLength: 1, maxLength: 8 })) }))
      .map(([a, b]) => ({ entries: [...a.entries, ...b.entries] }));

  const execution = idSegment(world.executionIds);
  const instance = idSegment(world.instanceIds);
  const workflowName = fc.oneof(fc.constant(world.workflow), idSegment([world.workflow, "fuzz-missing"]));
  const namespace = fc.constantFrom(world.namespace, "other", "default");

  const definition = fc.oneof(
    obj({
      name: value(fc.stringMatching(/^fz-[a-z0-9]{1,6}$/)),
      type: pick(["sequential", "parallel", "dag", "simultaneous"]),
      steps: value(
        fc.array(
          fc.record(
            {
              name: fc.constantFrom("a", "b", "c"),
              queue: fc.constantFrom(world.queue, "fz.q"),
              leaseMs: fc.integer({ min: 100, max: 60_000 }),
              undo: fc.oneof(fc.boolean(), fc.record({ leaseMs: fc.integer({ min: 100, max: 60_000 }) })),
              retry: fc.record({ maxAttempts: fc.integer({ min: 1, max: 5 }), backoffMs: fc.nat(1000) }, { requiredKeys: [] }),
            },
            { requiredKeys: ["name"] },
          ),
          { minLength: 1, maxLength: 3 },
        ),
      ),
    }),
    obj({
      orchName: value(fc.stringMatching(/^fz-legacy-[a-z]{1,4}$/)),
      as: pick(["initiator", "worker"]),
      service: pick(["svc"]),
      steps: value(fc.constant([{ seq: 1, name: "a" }])),
    }),
  );
  const registerBody = fc.oneof(
    { weight: 8, arbitrary: jsonBody(definition) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(definition, fc.constantFrom("application/yaml", "text/yaml", undefined))
        .map(([d, type]) => ({ body: render(d), type })),
    },
    {
      weight: 3,
      arbitrary: fc
        .tuple(hostileYaml, fc.constantFrom("application/yaml", "text/yaml", "application/x-yaml", undefined))
        .map(([body, type]) => ({ body, type })),
    },
  );

  const startFields = {
    runId: fc.oneof(pick(world.runIds), value(fc.string({ minLength: 1, maxLength: 8 }))),
    input: jsonObject,
  };
  const runStart = optionalObj({
    ...startFields,
    namespace: value(namespace),
    waitMs: value(fc.oneof(fc.integer({ min: 0, max: 20 }), fc.constantFrom<unknown>(-1, MAX_RUN_WAIT_MS + 1, 1.5, "10", null))),
  });
  const runBatch = obj({ runs: fc.array(optionalObj(startFields), { minLength: 1, maxLength: 3 }).map((items) => ({ items })) });

  const cursor = fc.oneof(
    fc.constant(world.cursor),
    fc
      .constantFrom<unknown>(
        ["x", "y"],
        [1],
        {},
        ["2025-01-01T00:00:00Z", "not-a-uuid"],
        ["294276-01-01T00:00:00Z", crypto.randomUUID()],
        ["2025-01-01T00:00:00Z", 42],
        ["2025-01-01T00:00:00.123456789Z", crypto.randomUUID()],
      )
      .map((v) => Buffer.from(JSON.stringify(v)).toString("base64url")),
  );
  const instanceQuery = queryString({
    workflow: fc.constant(world.workflow),
    state: fc.constantFrom("RUNNING", "PAUSED", "COMPLETED", "FAILED", "CANCELLED", "running"),
    namespace,
    cursor,
    limit: fc.constantFrom("1", "50", "500", "501", "0", "-1", "1.5", "1e3", "1e400", "0x10", " 5"),
  });
  const anyQuery = queryString({ namespace, verbose: fc.constant("1") });

  return {
    world,
    workerId,
    fenceToken,
    executionId,
    lease,
    leaseItem,
    reportItem,
    execution,
    instance,
    workflowName,
    namespace,
    definition,
    registerBody,
    startFields,
    runStart,
    runBatch,
    cursor,
    instanceQuery,
    anyQuery,
  };
}

const partsOf = new WeakMap<FuzzWorld, ReturnType<typeof worldParts>>();
function parts(world: FuzzWorld) {
  let p = partsOf.get(world);
  if (!p) {
    p = worldParts(world);
    partsOf.set(world, p);
  }
  return p;
}

/** Filters and pages of the registration lists: real names, names over the limits, cursors of any list. */
function registrationQuery(w: FuzzWorld): fc.Arbitrary<string> {
  const realCursor = Buffer.from(JSON.stringify(["default", w.workflow, "svc"])).toString("base64url");
  return queryString({
    namespace: parts(w).namespace,
    workflow: fc.constantFrom(w.workflow, "", "x".repeat(129)),
    service: fc.constantFrom("svc", "", "x".repeat(201)),
    cursor: fc.oneof(pageCursor, fc.constant(realCursor)),
    limit: pageLimit,
  });
}

/** Per route, the requests the fuzz sends it. */
/**
 * What the fuzz sends to each route, keyed as the OpenAPI document names it ("METHOD /path"), plus
 * the two routes it leaves out (/openapi.json, /docs) and requests no route matches.
 */
export const ROUTE_REQUESTS: Record<string, (world: FuzzWorld) => fc.Arbitrary<FuzzRequest>> = {
  "GET /healthz": (w) => get(fc.constant("/healthz"), parts(w).anyQuery),
  "GET /readyz": (w) => get(fc.constant("/readyz"), parts(w).anyQuery),
  "GET /metrics": (w) => get(fc.constant("/metrics"), parts(w).anyQuery),
  "GET /openapi.json": (w) => get(fc.constant("/openapi.json"), parts(w).anyQuery),
  "GET /docs": (w) => get(fc.constant("/docs"), parts(w).anyQuery),
  "POST /v1/workflows": (w) => post(fc.constant("/v1/workflows"), parts(w).registerBody),
  "GET /v1/workflows": (w) =>
    get(fc.constant("/v1/workflows"), queryString({ namespace: parts(w).namespace, cursor: pageCursor, limit: pageLimit })),
  "GET /v1/workflows/{name}": (w) =>
    get(
      parts(w).workflowName.map((n) => `/v1/workflows/${n}`),
      queryString({ namespace: parts(w).namespace }),
    ),
  "POST /v1/workflows/{name}/runs": (w) =>
    post(
      parts(w).workflowName.map((n) => `/v1/workflows/${n}/runs`),
      jsonBody(parts(w).runStart),
    ).filter(shortWait),
  "POST /v1/workflows/{name}/runs/batch": (w) =>
    post(
      parts(w).workflowName.map((n) => `/v1/workflows/${n}/runs/batch`),
      jsonBody(parts(w).runBatch),
    ),
  "GET /v1/instances": (w) => get(fc.constant("/v1/instances"), parts(w).instanceQuery),
  "GET /v1/instances/{id}": (w) => get(parts(w).instance.map((id) => `/v1/instances/${id}`)),
  "GET /v1/instances/{id}/tasks": (w) =>
    get(
      parts(w).instance.map((id) => `/v1/instances/${id}/tasks`),
      queryString({ cursor: fc.oneof(pageCursor, parts(w).cursor), limit: pageLimit }),
    ),
  "GET /v1/instances/{id}/events": (w) =>
    get(
      parts(w).instance.map((id) => `/v1/instances/${id}/events`),
      queryString({ cursor: pageCursor, limit: pageLimit }),
    ),
  "POST /v1/instances/{id}/pause": (w) => lifecycle(w, "pause"),
  "POST /v1/instances/{id}/resume": (w) => lifecycle(w, "resume"),
  "POST /v1/instances/{id}/cancel": (w) => lifecycle(w, "cancel"),
  "POST /v1/instances/{id}/compensate": (w) =>
    post(
      parts(w).instance.map((id) => `/v1/instances/${id}/compensate`),
      optionalBody(optionalObj({ fromTaskId: pick([...w.steps, "zz"]) })),
    ),
  "POST /v1/instances/{id}/tasks/{taskId}/retry": (w) =>
    post(
      fc
        .tuple(parts(w).instance, fc.oneof(fc.constantFrom(...w.steps), idSegment(w.steps)))
        .map(([id, t]) => `/v1/instances/${id}/tasks/${t}/retry`),
      optionalBody(optionalObj({ input: anyJson })),
    ),
  "POST /v1/tasks/acquire": (w) =>
    post(
      fc.constant("/v1/tasks/acquire"),
      jsonBody(
        obj({
          workerId: parts(w).workerId,
          queues: value(fc.constantFrom([w.queue], ["fz.q"], [w.queue, w.queue])),
          max: value(fc.integer({ min: 1, max: 3 })),
          waitMs: value(fc.constant(0)),
        }),
      ),
    ).filter(shortWait),
  "POST /v1/tasks/heartbeat": (w) => post(fc.constant("/v1/tasks/heartbeat"), jsonBody(itemsOf(parts(w).leaseItem))),
  "POST /v1/tasks/complete": (w) => post(fc.constant("/v1/tasks/complete"), jsonBody(itemsOf(parts(w).reportItem(completeFields)))),
  "POST /v1/tasks/fail": (w) => post(fc.constant("/v1/tasks/fail"), jsonBody(itemsOf(parts(w).reportItem(failFields)))),
  "POST /v1/tasks/release": (w) => post(fc.constant("/v1/tasks/release"), jsonBody(itemsOf(parts(w).leaseItem))),
  "POST /v1/tasks/{executionId}/heartbeat": (w) => fenced(w, "heartbeat", {}),
  "POST /v1/tasks/{executionId}/complete": (w) => fenced(w, "complete", completeFields),
  "POST /v1/tasks/{executionId}/fail": (w) => fenced(w, "fail", failFields),
  "GET /v1/workers": () =>
    get(
      fc.constant("/v1/workers"),
      queryString({
        limit: fc.constantFrom("1", "100", "0", "-1", "1e400", "x"),
        cursor: fc.constantFrom("dzE", "", "%%%", "AAAA", Buffer.from("\u0000").toString("base64url")),
      }),
    ),
  "GET /v1/registrations": (w) => get(fc.constant("/v1/registrations"), registrationQuery(w)),
  "GET /v1/registrations/changes": (w) => get(fc.constant("/v1/registrations/changes"), registrationQuery(w)),
  "GET /v1/queues": () => get(fc.constant("/v1/queues"), queryString({ namespace: fc.constantFrom("default", "", "%%%") })),
  "GET /v1/reaper/poisoned": (w) =>
    get(fc.constant("/v1/reaper/poisoned"), queryString({ namespace: parts(w).namespace, cursor: pageCursor, limit: pageLimit })),
  "POST /v1/keys": () =>
    post(
      fc.constant("/v1/keys"),
      jsonBody(
        optionalObj({
          name: value(fc.string({ minLength: 1, maxLength: 8 })),
          role: pick(["admin", "operator", "starter", "worker", "root"]),
          namespaces: value(fc.constantFrom(["default"], ["*"], ["a", "b"])),
          queues: value(fc.constantFrom(["*"], ["q.*"], ["fz.q"])),
        }),
      ),
    ),
  "GET /v1/keys": (w) => get(fc.constant("/v1/keys"), parts(w).anyQuery),
  "DELETE /v1/keys/{keyId}": () =>
    fc.tuple(idSegment(["0123456789abcdef"]), headers).map(([id, h]) => ({ method: "DELETE", path: `/v1/keys/${id}`, headers: h })),
  // The compatibility routes (routes/compat): the old services' requests, valid and hostile.
  "POST /api/orchestration/register": (w) => post(fc.constant("/api/orchestration/register"), parts(w).registerBody),
  "POST /api/orchestration/execute/{orchName}": (w) =>
    post(
      parts(w).workflowName.map((n) => `/api/orchestration/execute/${n}`),
      legacyPayloadBody,
    ),
  "POST /api/orchestration/undo/{flowId}": (w) =>
    post(
      parts(w).instance.map((id) => `/api/orchestration/undo/${id}`),
      optionalBody(hostileJson),
    ),
  "GET /api/orchestration/health": (w) => get(fc.constant("/api/orchestration/health"), parts(w).anyQuery),
  "POST /api/orchestrations/execute": (w) =>
    post(
      fc.constant("/api/orchestrations/execute"),
      jsonBody(
        optionalObj({
          orchestrationName: value(parts(w).workflowName),
          payload: fc.oneof(jsonObject, value(fc.base64String({ maxLength: 40 }))),
        }),
      ),
    ),
  "POST /api/orchestrate": () => post(fc.constant("/api/orchestrate"), jsonBody(fastapiRequest)),
  "POST /api/orchestrate/direct": () => post(fc.constant("/api/orchestrate/direct"), jsonBody(fastapiRequest)),
  "GET /api/tasks": (w) =>
    get(
      fc.constant("/api/tasks"),
      queryString({ cursor: parts(w).cursor, limit: fc.constantFrom("1", "100", "101", "0", "-1", "1e400", "x") }),
    ),
  "GET /api/tasks/{task_id}": (w) => get(parts(w).instance.map((id) => `/api/tasks/${id}`)),
  "GET /health": (w) => get(fc.constant("/health"), parts(w).anyQuery),
  "no route": () =>
    fc
      .tuple(
        fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"),
        fc.array(
          fc.oneof(fc.constantFrom("v1", "tasks", "instances", "workflows", "runs"), hostileString.filter(Boolean).map(percentEncode)),
          { minLength: 1, maxLength: 5 },
        ),
        hostileJson,
        headers,
      )
      .map(([method, segments, body, h]) => ({
        method,
        path: `/${segments.join("/")}`,
        headers: h,
        ...(method === "GET" || method === "HEAD" ? {} : { body: render(body) }),
      })),
};

function lifecycle(w: FuzzWorld, action: string) {
  return post(
    parts(w).instance.map((id) => `/v1/instances/${id}/${action}`),
    optionalBody(hostileJson),
  );
}

function fenced(w: FuzzWorld, action: string, extra: Record<string, fc.Arbitrary<JsonTree>>) {
  const { execution, lease } = parts(w);
  return post(
    execution.map((id) => `/v1/tasks/${id}/${action}`),
    jsonBody(obj({ ...lease, ...extra })),
  );
}
