import { z } from "zod";
import { ERROR_STATUS } from "./errors.ts";
import {
  ACQUIRE_HINTS,
  BATCH_HINTS,
  BATCH_RUN_HINTS,
  COMPENSATE_HINTS,
  COMPLETE_HINTS,
  FAIL_HINTS,
  HEARTBEAT_HINTS,
  ITEM_HINTS,
  RETRY_HINTS,
  START_BATCH_HINTS,
  START_HINTS,
} from "./field-hints.ts";
import { HttpCircuitViewSchema, HttpStepViewSchema } from "./http-step-views.ts";
import { jsonValueIssue, LIMITS } from "./limits.ts";
import { servingFields, WaitingStepSchema } from "./registration-views.ts";
import { INSTANCE_STATES, TASK_STATES } from "./states.ts";
import { strictFields } from "./strict-fields.ts";
import type {
  AcquiredTask,
  EventPage,
  EventView,
  InstancePage,
  InstanceSummary,
  InstanceView,
  RegisterResult,
  StartResult,
  TaskOutcome,
  TaskPage,
  TaskView,
} from "./types.ts";

/*
 * The HTTP wire format (DESIGN §7) as zod schemas: the API validates requests and documents
 * responses with them, and the worker SDK can validate what it receives. `.meta({ id })` names a
 * schema in the OpenAPI document. The plain TypeScript types in types.ts must stay identical to
 * what these schemas infer; the checks at the bottom of this file fail to compile otherwise.
 * Every object a caller sends is strict (`strictFields`): an unknown field is refused by name.
 */

/**
 * Limits of a long-poll acquire over HTTP. `maxTasks` is the engine's own cap (MAX_ACQUIRE), so one
 * answer can fill a worker's slots and its local queue (prefetch) together.
 */
export const ACQUIRE_LIMITS = { maxTasks: 1000, maxQueues: 100, maxWaitMs: 30_000 } as const;

/** Most items one batch request (batch complete, fail, heartbeat, start) may carry. */
export const MAX_BATCH_ITEMS = 1000;

/** The longest a caller may wait for a run to end (`waitMs` of a start; the FastAPI direct route). */
export const MAX_RUN_WAIT_MS = 60_000;

/**
 * The response header in which every /v1 answer states the server's request body limit in bytes,
 * so a client can refuse a body over it before sending it.
 */
export const BODY_LIMIT_HEADER = "X-Baton-Body-Limit";

const isoTime = z.string().meta({ description: "ISO-8601 time from the database clock", example: "2025-01-01T12:00:00.000Z" });
const workerId = z.string().min(1).max(200).meta({ description: "Who holds (or asks for) the lease", example: "billing-7f3c" });
const fenceToken = z
  .number()
  .int()
  .min(0)
  .max(Number.MAX_SAFE_INTEGER)
  .meta({ description: "The lease's fence token, as handed out by acquire (a JSON number)", example: 42 });
const uuid = z.uuid();
const instanceState = z.enum(INSTANCE_STATES);
const taskState = z.enum(TASK_STATES);
const taskKind = z.enum(["DO", "UNDO"]);
const json = z.unknown().meta({ description: "Any JSON value" });
const taskIdentity = {
  taskId: z.string().meta({ description: "The step's name, or `<step>#<index>` for an element of a fan-out step (`forEach`)" }),
  step: z.string().meta({ description: "The step the task runs (the task id without an element's `#<index>`)" }),
  elementIndex: z
    .number()
    .int()
    .nullable()
    .meta({ description: "For an element of a fan-out step, its index in the list (from 0); else null" }),
};

const JSON_BOUNDS = `nested at most ${LIMITS.maxJsonDepth} deep, at most ${LIMITS.maxValueBytes} bytes as JSON`;
/** Refuses a value a caller sends that is nested too deep or too large (see LIMITS). */
const withinJsonBounds = (value: unknown, ctx: z.RefinementCtx) => {
  const issue = jsonValueIssue(value);
  if (issue) ctx.addIssue({ code: "custom", message: issue });
};
/** Any JSON value, as a caller sends it: within the depth and size limits. */
const jsonIn = (description: string) =>
  z
    .unknown()
    .superRefine(withinJsonBounds)
    .meta({ description: `${description}; any JSON value, ${JSON_BOUNDS}` });

export const ErrorCodeSchema = z.enum(Object.keys(ERROR_STATUS) as [keyof typeof ERROR_STATUS, ...(keyof typeof ERROR_STATUS)[]]);

const errorDetail = z.object({
  code: ErrorCodeSchema,
  message: z.string(),
  details: z.record(z.string(), z.unknown()),
});

