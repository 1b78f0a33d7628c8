import type { FieldHints } from "./strict-fields.ts";

/*
 * What callers send by mistake, and what to send instead: the field names of the orchestrators
 * Baton replaces (reference/: the Spring orchestrator, the DO/UNDO examples, the FastAPI
 * orchestrator) and near-misses of Baton's own names. Used by the strict objects of wire.ts and
 * the definition schema, so the refusal of an unknown field says what to do.
 */

/** The same hint for several names. */
const all = (names: string[], hint: string): FieldHints => Object.fromEntries(names.map((n) => [n, hint]));

const COMPAT = "or POST /api/orchestration/execute/{name} / the compatibility routes, which take the old shapes";
const USE_WORKER_ID = all(["worker", "worker_id", "workerID", "workerid", "holder", "leaseHolder", "serviceName"], "use `workerId`");
const USE_FENCE_TOKEN = all(["fence", "fence_token", "fencingToken", "token", "fenceId"], "use `fenceToken` (as acquire handed it out)");

/** A run start (`POST /v1/workflows/{name}/runs`, each run of the batch start). */
export const START_HINTS: FieldHints = {
  payload: `use \`input\` for the payload (${COMPAT})`,
  orchestrationName:
    "the workflow is named in the path (POST /v1/workflows/{name}/runs), the payload goes in `input`; " +
    "or send this `{orchestrationName, payload}` body unchanged to POST /api/orchestrations/execute (a compatibility route)",
  ...all(
    ["orchName", "workflow", "workflowName", "name"],
    `the workflow is named in the path (POST /v1/workflows/{name}/runs); use \`input\` for the payload (${COMPAT})`,
  ),
  ...all(
    ["data", "params", "parameters", "body", "variables", "args", "arguments", "inputs", "inputData", "context"],
    "use `input` for the run's data",
  ),
  ...all(
    ["run_id", "runID", "runid", "requestId", "idempotencyKey", "correlationId", "businessKey"],
    "use `runId` (it makes the start idempotent)",
  ),
  ...all(
    ["flowId", "instanceId", "id"],
    "Baton assigns the instance id (`instanceId` in the answer); send `runId` to make the start idempotent",
  ),
  ...all(
    ["task_name", "task_description"],
    "this is the FastAPI orchestrator's request: send it to POST /api/orchestrate (a compatibility route), or put the data under `input`",
  ),
  ...all(["timeout", "timeoutMs", "wait", "waitTime", "sync", "synchronous"], "use `waitMs` to wait for the run to end"),
  ...all(["version", "workflowVersion"], "a run starts on the latest version of its workflow; a version cannot be chosen"),
};

/** Each run of the batch start. */
export const BATCH_RUN_HINTS: FieldHints = {
  ...START_HINTS,
  namespace: "the namespace is the batch's: send `namespace` beside `runs`",
  waitMs: "the batch waits as a whole: send `waitMs` beside `runs`",
  ...all(["timeout", "timeoutMs", "wait", "waitTime", "sync", "synchronous"], "use `waitMs` beside `runs` to wait for the runs to end"),
};

/** The batch start's outer object. */
export const START_BATCH_HINTS: FieldHints = {
  ...all(["items", "requests", "starts", "instances"], "use `runs` (a list of `{runId?, input?}`)"),
  ...all(
    ["orchestrationName", "orchName", "workflow", "workflowName", "name"],
    "the workflow is named in the path (POST /v1/workflows/{name}/runs/batch)",
  ),
  ...all(["input", "payload"], "each run carries its own `input`, inside `runs`"),
  ...all(["timeout", "timeoutMs", "wait", "waitTime", "sync", "synchronous"], "use `waitMs` to wait for the runs to end"),
};

const LEASE_HINTS: FieldHints = {
  ...USE_WORKER_ID,
  ...USE_FENCE_TOKEN,
  executionId: "the execution is named in the path (the batch routes' items carry `executionId`)",
};
const ONLY_BATCH_KEYS = "the single-item routes take none; the items of the batch routes (POST /v1/tasks/complete, /v1/tasks/fail) do";
const KAFKA_REPLY =
  "this is the Kafka reply's shape; over HTTP send `workerId`, `fenceToken` and `output` (or, to fail, `error`) at the top level";

/** A heartbeat (and each item of the batch heartbeat and of release). */
export const HEARTBEAT_HINTS: FieldHints = {
  ...LEASE_HINTS,
  ...all(
    ["leaseMs", "extendMs", "ttl", "durationMs"],
    "a heartbeat extends the lease by the step's `leaseMs`; it cannot be chosen per call",
  ),
};

/** A completion (and each item of the batch complete). */
export const COMPLETE_HINTS: FieldHints = {
  ...LEASE_HINTS,
  ...all(["payload", "result", "data", "response", "value", "outputs"], "use `output` for the step's result"),
  ...all(
    ["status", "success", "error", "errorMessage"],
    "complete reports a success; report a failure with POST /v1/tasks/{executionId}/fail",
  ),
  headers: KAFKA_REPLY,
  idempotencyKey: ONLY_BATCH_KEYS,
};

