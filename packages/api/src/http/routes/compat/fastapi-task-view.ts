import type { InstanceView, TaskView } from "@baton/engine";
import { z } from "@hono/zod-openapi";
import { legacyInstanceStatus, legacyStepStatus } from "./legacy-statuses.ts";

/*
 * A Baton run as the FastAPI orchestrator showed a task (`TaskResponse`): one service request per
 * payload item and service, each service being a step of the run. A step's worker gets the whole
 * input and may answer one result per payload item (an array, in order) or one for all of them.
 */

const ServiceRequestSchema = z.object({
  id: z.string(),
  task_id: z.string(),
  service_name: z.string(),
  scenario_id: z.string().nullable(),
  business_type_id: z.string().nullable(),
  status: z.string().meta({ description: "PENDING, IN_PROGRESS, COMPLETED or FAILED (see docs/migrating.md)" }),
  created_at: z.string(),
  updated_at: z.string(),
  request_payload: z.unknown(),
  response_payload: z.unknown(),
  error_message: z.string().nullable(),
});

export const TaskResponseSchema = z.object({
  id: z.string(),
  task_id: z.string().meta({ description: "The run's id (a Baton instance id)" }),
  task_name: z.string(),
  task_description: z.string().nullable(),
  status: z.string().meta({ description: "PENDING, IN_PROGRESS, COMPLETED or FAILED (see docs/migrating.md)" }),
  created_at: z.string(),
  updated_at: z.string(),
  payload: z.array(z.unknown()).nullable(),
  error_message: z.string().nullable(),
  service_requests: z.array(ServiceRequestSchema),
});
export type TaskResponse = z.infer<typeof TaskResponseSchema>;

export const DirectAnswerSchema = z.object({
  task_id: z.string(),
  status: z.string().meta({ description: "COMPLETED or FAILED; IN_PROGRESS when the wait ran out (answered 202)" }),
  results: z.record(z.string(), z.unknown()).meta({ description: "Each service's (step's) output" }),
  errors: z.array(z.object({ service_name: z.string(), error_message: z.string() })),
});
export type DirectAnswer = z.infer<typeof DirectAnswerSchema>;

/** The task an instance is, given its workflow's step names (the services). */
export function taskResponse(view: InstanceView, services: readonly string[]): TaskResponse {
  const input = (view.input ?? {}) as { task_name?: unknown; task_description?: unknown; payload?: unknown };
  const items = Array.isArray(input.payload) ? input.payload : null;
  const latest = latestDoAttempts(view.tasks);
  const requests = services.flatMap((service) => {
    const attempt = latest.get(service);
    const base = {
      task_id: view.instanceId,
      service_name: service,
      status: legacyStepStatus("fastapi", "service request", "DO", attempt),
      created_at: attempt?.createdAt ?? view.createdAt,
      updated_at: attempt?.finishedAt ?? attempt?.startedAt ?? attempt?.createdAt ?? view.createdAt,
      error_message: attempt && attempt.state !== "COMPLETED" ? errorMessage(attempt.error) : null,
    };
    const output = attempt?.state === "COMPLETED" ? attempt.output : null;
    if (!items) {
      return [
        {
          ...base,
          id: `${view.instanceId}/${service}`,
          scenario_id: null,
          business_type_id: null,
          request_payload: attempt?.input ?? null,
          response_payload: output,
        },
      ];
    }
    const perItem = Array.isArray(output) && output.length === items.length;
    return items.map((item, i) => {
      const part = isObject(item) ? item[service] : undefined;
      return {
        ...base,
        id: `${view.instanceId}/${service}/${i}`,
        scenario_id: stringField(part, "scenario_id"),
        business_type_id: stringField(part, "business_type_id"),
        request_payload: part ?? null,
        response_payload: perItem ? (output as unknown[])[i] : output,
      };
    });
  });
  return {
    id: view.instanceId,
    task_id: view.instanceId,
    task_name: typeof input.task_name === "string" ? input.task_name : view.workflowName,
    task_description: typeof input.task_description === "string" ? input.task_description : null,
    status: legacyInstanceStatus("fastapi", "task", view.state),
    created_at: view.createdAt,
    updated_at: view.updatedAt,
    payload: items,
    error_message: view.error ? errorMessage(view.error) : null,
    service_requests: requests,
  };
}

/** What `/api/orchestrate/direct` answers: each service's output, and each failed service's error. */
export function directAnswer(view: InstanceView, services: readonly string[]): DirectAnswer {
  const latest = latestDoAttempts(view.tasks);
  const results: Record<string, unknown> = {};
  const errors: DirectAnswer["errors"] = [];
  for (const service of services) {
    const attempt = latest.get(service);
    if (attempt?.state === "COMPLETED") results[service] = attempt.output;
    else if (attempt?.state === "FAILED" || attempt?.state === "TIMED_OUT") {
      errors.push({ service_name: service, error_message: errorMessage(attempt.error) });
    }
  }
  return { task_id: view.instanceId, status: legacyInstanceStatus("fastapi", "task", view.state), results, errors };
}

/** Each step's latest DO attempt. */
function latestDoAttempts(tasks: readonly TaskView[]): Map<string, TaskView> {
  const latest = new Map<string, TaskView>();
  for (const t of tasks) {
    if (t.kind !== "DO") continue;
    const seen = latest.get(t.taskId);
    if (!seen || t.attempt > seen.attempt) latest.set(t.taskId, t);
  }
  return latest;
}

/** A stored error (an attempt's, or the instance's `{reason, step, cause}`) as one line. */
function errorMessage(error: unknown): string {
  if (!isObject(error)) return error === null || error === undefined ? "" : String(error);
  if (typeof error.message === "string") return error.message;
  if (typeof error.reason === "string") {
    const step = typeof error.step === "string" ? ` (${error.step})` : "";
    const cause = isObject(error.cause) && typeof error.cause.message === "string" ? `: ${error.cause.message}` : "";
    return `${error.reason}${step}${cause}`;
  }
  return JSON.stringify(error);
}

function stringField(value: unknown, field: string): string | null {
  return isObject(value) && typeof value[field] === "string" ? value[field] : null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
