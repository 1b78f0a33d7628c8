import { z } from "zod";
import { LIMITS } from "./limits.ts";

/*
 * Who serves a step, as the API shows it: remembered service registrations (`as: worker`), their
 * audit trail, and a step's readiness in three cases. Wire schemas beside wire.ts, which imports
 * the readiness fields from here.
 */

const isoTime = z.string().meta({ description: "ISO-8601 time from the database clock", example: "2025-01-01T12:00:00.000Z" });
const transport = z.enum(["http", "kafka"]).meta({ description: "How the service registered: over HTTP or on the registration topic" });

/** The three answers to "who serves this step?". */
export const SERVING = ["polling", "registered", "nobody"] as const;
export type Serving = (typeof SERVING)[number];

export const ServiceContactSchema = z
  .object({
    service: z.string(),
    transport,
    lastRegisteredAt: isoTime,
    lastContactAt: isoTime.meta({
      description: "When Baton last heard from it: a registration, a poll of one of its queues, or a Kafka reply for one of its steps",
    }),
  })
  .meta({ id: "ServiceContact", description: "A service registered for the step" });

/** The readiness fields of a step's DO or UNDO queue (StepStatus, and each entry of an instance's `waiting`). */
export const servingFields = {
  serving: z.enum(SERVING).meta({
    description:
      "`polling`: a worker polled the queue within the readiness window; `registered`: none did, but a service registered for the " +
      "step (`services`); `nobody`: neither, so its tasks wait. The Kafka bridge's own polling does not count: it only relays commands.",
  }),
  services: z
    .array(ServiceContactSchema)
    .meta({ description: "Services registered for the step (`as: worker`), whether or not they poll" }),
};

export const ServiceRegistrationSchema = z
  .object({
    namespace: z.string(),
    workflow: z.string(),
    service: z.string(),
    steps: z.array(z.string()).meta({ description: "The steps it serves (every step it ever registered for)" }),
    queues: z.array(z.string()).meta({ description: "Their DO and UNDO queues when it last registered" }),
    transport,
    firstRegisteredAt: isoTime,
    lastRegisteredAt: isoTime,
    lastContactAt: isoTime,
  })
  .meta({ id: "ServiceRegistration", description: "A service's remembered `as: worker` registration for one workflow" });

export const RegistrationChangeSchema = z
  .object({
    changeId: z.number().int(),
    namespace: z.string(),
    workflow: z.string(),
    service: z.string(),
    change: z
      .enum(["created", "changed"])
      .meta({ description: "Its first registration, or one that added steps or changed the transport" }),
    steps: z.array(z.string()).meta({ description: "The steps it serves after this change" }),
    stepsAdded: z.array(z.string()),
    transport,
    transportBefore: transport.nullable().meta({ description: "The transport before, when this change moved it; else null" }),
    by: z
      .object({
        keyId: z.string().nullable().meta({ description: "The API key that registered; null without one (auth off, Kafka)" }),
        name: z.string().meta({ description: "The key's name, or `kafka:<topic>` for a registration on a topic" }),
      })
      .meta({ description: "Who registered" }),
    at: isoTime,
  })
  .meta({ id: "RegistrationChange", description: "One entry of the registrations' audit trail (append-only)" });

const nextCursor = z.string().nullable().meta({ description: "Pass back as `cursor` for the next page; null on the last page" });

export const ServiceRegistrationPageSchema = z
  .object({ items: z.array(ServiceRegistrationSchema), nextCursor })
  .meta({ id: "ServiceRegistrationPage", description: "A page of registrations by namespace, workflow, then service" });

export const RegistrationChangePageSchema = z
  .object({ items: z.array(RegistrationChangeSchema), nextCursor })
  .meta({ id: "RegistrationChangePage", description: "A page of the audit trail, newest first" });

export const WorkerRegistrationResultSchema = z
  .object({
    workerId: z.string().meta({ description: "The service's name" }),
    queues: z.array(z.string()).meta({ description: "The DO and UNDO queues of the steps it serves" }),
    steps: z.array(z.string()).meta({ description: "Every step it serves (those registered before included)" }),
    change: z.enum(["created", "changed", "unchanged"]),
  })
  .meta({ id: "WorkerRegistrationResult", description: "A legacy `as: worker` registration, remembered until replaced" });

export const WaitingStepSchema = z
  .object({
    taskId: z.string(),
    kind: z.enum(["DO", "UNDO"]),
    queue: z.string(),
    attempt: z.number().int(),
    ...servingFields,
  })
  .meta({
    id: "WaitingStep",
    description: "A PENDING attempt of the run, and who serves its queue (`serving: nobody`: nobody, so it waits)",
  });

/** Filters and page of the registration lists. */
export const RegistrationListQuerySchema = z.object({
  namespace: z
    .string()
    .min(1)
    .max(LIMITS.maxNameLength)
    .optional()
    .meta({ description: "Only this namespace (a key of one namespace: its own)" }),
  workflow: z.string().min(1).max(LIMITS.maxNameLength).optional(),
  service: z.string().min(1).max(LIMITS.maxIdLength).optional(),
  cursor: z.string().min(1).max(1000).optional().meta({ description: "The `nextCursor` of the previous page; absent for the first page" }),
  limit: z.coerce.number().int().min(1).max(500).optional().meta({ description: "Page size, 1 to 500 (default 100)" }),
});

export type ServiceContact = z.infer<typeof ServiceContactSchema>;
export type ServiceRegistrationView = z.infer<typeof ServiceRegistrationSchema>;
export type RegistrationChangeView = z.infer<typeof RegistrationChangeSchema>;
export type WorkerRegistrationResult = z.infer<typeof WorkerRegistrationResultSchema>;
export type WaitingStep = z.infer<typeof WaitingStepSchema>;