/** A failure (and each item of the batch fail). */
export const FAIL_HINTS: FieldHints = {
  ...LEASE_HINTS,
  ...all(
    ["errorMessage", "message", "reason", "cause", "failure", "exception", "errors"],
    'use `error` (any JSON value, e.g. {"message": ...})',
  ),
  ...all(["retry", "retriable", "nonRetryable", "noRetry", "final"], "use `retryable: false` to make this the last attempt"),
  ...all(["payload", "output", "result", "data"], "a failed attempt has no output; put what matters in `error`"),
  ...all(["status", "success"], "fail reports a failure; report a success with POST /v1/tasks/{executionId}/complete"),
  headers: KAFKA_REPLY,
  idempotencyKey: ONLY_BATCH_KEYS,
};

/** The items of the batch routes: the single route's hints, and the one field the single routes lack. */
export const ITEM_HINTS: FieldHints = { ...all(["execution_id", "executionID", "id", "taskId"], "use `executionId`") };

/** The batch routes' outer object. */
export const BATCH_HINTS: FieldHints = { ...all(["tasks", "reports", "executions", "runs"], "use `items`") };

/** An acquire. */
export const ACQUIRE_HINTS: FieldHints = {
  ...USE_WORKER_ID,
  ...all(["queue", "topic", "topics"], "use `queues` (a list of queue names)"),
  ...all(["timeout", "timeoutMs", "wait", "waitTime", "pollMs", "longPollMs"], "use `waitMs`"),
  ...all(["maxTasks", "limit", "count", "batchSize", "size", "n"], "use `max`"),
  ...all(["leaseMs", "lease"], "the lease is the step's `leaseMs`; it cannot be chosen per acquire"),
};

/** A compensation asked for by hand. */
export const COMPENSATE_HINTS: FieldHints = {
  ...all(["taskId", "step", "stepName", "from", "fromStep", "fromStepName"], "use `fromTaskId`"),
};

/** A retry of a failed step by hand. */
export const RETRY_HINTS: FieldHints = {
  ...all(["payload", "data", "params", "newInput"], "use `input` for the step's new input"),
};

/** A new API key. */
export const API_KEY_HINTS: FieldHints = {
  namespace: 'use `namespaces` (a list, e.g. ["default"])',
  queue: 'use `queues` (a list of patterns, e.g. ["billing.*"])',
  ...all(["roles", "scopes", "permissions", "scope"], "use `role` (admin, operator, starter or worker)"),
};

/** A workflow definition's top level. */
export const DEFINITION_HINTS: FieldHints = {
  ...all(["orchestrationName", "workflowName", "workflow"], "use `name` (or the older `orchName` with `as: initiator`)"),
  version: "versions are assigned: registering a changed definition stores the next one",
  ...all(["parallel", "sequential", "mode", "kind"], "use `type` (sequential, parallel or dag)"),
  ...all(["retry", "leaseMs", "transport"], "put it in `defaults`, or on each step"),
  service: "a definition names no service; workers register for its steps (`as: worker`)",
};

/** A step of a workflow definition. */
export const STEP_HINTS: FieldHints = {
  ...all(["stepName", "step", "id"], "use `name`"),
  ...all(
    ["topic", "topics"],
    "Kafka topics follow from the names (orchestrator.<workflow>.<step>.do / .undo); `queue` names the Baton queue",
  ),
  ...all(
    ["retries", "maxRetries", "retryCount", "attempts", "maxAttempts"],
    "use `retry: { maxAttempts }` (attempts in all, 1 = no retry)",
  ),
  ...all(["backoff", "backoffMs", "delayMs"], "use `retry: { backoffMs }`"),
  ...all(["timeout", "timeoutMs", "leaseTime", "lease"], "use `leaseMs` (the step's lease, also its reply timeout over Kafka)"),
  ...all(["depends_on", "dependencies", "after", "requires", "needs"], "use `dependsOn` (with `type: dag`)"),
  ...all(
    ["compensate", "compensation", "compensatable", "undoable", "rollback", "undoQueue"],
    "use `undo: true` (or `undo: { queue, leaseMs }`)",
  ),
  ...all(["foreach", "for_each", "each", "items", "map", "fanOut", "over"], "use `forEach: <path of a list in the step's input>`"),
  ...all(["concurrency", "parallelism", "maxParallel", "max_concurrency"], "use `maxConcurrency` (with `forEach`)"),
};

/** A retry policy (in `defaults` or on a step). */
export const RETRY_POLICY_HINTS: FieldHints = {
  ...all(["retries", "maxRetries", "attempts", "maxAttempt", "max"], "use `maxAttempts` (attempts in all, 1 = no retry)"),
  ...all(["backoff", "delayMs", "delay", "initialDelayMs", "intervalMs"], "use `backoffMs`"),
  ...all(["multiplier", "factor", "backoffFactor"], "use `backoffMultiplier`"),
  ...all(["maxBackoff", "maxDelayMs", "maxIntervalMs"], "use `maxBackoffMs`"),
};

/** The `defaults` of a workflow definition. */
export const DEFAULTS_HINTS: FieldHints = {
  ...all(["retries", "maxRetries", "maxAttempts"], "use `retry: { maxAttempts }`"),
  ...all(["timeout", "timeoutMs", "lease"], "use `leaseMs`"),
};

/** A legacy `as: worker` registration. */
export const WORKER_REGISTRATION_HINTS: FieldHints = {
  ...all(["serviceName", "worker", "workerId"], "use `service` (or the X-Service-Name header)"),
  ...all(["orchestrationName", "name", "workflow"], "use `orchName`"),
};

/** A step of a legacy `as: worker` registration. */
export const WORKER_STEP_HINTS: FieldHints = { ...all(["stepName", "step"], "use `name`") };
