import { BatonError, type ErrorCode } from "@baton/engine";
import type { Context, Hono } from "hono";

/**
 * The console reads and acts through the HTTP API itself, in process (`app.request`), with the
 * caller's own key: every rule of the API (roles, namespaces, hidden lease holders, strict bodies,
 * typed errors) holds on the pages with no second copy of it here.
 */
export interface ApiReader {
  get<T>(path: string): Promise<T>;
  post<T>(path: string, body?: unknown): Promise<T>;
  /** The /metrics text, or null when the caller may not read it. */
  metrics(): Promise<string | null>;
}

// biome-ignore lint/suspicious/noExplicitAny: any Hono app serves the API
export function apiReader(app: Hono<any>, c: Context): ApiReader {
  const authorization = c.req.header("authorization");
  const headers: Record<string, string> = authorization ? { authorization } : {};

  async function send(method: "GET" | "POST", path: string, body?: unknown): Promise<Response> {
    return app.request(path, {
      method,
      headers: body === undefined ? headers : { ...headers, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  }

  async function json<T>(response: Response, what: string): Promise<T> {
    const parsed = (await response.json().catch(() => undefined)) as
      | { error?: { code: ErrorCode; message: string; details?: Record<string, unknown> } }
      | undefined;
    if (response.ok && parsed) return parsed as T;
    const error = parsed?.error;
    throw error
      ? new BatonError(error.code, error.message, error.details ?? {})
      : new BatonError("INTERNAL", `${what} answered ${response.status}`);
  }

  return {
    get: async (path) => json(await send("GET", path), `GET ${path}`),
    post: async (path, body) => json(await send("POST", path, body ?? {}), `POST ${path}`),
    async metrics() {
      const response = await send("GET", "/metrics");
      return response.ok ? response.text() : null;
    },
  };
}
