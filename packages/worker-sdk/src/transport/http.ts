import type { AcquiredTask, InstancePage, InstanceView, RegisterResult, StartResult, TaskOutcome } from "@baton/contract";
import {
  ACQUIRE_LIMITS,
  BatonError,
  BODY_LIMIT_HEADER,
  codeOfStatus,
  type ErrorCode,
  isBatonError,
  MAX_BATCH_ITEMS,
} from "@baton/contract";
import { ExchangeTimeout, fetchExchange, type HttpAnswer, nodeExchange } from "./http-exchange.ts";
import type { InstanceState, ItemAnswer, RetryResult, StartWaitResult, Transport } from "./transport.ts";

export interface HttpTransportOptions {
  /** Base URL of the Baton API, e.g. `http://localhost:8080`. */
  url: string;
  /** An API key (`baton_...`), sent as `Authorization: Bearer <key>` on every request. */
  apiKey?: string;
  /** Extra headers on every request. */
  headers?: Record<string, string>;
  /** Per-request time limit for everything but the long-poll (default 30000 ms). */
  requestTimeoutMs?: number;
  /**
   * Connections to the server at most (default 64); more concurrent requests wait for a free one.
   * Each long-poll (an acquire, a start that waits) holds one while it waits.
   */
  maxConnections?: number;
  /** A `fetch` to send requests with (default: node:http(s) on a keep-alive agent of this transport's own). */
  fetch?: typeof fetch;
}

interface RequestOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** `{"items":[]}`: what a batch body weighs besides its items. */
const EMPTY_BATCH_BYTES = 12;

/** Extra time the long-poll gets over its `waitMs` before the client gives up on the server. */
const LONG_POLL_GRACE_MS = 15_000;

/**
 * A transport speaking the HTTP API of DESIGN §7. Error responses become `BatonError`s with the
 * server's `code`; a request that never got an answer (refused, reset, timed out) is `UNAVAILABLE`.
 * Every /v1 answer states the server's body limit (`X-Baton-Body-Limit`); once one has, a body over
 * it is refused here with PAYLOAD_TOO_LARGE without being sent, and batches are packed under it.
 * @example const transport = createHttpTransport({ url: "http://localhost:8080" });
 */
