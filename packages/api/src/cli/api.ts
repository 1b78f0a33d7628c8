import type { ApiKeyView, EventPage, WorkerView, WorkflowView } from "@baton/engine";
import { BatonError, type Client, createClient, type ErrorCode } from "@baton/worker-sdk";

/** Where the CLI finds Baton: `--url` / BATON_URL and `--api-key` / BATON_API_KEY. */
export interface Connection {
  url: string;
  apiKey?: string;
}

export type Page<T> = { items: T[]; nextCursor: string | null };

/**
 * The CLI's view of the HTTP API: the SDK's client for runs (start, read, operate), and plain calls
 * for what the SDK does not cover (definitions, workers, keys, history pages). Every refusal is a
 * `BatonError` with the server's code, message and details.
 */
export interface BatonApi {
  runs: Client;
  workflows(params: { namespace?: string; cursor?: string; limit?: number }): Promise<Page<WorkflowView>>;
  workflow(name: string, namespace?: string): Promise<WorkflowView>;
  workers(params: { cursor?: string; limit?: number }): Promise<Page<WorkerView>>;
  events(instanceId: string, params: { cursor?: string; limit?: number }): Promise<EventPage>;
  keys(): Promise<{ items: ApiKeyView[] }>;
  createKey(body: { name: string; role: string; namespaces?: string[]; queues?: string[] }): Promise<{ key: ApiKeyView; token: string }>;
  revokeKey(keyId: string): Promise<ApiKeyView>;
}

/** How long one call may take before the CLI reports the server as unavailable. */
const REQUEST_TIMEOUT_MS = 30_000;

export function connectApi(connection: Connection): BatonApi {
  if (!/^https?:\/\/[^\s/]+/.test(connection.url)) {
    throw new BatonError(
      "VALIDATION_ERROR",
      `--url / BATON_URL: expected an http(s) URL such as http://127.0.0.1:8080, got '${connection.url}'`,
    );
  }
  const base = connection.url.replace(/\/+$/, "");
  const auth: Record<string, string> = connection.apiKey ? { authorization: `Bearer ${connection.apiKey}` } : {};
  // A CLI call is one try: a failure is reported at once rather than retried behind the user's back.
  const runs = createClient({ url: base, ...(connection.apiKey ? { apiKey: connection.apiKey } : {}), retry: { retries: 0 } });

  async function call<T>(method: "GET" | "POST" | "DELETE", path: string, body?: unknown): Promise<T> {
    let response: Response;
    let text: string;
    try {
      response = await fetch(`${base}${path}`, {
        method,
        headers: { accept: "application/json", ...(body === undefined ? {} : { "content-type": "application/json" }), ...auth },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      text = await response.text();
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code;
      throw new BatonError("UNAVAILABLE", `${method} ${base}${path}: no answer${cause ? ` (${cause})` : ""}; is Baton running there?`, {
        url: `${base}${path}`,
      });
    }
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (response.ok && parsed !== undefined) return parsed as T;
    const error = (parsed as { error?: { code?: string; message?: string; details?: Record<string, unknown> } } | undefined)?.error;
    if (error?.code) throw new BatonError(error.code as ErrorCode, error.message ?? `${method} ${path} refused`, error.details ?? {});
    throw new BatonError(
      response.status >= 500 ? "UNAVAILABLE" : "VALIDATION_ERROR",
      `${method} ${path} answered ${response.status}: ${text.slice(0, 200)}`,
      {
        status: response.status,
      },
    );
  }

  const query = (params: Record<string, string | number | undefined>) => {
    const q = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) if (value !== undefined) q.set(key, String(value));
    const text = q.toString();
    return text ? `?${text}` : "";
  };
  const id = encodeURIComponent;

  return {
    runs,
    workflows: (params) => call("GET", `/v1/workflows${query(params)}`),
    workflow: (name, namespace) => call("GET", `/v1/workflows/${id(name)}${query({ namespace })}`),
    workers: (params) => call("GET", `/v1/workers${query(params)}`),
    events: (instanceId, params) => call("GET", `/v1/instances/${id(instanceId)}/events${query(params)}`),
    keys: () => call("GET", "/v1/keys"),
    createKey: (body) => call("POST", "/v1/keys", body),
    revokeKey: (keyId) => call("DELETE", `/v1/keys/${id(keyId)}`),
  };
}