export const ErrorBodySchema = z
  .object({ error: errorDetail })
  .meta({ id: "Error", description: "Every error answer; compare `error.code`" });

/** A batch request's list: at least one item, at most MAX_BATCH_ITEMS. */
const batchOf = <T extends z.ZodType>(item: T) =>
  z
    .array(item)
    .min(1)
    .max(MAX_BATCH_ITEMS)
    .meta({ description: `1 to ${MAX_BATCH_ITEMS} items; each is answered on its own, in this order` });

/** Field-level validation failures, as found in `error.details.fields` of a VALIDATION_ERROR. */
export const FieldIssueSchema = z.object({ field: z.string(), message: z.string() });

// --- Workflow definitions ---

export const RegisterResultSchema = z
  .object({ namespace: z.string(), name: z.string(), version: z.number().int(), created: z.boolean() })
  .meta({ id: "RegisterResult" });

const readiness = {
  ready: z.boolean().meta({ description: "Someone serves this queue: `serving` is `polling` or `registered`" }),
  workers: z
    .array(z.string())
    .meta({ description: "Workers that polled this queue within the readiness window (the Kafka bridge left out)" }),
  ...servingFields,
};

export const StepStatusSchema = z
  .object({
    name: z.string(),
    queue: z.string(),
    transport: z.enum(["worker", "kafka", "http"]),
    leaseMs: z.number().int(),
    retry: z.object({
      maxAttempts: z.number().int(),
      backoffMs: z.number().int(),
      backoffMultiplier: z.number(),
      maxBackoffMs: z.number().int(),
    }),
    dependsOn: z.array(z.string()),
    ...readiness,
    undo: z.object({ queue: z.string(), leaseMs: z.number().int(), ...readiness }).nullable(),
    http: HttpStepViewSchema.optional(),
    forEach: z.string().optional().meta({ description: "A fan-out step: the path of the list in its input it runs over" }),
    maxConcurrency: z.number().int().optional().meta({ description: "A fan-out step: most elements running at once" }),
  })
  .meta({ id: "StepStatus" });

export const WorkflowViewSchema = z
  .object({
    namespace: z.string(),
    name: z.string(),
    version: z.number().int(),
    type: z.enum(["sequential", "parallel", "dag"]),
    description: z.string().optional(),
    createdAt: isoTime,
    ready: z.boolean().meta({ description: "Every queue of the workflow (DO and UNDO) has a polling worker or a registered service" }),
    steps: z.array(StepStatusSchema),
  })
  .meta({ id: "Workflow" });

export const WorkerViewSchema = z
  .object({
    id: z.string(),
    queues: z.array(z.string()),
    lastSeenAt: isoTime,
    ready: z.boolean().meta({ description: "Polled within the readiness window" }),
  })
  .meta({ id: "Worker" });

const nextCursor = z.string().nullable().meta({ description: "Pass back as `cursor` for the next page; null on the last page" });

/** Page sizes of the paginated lists (definitions, workers, an instance's tasks and events). */
export const PAGE_LIMITS = { defaultLimit: 100, maxLimit: 500 } as const;

/** `?cursor=&limit=` of a paginated list. */
export const PageQuerySchema = z.object({
  cursor: z.string().min(1).max(1000).optional().meta({ description: "The `nextCursor` of the previous page; absent for the first page" }),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(PAGE_LIMITS.maxLimit)
    .optional()
    .meta({ description: `Page size, 1 to ${PAGE_LIMITS.maxLimit} (default ${PAGE_LIMITS.defaultLimit})` }),
});

export const WorkerListSchema = z.object({ items: z.array(WorkerViewSchema), nextCursor }).meta({ id: "WorkerList" });

export const WorkflowListSchema = z
  .object({ items: z.array(WorkflowViewSchema), nextCursor })
  .meta({ id: "WorkflowList", description: "A page of definitions (the latest version of each), by namespace then name" });

// --- Instances ---

export const StartRequestSchema = strictFields(
  {
    runId: z.string().min(1).max(200).optional().meta({ description: "Makes the start idempotent; generated when absent" }),
    input: z
      .record(z.string(), z.unknown())
      .superRefine(withinJsonBounds)
      .optional()
      .meta({
        description:
          `The run's input, a JSON object ${JSON_BOUNDS}; every step gets a copy, so its size times the number of ` +
          `steps may be at most ${LIMITS.maxFanOutBytes} bytes`,
      }),
    namespace: z.string().min(1).max(128).optional(),
    waitMs: z
      .number()
      .int()
      .min(0)
      .max(MAX_RUN_WAIT_MS, `at most ${MAX_RUN_WAIT_MS} ms (MAX_RUN_WAIT_MS)`)
      .optional()
      .meta({
        description:
          `Wait up to this long (0 to ${MAX_RUN_WAIT_MS} ms) for the run to end: the answer is 200 with its final state, output ` +
          "and error once it is COMPLETED, FAILED, COMPENSATED, COMPENSATION_FAILED or CANCELLED, else 202 with its state at the " +
          "deadline. Without it the answer comes at once (201, or 200 for an existing runId).",
      }),
  },
  START_HINTS,
).meta({ id: "StartRequest" });