export function createHttpTransport(options: HttpTransportOptions): Transport {
  if (typeof options.url !== "string" || !/^https?:\/\//.test(options.url)) {
    throw new TypeError(`url: expected an http(s) URL such as http://localhost:8080, got ${JSON.stringify(options.url)}`);
  }
  const base = options.url.replace(/\/+$/, "");
  const auth: Record<string, string> = options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {};
  const { maxConnections } = options;
  if (maxConnections !== undefined && !(Number.isInteger(maxConnections) && maxConnections >= 1 && maxConnections <= 10_000)) {
    throw new TypeError(`maxConnections: expected an integer from 1 to 10000, got ${JSON.stringify(maxConnections)}`);
  }
  const exchange = options.fetch ? fetchExchange(options.fetch) : nodeExchange(base, maxConnections);
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  /** The server's body limit as its last answer stated it; unknown until then (the server decides). */
  let bodyLimitBytes: number | undefined;

  /** Sends a body already encoded as JSON (or none) and answers the parsed JSON answer. */
  async function send<T>(method: "GET" | "POST", path: string, json: string | undefined, opts: RequestOptions = {}): Promise<T> {
    if (json !== undefined && bodyLimitBytes !== undefined) {
      const size = Buffer.byteLength(json);
      if (size > bodyLimitBytes) throw tooLarge(`${method} ${path}: the request body`, size, bodyLimitBytes);
    }
    const timeoutMs = opts.timeoutMs ?? requestTimeoutMs;
    let response: HttpAnswer;
    try {
      response = await exchange({
        method,
        url: `${base}${path}`,
        headers: {
          accept: "application/json",
          ...(json === undefined ? {} : { "content-type": "application/json" }),
          ...auth,
          ...options.headers,
        },
        ...(json === undefined ? {} : { body: json }),
        timeoutMs,
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    } catch (error) {
      // The caller's own abort is not a failure of the server: let the caller see it as such.
      if (opts.signal?.aborted) throw opts.signal.reason ?? error;
      const why = error instanceof ExchangeTimeout ? error.message : describeNetworkError(error);
      throw new BatonError("UNAVAILABLE", `${method} ${path}: ${why}`, { url: `${base}${path}` }, { cause: error });
    }
    const { status, text } = response;
    const stated = Number(response.header(BODY_LIMIT_HEADER) ?? Number.NaN);
    if (Number.isSafeInteger(stated) && stated > 0) bodyLimitBytes = stated;
    const parsed = parseJson(text);
    if (status < 200 || status > 299) throw errorFromResponse(method, path, status, parsed, text);
    if (parsed === undefined) {
      throw new BatonError("INTERNAL", `${method} ${path}: expected a JSON body, got ${JSON.stringify(text.slice(0, 200))}`, {
        status,
      });
    }
    return parsed as T;
  }

  const request = <T>(method: "GET" | "POST", path: string, body?: unknown, opts?: RequestOptions) =>
    send<T>(method, path, body === undefined ? undefined : JSON.stringify(body), opts);

  /**
   * A batch route: each item encoded once, and the items sent in as few requests as the server
   * takes (MAX_BATCH_ITEMS each, under its body limit), each item answered on its own. An item
   * that alone is over the limit is refused with PAYLOAD_TOO_LARGE, as it would be sent singly.
   */
  async function batch<T>(path: string, items: readonly object[]): Promise<ItemAnswer<T>[]> {
    const encoded = items.map((item) => JSON.stringify(item));
    const answers: ItemAnswer<T>[] = new Array(items.length);
    const requests: number[][] = [];
    let open: number[] = [];
    let openBytes = EMPTY_BATCH_BYTES;
    for (const [at, json] of encoded.entries()) {
      const bytes = Buffer.byteLength(json) + 1; // and its comma
      if (bodyLimitBytes !== undefined && EMPTY_BATCH_BYTES + bytes > bodyLimitBytes) {
        answers[at] = tooLarge("this report", EMPTY_BATCH_BYTES + bytes, bodyLimitBytes);
        continue;
      }
      if (open.length === MAX_BATCH_ITEMS || (bodyLimitBytes !== undefined && openBytes + bytes > bodyLimitBytes)) {
        requests.push(open);
        open = [];
        openBytes = EMPTY_BATCH_BYTES;
      }
      open.push(at);
      openBytes += bytes;
    }
    if (open.length > 0) requests.push(open);
    await Promise.all(
      requests.map(async (indices) => {
        const bodies = indices.map((at) => encoded[at] as string);
        const sent = await sendBatch<T>(path, bodies);
        for (const [i, at] of indices.entries()) answers[at] = sent[i] as ItemAnswer<T>;
      }),
    );
    return answers;
  }

  /** One batch request; a body the server still finds too large (a proxy's lower limit) is halved. */
  async function sendBatch<T>(path: string, encoded: string[]): Promise<ItemAnswer<T>[]> {
    try {
      const { results } = await send<{ results: unknown[] }>("POST", path, `{"items":[${encoded.join(",")}]}`);
      return results.map((result) => errorFromBody(result) ?? (result as T));
    } catch (error) {
      // Too large alone is that item's own refusal, as it would be sent singly.
      if (!isBatonError(error, "PAYLOAD_TOO_LARGE")) throw error;
      if (encoded.length === 1) return [error];
      const half = Math.ceil(encoded.length / 2);
      const [head, tail] = await Promise.all([sendBatch<T>(path, encoded.slice(0, half)), sendBatch<T>(path, encoded.slice(half))]);
      return [...head, ...tail];
    }
  }

  const id = encodeURIComponent;
  type StateAnswer = { state: InstanceState };

  return {
    async acquire({ signal, workerId, queues, max, waitMs }) {
      // The server's bounds (DESIGN §7): ask for no more than it hands out in one answer.
      const body = {
        workerId,
        queues,
        max: Math.min(max, ACQUIRE_LIMITS.maxTasks),
        waitMs: Math.min(Math.round(waitMs), ACQUIRE_LIMITS.maxWaitMs),
      };
      try {
        const { tasks } = await request<{ tasks: AcquiredTask[] }>("POST", "/v1/tasks/acquire", body, {
          ...(signal ? { signal } : {}),
          timeoutMs: body.waitMs + LONG_POLL_GRACE_MS,
        });
        return tasks;
      } catch (error) {
        if (signal?.aborted) return [];
        throw error;
      }
    },
    heartbeat: ({ executionId, ...body }) => request("POST", `/v1/tasks/${id(executionId)}/heartbeat`, body),
    complete: ({ executionId, ...body }) => request<TaskOutcome>("POST", `/v1/tasks/${id(executionId)}/complete`, body),
    fail: ({ executionId, ...body }) => request<TaskOutcome>("POST", `/v1/tasks/${id(executionId)}/fail`, body),
    heartbeatMany: (leases) => batch("/v1/tasks/heartbeat", leases),
    completeMany: (reports) => batch("/v1/tasks/complete", reports),
    failMany: (reports) => batch("/v1/tasks/fail", reports),
    async release(leases) {
      let released = 0;
      for (let at = 0; at < leases.length; at += MAX_BATCH_ITEMS) {
        const items = leases.slice(at, at + MAX_BATCH_ITEMS);
        released += (await request<{ released: number }>("POST", "/v1/tasks/release", { items })).released;
      }
      return { released };
    },
    register: (definition) => request<RegisterResult>("POST", "/v1/workflows", definition),
    start: (workflow, params) =>
      request<StartResult | StartWaitResult>("POST", `/v1/workflows/${id(workflow)}/runs`, params, {
        // A start that waits is answered when its run ends, up to waitMs later.
        timeoutMs: params.waitMs === undefined ? requestTimeoutMs : Math.max(requestTimeoutMs, params.waitMs + LONG_POLL_GRACE_MS),
      }),
    get: (instanceId) => request<InstanceView>("GET", `/v1/instances/${id(instanceId)}`),
    list: (params) => {
      const query = new URLSearchParams();
      for (const [key, value] of Object.entries(params)) if (value !== undefined) query.set(key, String(value));
      const qs = query.toString();
      return request<InstancePage>("GET", `/v1/instances${qs ? `?${qs}` : ""}`);
    },
    pause: (instanceId) => request<StateAnswer>("POST", `/v1/instances/${id(instanceId)}/pause`, {}),
    resume: (instanceId) => request<StateAnswer>("POST", `/v1/instances/${id(instanceId)}/resume`, {}),
    cancel: (instanceId) => request<StateAnswer>("POST", `/v1/instances/${id(instanceId)}/cancel`, {}),
    compensate: (instanceId, fromTaskId) =>
      request<StateAnswer>("POST", `/v1/instances/${id(instanceId)}/compensate`, fromTaskId === undefined ? {} : { fromTaskId }),
    retry: (instanceId, taskId, input) =>
      request<RetryResult>("POST", `/v1/instances/${id(instanceId)}/tasks/${id(taskId)}/retry`, input === undefined ? {} : { input }),
  };
}

/** The refusal of a body over the server's limit, made here instead of by sending it. */
function tooLarge(what: string, sizeBytes: number, limitBytes: number): BatonError {
  return new BatonError("PAYLOAD_TOO_LARGE", `${what} is ${sizeBytes} bytes as JSON, over the server's body limit of ${limitBytes} bytes`, {
    sizeBytes,
    limitBytes,
  });
}

function parseJson(text: string): unknown {
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The BatonError in a `{error: {code, message, details}}` body (an error answer, or a batch item's refusal). */
function errorFromBody(body: unknown, fallbackMessage = "refused"): BatonError | undefined {
  const error = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)?.error;
  if (!error || typeof error.code !== "string") return undefined;
  const details = typeof error.details === "object" && error.details !== null ? (error.details as Record<string, unknown>) : {};
  return new BatonError(error.code as ErrorCode, typeof error.message === "string" ? error.message : fallbackMessage, details);
}

function errorFromResponse(method: string, path: string, status: number, body: unknown, text: string): BatonError {
  const error = errorFromBody(body, `${method} ${path} answered ${status}`);
  if (error) return error;
  // Without a Baton error body (a proxy's page, say): a gateway's 5xx is UNAVAILABLE, other statuses
  // the code they stand for, else INTERNAL or VALIDATION_ERROR by their class.
  const code = status >= 502 ? "UNAVAILABLE" : (codeOfStatus(status) ?? (status >= 500 ? "INTERNAL" : "VALIDATION_ERROR"));
  return new BatonError(code, `${method} ${path} answered ${status}: ${text.slice(0, 200)}`, { status });
}

function describeNetworkError(error: unknown): string {
  const base = error instanceof Error ? error.message : String(error);
  if ((error as { code?: unknown }).code !== undefined) return base;
  // undici's fetch reports "fetch failed" and puts the useful part (ECONNREFUSED ...) in `cause`.
  const cause = error instanceof Error ? (error.cause as { code?: string; message?: string } | undefined) : undefined;
  return cause?.code ? `${base} (${cause.code})` : cause?.message ? `${base} (${cause.message})` : base;
}
