import { type HttpCall, LIMITS, renderHeaders, renderUrl } from "@baton/engine";
import { type HandlerContext, NonRetryableError } from "@baton/worker-sdk";
import type { CallVerdict, CircuitBreakers } from "./circuit-breakers.ts";
import type { HostPolicy } from "./host-policy.ts";
import { type HttpAnswer, sendHttp } from "./http-call.ts";

/** How one call ended, as /metrics counts it. */
export type CallOutcome =
  | "success"
  | "client_error"
  | "server_error"
  | "timeout"
  | "connection_error"
  | "short_circuited"
  | "refused"
  | "invalid"
  | "aborted";

export interface StepCallDeps {
  policy: HostPolicy;
  breakers: CircuitBreakers;
  /** The BATON_SECRET_* variables headers may name. */
  secrets: Readonly<Record<string, string>>;
  onOutcome: (host: string, outcome: CallOutcome) => void;
}

/** How much of an error answer's body is kept in the attempt's error. */
const BODY_EXCERPT = 2048;

/** An attempt that failed and may be retried (the step's retry policy decides). */
class HttpStepError extends Error {
  override readonly name = "HttpStepError";
  /** The service's Retry-After: the worker SDK reports it, and the retry waits at least this long. */
  readonly retryAfterMs: number | undefined;
  constructor(
    message: string,
    readonly details: Record<string, unknown>,
  ) {
    super(message);
    this.retryAfterMs = typeof details.retryAfterMs === "number" ? details.retryAfterMs : undefined;
    // The runner's stack says nothing about the service; the details say what happened.
    this.stack = undefined;
  }
}

function final(message: string, details: Record<string, unknown>): NonRetryableError {
  const error = new NonRetryableError(message, details);
  error.stack = undefined;
  return error;
}

/**
 * One attempt of an HTTP step: fills in the URL and headers, asks the host's circuit breaker,
 * calls the service with the step input as JSON (no body for GET and DELETE) and the attempt's
 * fence headers, and turns the answer into the step's output (2xx: the response JSON, or its text)
 * or a failure: non-retryable for other 4xx, 3xx, a refused host or a template that cannot be
 * filled; retryable for 5xx, 408, 429, timeouts, connection errors and an open breaker.
 */
export async function callHttpStep(ctx: HandlerContext<unknown>, call: HttpCall, deps: StepCallDeps): Promise<unknown> {
  const rendered = renderUrl(call.url, ctx.input);
  if ("error" in rendered) throw final(`cannot call ${call.method} ${call.url}: ${rendered.error}`, { reason: "template" });
  const { url } = rendered;
  const target = { method: call.method, url: url.href, host: url.host };
  const headers = renderHeaders(call.headers, deps.secrets);
  if ("error" in headers) throw final(`cannot call ${call.method} ${call.url}: ${headers.error}`, { reason: "secret", ...target });
  const refusal = deps.policy.urlRefusal(url);
  if (refusal) {
    deps.onOutcome(url.host, "refused");
    throw final(`refused to call ${call.method} ${url.href}: ${refusal}`, { reason: "host-refused", ...target });
  }
  const permit = deps.breakers.admit(url.host);
  if (!("done" in permit)) {
    deps.onOutcome(url.host, "short_circuited");
    const when = permit.retryInMs > 0 ? `; a trial call may go out in ${permit.retryInMs} ms` : "; a trial call is in flight";
    throw new HttpStepError(`the circuit breaker of ${url.host} is ${permit.state}: no request was sent${when}`, {
      reason: "circuit-open",
      circuit: permit.state,
      ...target,
    });
  }
  const withBody = call.method !== "GET" && call.method !== "DELETE";
  const answer = await sendHttp(deps.policy, {
    url,
    method: call.method,
    headers: {
      accept: "application/json",
      ...(withBody ? { "content-type": "application/json" } : {}),
      "user-agent": "baton-http-steps",
      ...headers.headers,
      "x-baton-execution-id": ctx.executionId,
      "x-baton-fence-token": String(ctx.fenceToken),
      "idempotency-key": `${ctx.instanceId}:${ctx.taskId}:${ctx.kind}:${ctx.attempt}`,
      "x-baton-instance-id": ctx.instanceId,
      "x-baton-step": ctx.step,
      // An element of a fan-out step: the same step's call, once per element.
      ...(ctx.elementIndex !== null ? { "x-baton-element-index": String(ctx.elementIndex) } : {}),
      "x-baton-kind": ctx.kind,
      "x-baton-attempt": String(ctx.attempt),
    },
    body: withBody ? JSON.stringify(ctx.input ?? null) : undefined,
    timeoutMs: call.timeoutMs,
    signal: ctx.signal,
    maxResponseBytes: LIMITS.maxValueBytes,
  });
  const { verdict, outcome, result } = judge(answer, call, target);
  permit.done(verdict);
  deps.onOutcome(url.host, outcome);
  if (result instanceof Error) throw result;
  return result.output;
}