export const StartResultSchema = z
  .object({ instanceId: uuid, runId: z.string(), state: instanceState, created: z.boolean() })
  .meta({ id: "StartResult" });

export const StartWaitResultSchema = StartResultSchema.extend({
  output: json.meta({ description: "The run's output (the map of step outputs) once COMPLETED; else null" }),
  error: json.meta({ description: "Why the run failed or was compensated; else null" }),
}).meta({ id: "StartWaitResult", description: "A start that waited (`waitMs`): the run's state when the answer was given" });

export const StartBatchRequestSchema = strictFields(
  {
    namespace: StartRequestSchema.shape.namespace,
    runs: batchOf(strictFields({ runId: StartRequestSchema.shape.runId, input: StartRequestSchema.shape.input }, BATCH_RUN_HINTS)),
    waitMs: StartRequestSchema.shape.waitMs.meta({
      description:
        `Wait up to this long (0 to ${MAX_RUN_WAIT_MS} ms, one deadline for the whole batch) for the runs to end: each run is ` +
        "answered with its state, output and error when it ended, or its state at the deadline (a StartWaitResult). Without it " +
        "the answer comes at once.",
    }),
  },
  START_BATCH_HINTS,
).meta({ id: "StartBatchRequest" });

export const RunRefusalSchema = z
  .object({ runId: z.string(), error: errorDetail })
  .meta({ id: "RunRefusal", description: "This run was refused (e.g. RUN_ID_CONFLICT); the other runs are unaffected" });

export const StartBatchResultSchema = z
  .object({ results: z.array(z.union([StartResultSchema, RunRefusalSchema])) })
  .meta({ id: "StartBatchResult", description: "One result per run, in request order" });

export const StartBatchWaitResultSchema = z.object({ results: z.array(z.union([StartWaitResultSchema, RunRefusalSchema])) }).meta({
  id: "StartBatchWaitResult",
  description: "A batch start that waited (`waitMs`): one result per run, in request order, each with its state when answered",
});

export const InstanceSummarySchema = z
  .object({
    instanceId: uuid,
    namespace: z.string(),
    workflowName: z.string(),
    workflowVersion: z.number().int(),
    runId: z.string(),
    state: instanceState,
    input: json,
    output: json,
    error: json,
    createdAt: isoTime,
    updatedAt: isoTime,
  })
  .meta({ id: "InstanceSummary" });

export const TaskViewSchema = z
  .object({
    executionId: uuid,
    ...taskIdentity,
    kind: taskKind,
    queue: z.string(),
    attempt: z.number().int(),
    maxAttempts: z.number().int(),
    state: taskState,
    fenceToken: z.number().int().nullable(),
    leaseHolder: z.string().nullable(),
    leaseExpiresAt: isoTime.nullable(),
    availableAt: isoTime,
    input: json,
    output: json,
    error: json,
    createdAt: isoTime,
    startedAt: isoTime.nullable(),
    finishedAt: isoTime.nullable(),
  })
  .meta({ id: "Task" });

export const EventViewSchema = z
  .object({
    sequenceNumber: z.number().int(),
    eventType: z.string(),
    payload: z.record(z.string(), z.unknown()),
    createdAt: isoTime,
  })
  .meta({ id: "Event" });

/** How many attempts and events an instance view holds at most; the rest are read a page at a time. */
const VIEW_HOLDS = `at most ${PAGE_LIMITS.maxLimit}`;

export const InstanceViewSchema = InstanceSummarySchema.extend({
  sequenceNumber: z.number().int(),
  httpCircuits: z
    .array(HttpCircuitViewSchema)
    .optional()
    .meta({ description: "The circuit breakers of the hosts this instance's HTTP steps call (absent when it has none)" }),
  waiting: z.array(WaitingStepSchema).optional().meta({
    description: "Its PENDING attempts with who serves each (`serving: nobody`: no worker polls it and no service registered for it)",
  }),
  tasks: z.array(TaskViewSchema).meta({ description: `The attempts in the order they were scheduled, ${VIEW_HOLDS}` }),
  tasksNextCursor: nextCursor.meta({
    description: "Null when `tasks` holds every attempt; else pass it as `cursor` to GET /v1/instances/{id}/tasks for the rest",
  }),
  events: z.array(EventViewSchema).meta({ description: `The history by sequence number, ${VIEW_HOLDS}` }),
  eventsNextCursor: nextCursor.meta({
    description: "Null when `events` holds the whole history; else pass it as `cursor` to GET /v1/instances/{id}/events for the rest",
  }),
}).meta({ id: "Instance" });

