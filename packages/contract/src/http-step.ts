import { z } from "zod";
import { HTTP_METHODS, type HttpMethod } from "./http-step-views.ts";
import { headerIssue, urlTemplateIssue } from "./http-template.ts";
import { LIMITS } from "./limits.ts";

/*
 * HTTP-call steps (`transport: http`): Baton itself calls the service, as the step's fenced
 * worker. These are the step fields that say how, their defaults, and the checks that need the
 * whole step (an HTTP field on another transport, an HTTP step without a URL).
 */

export const DEFAULT_HTTP_TIMEOUT_MS = 10_000;
export const DEFAULT_HTTP_MAX_IN_FLIGHT = 10;

const url = z
  .string()
  .min(1)
  .max(LIMITS.maxUrlLength)
  .superRefine((value, ctx) => {
    const issue = urlTemplateIssue(value);
    if (issue) ctx.addIssue({ code: "custom", message: issue });
  })
  .meta({
    description:
      "The URL Baton calls (transport: http): absolute http(s), with {input.<field>} placeholders (URL-encoded) in the path or " +
      "query only; the host must be in the operator's BATON_HTTP_STEP_HOSTS",
    example: "https://payments.internal/orders/{input.orderId}/charge",
  });

const headers = z
  .record(z.string(), z.string().max(LIMITS.maxHttpHeaderValueLength))
  .superRefine((value, ctx) => {
    const names = Object.keys(value);
    if (names.length > LIMITS.maxHttpHeaders) {
      ctx.addIssue({ code: "custom", message: `${names.length} headers, more than ${LIMITS.maxHttpHeaders} (maxHttpHeaders)` });
      return;
    }
    const seen = new Set<string>();
    for (const name of names) {
      const issue = headerIssue(name, value[name] as string);
      if (issue) ctx.addIssue({ code: "custom", path: [name], message: issue });
      if (seen.has(name.toLowerCase()))
        ctx.addIssue({ code: "custom", path: [name], message: "is given twice (header names ignore case)" });
      seen.add(name.toLowerCase());
    }
  })
  .meta({
    description:
      "Headers of the call. A value may name a secret environment variable, {env.BATON_SECRET_<NAME>}, resolved at call time " +
      "and never stored; Baton sets Content-Type, X-Baton-Execution-Id, X-Baton-Fence-Token and Idempotency-Key itself",
    example: { Authorization: "Bearer {env.BATON_SECRET_PAYMENTS_TOKEN}" },
  });

/** The fields of one HTTP call as written: a step's DO, or (inside `undo`) its compensation. */
export const HTTP_CALL_FIELDS = {
  url: url.optional(),
  method: z.enum(HTTP_METHODS).optional().meta({ description: "default POST; GET and DELETE send no body" }),
  headers: headers.optional(),
  timeoutMs: z
    .number()
    .int()
    .min(100)
    .max(LIMITS.maxHttpTimeoutMs)
    .optional()
    .meta({ description: `How long one call may take, connect to last byte (default ${DEFAULT_HTTP_TIMEOUT_MS}); transport: http only` }),
};

/** The HTTP fields of a step as written, spread into the step schema. */
export const HTTP_STEP_FIELDS = {
  ...HTTP_CALL_FIELDS,
  maxInFlight: z
    .number()
    .int()
    .min(1)
    .max(LIMITS.maxHttpInFlight)
    .optional()
    .meta({ description: `Calls of this step (DO and UNDO) in flight at once, per Baton process (default ${DEFAULT_HTTP_MAX_IN_FLIGHT})` }),
};

/** One HTTP call with every default filled in. */
export interface HttpCall {
  /** The URL template, as validated: `{input.<path>}` placeholders in its path or query. */
  url: string;
  method: HttpMethod;
  /** Header values as written: `{env.NAME}` references, never resolved secrets. */
  headers: Record<string, string>;
  timeoutMs: number;
}

/** How Baton runs an HTTP step: its call, its compensating call, and how many may be in flight. */
export interface HttpStepConfig {
  maxInFlight: number;
  do: HttpCall;
  undo: HttpCall | null;
}

type WrittenCall = {
  url?: string | undefined;
  method?: HttpMethod | undefined;
  headers?: Record<string, string> | undefined;
  timeoutMs?: number | undefined;
};
type WrittenStep = WrittenCall & { maxInFlight?: number | undefined; undo?: boolean | (WrittenCall & object) | undefined };

const CALL_FIELDS = ["url", "method", "headers", "timeoutMs"] as const;

/**
 * The HTTP configuration of a step as written, with defaults (undefined for other transports).
 * Reports through `issue` (path relative to the step) an HTTP field on another transport, an HTTP
 * step without `url`, and `undo: true` on an HTTP step (its undo is a call, so it needs a URL).
 * The undo call takes the DO's headers and timeout unless it gives its own.
 */
export function httpStepOf(
  step: WrittenStep,
  transport: string,
  issue: (path: (string | number)[], message: string) => void,
): HttpStepConfig | undefined {
  const undo = typeof step.undo === "object" ? step.undo : undefined;
  if (transport !== "http") {
    const only = "only for steps with transport 'http'";
    for (const field of [...CALL_FIELDS, "maxInFlight"] as const) {
      if (step[field] !== undefined) issue([field], field === "timeoutMs" ? `${only} (a step's time limit is its leaseMs)` : only);
    }
    for (const field of CALL_FIELDS) if (undo?.[field] !== undefined) issue(["undo", field], only);
    return undefined;
  }
  if (step.url === undefined) issue(["url"], "required when transport is 'http': the URL Baton calls");
  if (step.undo === true)
    issue(["undo"], "an HTTP step's undo is an HTTP call too: give `undo: { url }` (method, headers, timeoutMs optional)");
  if (undo && undo.url === undefined) issue(["undo", "url"], "required for an HTTP step's undo: the URL Baton calls to compensate");
  const call: HttpCall = {
    url: step.url ?? "",
    method: step.method ?? "POST",
    headers: step.headers ?? {},
    timeoutMs: step.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS,
  };
  return {
    maxInFlight: step.maxInFlight ?? DEFAULT_HTTP_MAX_IN_FLIGHT,
    do: call,
    undo: undo
      ? {
          url: undo.url ?? "",
          method: undo.method ?? "POST",
          headers: undo.headers ?? call.headers,
          timeoutMs: undo.timeoutMs ?? call.timeoutMs,
        }
      : null,
  };
}