interface Judgement {
  verdict: CallVerdict;
  outcome: CallOutcome;
  result: { output: unknown } | Error;
}

/** What an answer means for the breaker, for /metrics, and for the attempt. */
function judge(answer: HttpAnswer, call: HttpCall, target: { method: string; url: string; host: string }): Judgement {
  const what = `${target.method} ${target.url}`;
  switch (answer.kind) {
    case "aborted":
      return {
        verdict: "neutral",
        outcome: "aborted",
        result: new Error(`${what} was abandoned: the attempt's lease was lost or Baton is stopping`),
      };
    case "refused":
      return {
        verdict: "neutral",
        outcome: "refused",
        result: final(`refused to call ${what}: ${answer.reason}`, { reason: "host-refused", ...target }),
      };
    case "timeout":
      return {
        verdict: "failure",
        outcome: "timeout",
        result: new HttpStepError(`${what} did not answer within ${call.timeoutMs} ms`, {
          reason: "timeout",
          timeoutMs: call.timeoutMs,
          ...target,
        }),
      };
    case "connection":
      return {
        verdict: "failure",
        outcome: "connection_error",
        result: new HttpStepError(`${what} failed: ${answer.message}`, { reason: "connection", code: answer.code, ...target }),
      };
    case "too-large":
      return {
        verdict: "success",
        outcome: "invalid",
        result: final(`${what} answered ${answer.status} with a body over ${LIMITS.maxValueBytes} bytes (maxValueBytes)`, {
          reason: "response-too-large",
          status: answer.status,
          ...target,
        }),
      };
    case "response":
      return judgeResponse(answer, what, target);
  }
}

function judgeResponse(answer: Extract<HttpAnswer, { kind: "response" }>, what: string, target: Record<string, string>): Judgement {
  const { status } = answer;
  if (status >= 200 && status < 300) return { verdict: "success", outcome: "success", result: { output: bodyValue(answer.body) } };
  const details = { reason: "status", status, body: bodyValue(answer.body.slice(0, BODY_EXCERPT)), ...target };
  if (status === 408 || status === 429 || status >= 500) {
    const retryAfterMs = retryAfter(answer.headers["retry-after"]);
    return {
      verdict: "failure",
      outcome: status >= 500 ? "server_error" : "client_error",
      result: new HttpStepError(`${what} answered ${status}`, { ...details, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) }),
    };
  }
  if (status >= 300 && status < 400) {
    const location = answer.headers.location ?? null;
    return {
      verdict: "success",
      outcome: "invalid",
      result: final(`${what} answered ${status}: redirects are not followed`, { ...details, location }),
    };
  }
  return { verdict: "success", outcome: "client_error", result: final(`${what} answered ${status}`, details) };
}

/** A response body as a value: its JSON, else its text; an empty body is null. */
function bodyValue(text: string): unknown {
  if (text === "") return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** Retry-After (seconds, or an HTTP date) in milliseconds, at most a day; undefined when absent or unreadable. */
export function retryAfter(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const seconds = /^\s*(\d{1,9})\s*$/.exec(value);
  const ms = seconds ? Number(seconds[1]) * 1000 : Date.parse(value) - Date.now();
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(Math.max(0, Math.round(ms)), LIMITS.maxBackoffMs);
}