export const TaskPageSchema = z
  .object({ items: z.array(TaskViewSchema), nextCursor })
  .meta({ id: "TaskPage", description: "A page of an instance's attempts, in the order they were scheduled" });

export const EventPageSchema = z
  .object({ items: z.array(EventViewSchema), nextCursor })
  .meta({ id: "EventPage", description: "A page of an instance's history, by sequence number" });

export const InstancePageSchema = z
  .object({
    items: z.array(InstanceSummarySchema),
    nextCursor: z.string().nullable().meta({ description: "Pass back as `cursor` for the next page; null on the last page" }),
  })
  .meta({ id: "InstancePage" });

export const InstanceListQuerySchema = z.object({
  workflow: z.string().min(1).max(128).optional(),
  state: instanceState.optional(),
  namespace: z.string().min(1).max(128).optional(),
  cursor: z.string().min(1).max(1000).optional(),
  limit: z.coerce.number().int().min(1).max(500).optional().meta({ description: "Page size (default 50)" }),
});

export const InstanceStateResultSchema = z.object({ state: instanceState }).meta({ id: "InstanceStateResult" });

export const CompensateRequestSchema = strictFields(
  { fromTaskId: z.string().min(1).max(128).optional().meta({ description: "Undo only this step and the steps it depends on" }) },
  COMPENSATE_HINTS,
).meta({ id: "CompensateRequest" });

export const RetryTaskRequestSchema = strictFields(
  { input: jsonIn("New input for the step; the last attempt's input when absent").optional() },
  RETRY_HINTS,
).meta({ id: "RetryTaskRequest" });

export const RetryTaskResultSchema = z
  .object({ executionId: uuid, taskId: z.string(), kind: taskKind, attempt: z.number().int() })
  .meta({ id: "RetryTaskResult" });

// --- Tasks: acquire and fenced writes ---

export const AcquireRequestSchema = strictFields(
  {
    workerId,
    queues: z.array(z.string().min(1).max(200)).min(1).max(ACQUIRE_LIMITS.maxQueues),
    max: z.number().int().min(1).max(ACQUIRE_LIMITS.maxTasks).default(1).meta({ description: "Hand out at most this many tasks" }),
    waitMs: z
      .number()
      .int()
      .min(0)
      .max(ACQUIRE_LIMITS.maxWaitMs)
      .default(0)
      .meta({ description: "Long-poll: how long to wait when no task is available now (0 answers at once)" }),
  },
  ACQUIRE_HINTS,
).meta({ id: "AcquireRequest" });

export const AcquiredTaskSchema = z
  .object({
    executionId: uuid,
    instanceId: uuid,
    workflowName: z.string(),
    namespace: z.string(),
    ...taskIdentity,
    kind: taskKind,
    queue: z.string(),
    attempt: z.number().int(),
    fenceToken,
    leaseExpiresAt: isoTime,
    input: json,
  })
  .meta({ id: "AcquiredTask" });

export const AcquireResponseSchema = z.object({ tasks: z.array(AcquiredTaskSchema) }).meta({ id: "AcquireResponse" });

export const HeartbeatRequestSchema = strictFields({ workerId, fenceToken }, HEARTBEAT_HINTS).meta({ id: "HeartbeatRequest" });

export const HeartbeatResultSchema = z.object({ leaseExpiresAt: isoTime }).meta({ id: "HeartbeatResult" });

export const CompleteRequestSchema = strictFields(
  { workerId, fenceToken, output: jsonIn("The step's output (null when absent)").optional() },
  COMPLETE_HINTS,
).meta({ id: "CompleteRequest" });

export const FailRequestSchema = strictFields(
  {
    workerId,
    fenceToken,
    error: jsonIn("What went wrong, stored with the attempt").optional(),
    retryable: z.boolean().optional().meta({ description: "false makes this the last attempt (no retry)" }),
  },
  FAIL_HINTS,
).meta({ id: "FailRequest" });

export const TaskOutcomeSchema = z
  .object({
    executionId: uuid,
    state: taskState,
    duplicate: z.boolean().meta({ description: "This call repeated an outcome already recorded; nothing changed" }),
  })
  .meta({ id: "TaskOutcome" });

