import {
  BatonError,
  issuesError,
  LIMITS,
  strictFields,
  WORKER_REGISTRATION_HINTS,
  WORKER_STEP_HINTS,
  type WorkerRegistrationResult,
} from "@baton/engine";
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { ApiDeps, AppEnv } from "./env.ts";

/**
 * A legacy `as: worker` registration (reference/orchestrator-service-spring.md). `type` and the
 * steps' `seq` and `objectType` belong to the initiator's registration; a worker that copies them
 * is accepted, and they are checked but not used.
 */
const LegacyWorkerSchema = strictFields(
  {
    orchName: z.string().min(1).max(LIMITS.maxNameLength),
    as: z.literal("worker"),
    namespace: z.string().min(1).max(LIMITS.maxNameLength).optional(),
    service: z.string().min(1).max(LIMITS.maxIdLength).optional(),
    type: z.enum(["sequential", "parallel", "simultaneous", "dag"]).optional(),
    steps: z
      .array(
        strictFields(
          {
            name: z.string().min(1).max(LIMITS.maxNameLength),
            seq: z.number().int().min(-1_000_000).max(1_000_000).optional(),
            objectType: z.string().max(LIMITS.maxNameLength).optional(),
          },
          WORKER_STEP_HINTS,
        ),
      )
      .min(1)
      .max(LIMITS.maxSteps),
  },
  WORKER_REGISTRATION_HINTS,
);
const ServiceHeader = z.string().min(1).max(LIMITS.maxIdLength);

/**
 * A legacy `as: worker` registration over HTTP (POST /v1/workflows and the Spring register route):
 * the service named by its `service` field or X-Service-Name header is remembered as serving the
 * listed steps (engine.registrations.register), with the caller's key as who registered.
 */
export async function registerLegacyWorker(
  deps: Pick<ApiDeps, "engine">,
  raw: unknown,
  c: Context<AppEnv>,
): Promise<WorkerRegistrationResult> {
  const parsed = LegacyWorkerSchema.safeParse(raw);
  if (!parsed.success) throw issuesError("INVALID_DEFINITION", "Invalid worker registration", parsed.error.issues, "(body)");
  const reg = parsed.data;
  const header = c.req.header("x-service-name");
  if (reg.service === undefined && header !== undefined && !ServiceHeader.safeParse(header).success) {
    throw new BatonError("VALIDATION_ERROR", `X-Service-Name: 1 to ${LIMITS.maxIdLength} characters (maxIdLength)`, {
      in: "header",
      fields: [{ field: "X-Service-Name", message: `1 to ${LIMITS.maxIdLength} characters` }],
    });
  }
  const service = reg.service ?? header;
  if (!service) {
    throw new BatonError("VALIDATION_ERROR", "service: name the worker with a `service` field or an X-Service-Name header", {
      in: "body",
      fields: [{ field: "service", message: "required (or send an X-Service-Name header)" }],
    });
  }
  const caller = c.var.caller;
  return deps.engine.registrations.register({
    workflow: reg.orchName,
    ...(reg.namespace ? { namespace: reg.namespace } : {}),
    service,
    steps: reg.steps.map((s) => s.name),
    transport: "http",
    by: { keyId: caller.keyId, name: caller.name },
  });
}