// Batches of fenced writes: each item is the single route's body plus the execution it is about.

const executionId = uuid.meta({ description: "The attempt, as handed out by acquire" });
const idempotencyKey = z
  .string()
  .min(1)
  .max(200)
  .optional()
  .meta({ description: "Names this report: a key already applied answers `duplicate` and changes nothing" });

export const HeartbeatItemSchema = strictFields(
  { ...HeartbeatRequestSchema.shape, executionId },
  { ...HEARTBEAT_HINTS, ...ITEM_HINTS },
).meta({
  id: "HeartbeatItem",
});
export const CompleteItemSchema = strictFields(
  { ...CompleteRequestSchema.shape, executionId, idempotencyKey },
  { ...COMPLETE_HINTS, ...ITEM_HINTS },
).meta({ id: "CompleteItem" });
export const FailItemSchema = strictFields(
  { ...FailRequestSchema.shape, executionId, idempotencyKey },
  { ...FAIL_HINTS, ...ITEM_HINTS },
).meta({
  id: "FailItem",
});

export const ReleaseItemSchema = strictFields({ ...HeartbeatRequestSchema.shape, executionId }, { ...HEARTBEAT_HINTS, ...ITEM_HINTS }).meta(
  {
    id: "ReleaseItem",
  },
);

const batchRequest = <T extends z.ZodType>(item: T) => strictFields({ items: batchOf(item) }, BATCH_HINTS);
export const HeartbeatBatchRequestSchema = batchRequest(HeartbeatItemSchema).meta({ id: "HeartbeatBatchRequest" });
export const CompleteBatchRequestSchema = batchRequest(CompleteItemSchema).meta({ id: "CompleteBatchRequest" });
export const FailBatchRequestSchema = batchRequest(FailItemSchema).meta({ id: "FailBatchRequest" });
export const ReleaseBatchRequestSchema = batchRequest(ReleaseItemSchema).meta({ id: "ReleaseBatchRequest" });

export const TaskRefusalSchema = z
  .object({ executionId: uuid, error: errorDetail })
  .meta({ id: "TaskRefusal", description: "This item was refused (the single route's error); the other items are unaffected" });

export const HeartbeatBatchResultSchema = z
  .object({ results: z.array(z.union([HeartbeatResultSchema.extend({ executionId: uuid }), TaskRefusalSchema])) })
  .meta({ id: "HeartbeatBatchResult", description: "One result per item, in request order" });

export const TaskOutcomeBatchSchema = z
  .object({ results: z.array(z.union([TaskOutcomeSchema, TaskRefusalSchema])) })
  .meta({ id: "TaskOutcomeBatch", description: "One result per item, in request order" });

export const ReleaseResultSchema = z
  .object({
    released: z
      .number()
      .int()
      .meta({ description: "How many of the leases were handed back; a lease no longer held as named is left as it is" }),
  })
  .meta({ id: "ReleaseResult" });

export type AcquireRequest = z.input<typeof AcquireRequestSchema>;
export type StartRequest = z.infer<typeof StartRequestSchema>;
export type WorkflowView = z.infer<typeof WorkflowViewSchema>;
export type StepStatus = z.infer<typeof StepStatusSchema>;
export type WorkerView = z.infer<typeof WorkerViewSchema>;
export type ErrorBody = z.infer<typeof ErrorBodySchema>;
export type TaskRefusal = z.infer<typeof TaskRefusalSchema>;
export type RunRefusal = z.infer<typeof RunRefusalSchema>;

// Compile-time checks: the schemas above and the types in types.ts describe the same shapes.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const sameShapes: [
  Same<z.infer<typeof AcquiredTaskSchema>, AcquiredTask>,
  Same<z.infer<typeof StartResultSchema>, StartResult>,
  Same<z.infer<typeof RegisterResultSchema>, RegisterResult>,
  Same<z.infer<typeof TaskViewSchema>, TaskView>,
  Same<z.infer<typeof EventViewSchema>, EventView>,
  Same<z.infer<typeof InstanceSummarySchema>, InstanceSummary>,
  Same<z.infer<typeof InstanceViewSchema>, InstanceView>,
  Same<z.infer<typeof InstancePageSchema>, InstancePage>,
  Same<z.infer<typeof TaskPageSchema>, TaskPage>,
  Same<z.infer<typeof EventPageSchema>, EventPage>,
  Same<z.infer<typeof TaskOutcomeSchema>, TaskOutcome>,
] = [true, true, true, true, true, true, true, true, true, true, true];
void sameShapes;
