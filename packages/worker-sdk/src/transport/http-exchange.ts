import http from "node:http";
import https from "node:https";

/** One HTTP request and its whole answer, as the HTTP transport needs it. */
export interface HttpRequest {
  method: "GET" | "POST";
  url: string;
  headers: Record<string, string>;
  body?: string;
  /** The whole exchange's time limit: past it, it fails with ExchangeTimeout. */
  timeoutMs: number;
  /** The caller's own abort (a worker stopping): the exchange fails with the signal's reason. */
  signal?: AbortSignal;
}

/** An exchange that got no whole answer within its time limit. */
export class ExchangeTimeout extends Error {
  constructor(readonly timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
    this.name = "ExchangeTimeout";
  }
}

export interface HttpAnswer {
  status: number;
  header(name: string): string | null;
  text: string;
}

export type HttpExchange = (request: HttpRequest) => Promise<HttpAnswer>;

/** An exchange over a caller's `fetch` (tests script it; a service may route it through a proxy). */
export function fetchExchange(doFetch: typeof fetch): HttpExchange {
  return async ({ method, url, headers, body, timeoutMs, signal }) => {
    // One controller ended by the caller's signal or the time limit, detached afterwards (Node 20's
    // AbortSignal.any keeps every signal it made alive in its sources: a worker's polls would pile up).
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort(new ExchangeTimeout(timeoutMs));
    }, timeoutMs);
    const abort = () => controller.abort(signal?.reason);
    if (signal?.aborted) abort();
    else signal?.addEventListener("abort", abort, { once: true });
    try {
      const response = await doFetch(url, { method, headers, ...(body === undefined ? {} : { body }), signal: controller.signal });
      const text = await response.text();
      return { status: response.status, header: (name) => response.headers.get(name), text };
    } catch (error) {
      throw timedOut ? new ExchangeTimeout(timeoutMs) : error;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", abort);
    }
  };
}

/**
 * Idle keep-alive sockets are closed after this long, before Node's server closes them at its
 * default keepAliveTimeout of 5 s: a request sent on a socket the server is closing is reset.
 */
const IDLE_SOCKET_MS = 4000;

/**
 * Connections one transport opens to the server at most, unless told otherwise (`maxConnections`);
 * further requests wait for a free one.
 * A burst of calls then queues in the caller's process instead of opening thousands of
 * connections the server must hold in memory (measured: a server offered 2,000 starts/s over
 * unbounded connections peaked at ~670-840 MB RSS).
 */
export const DEFAULT_MAX_CONNECTIONS = 64;

/**
 * The default exchange: node:http(s) on a keep-alive agent of its own. Measured on the 2-core
 * bench machine, the global `fetch` (undici's WHATWG layer) cost ~720 µs of client CPU per request
 * against ~200 µs here, and workers and clients usually share their machine with other work.
 */
export function nodeExchange(baseUrl: string, maxConnections = DEFAULT_MAX_CONNECTIONS): HttpExchange {
  const secure = baseUrl.startsWith("https:");
  const agent = secure
    ? new https.Agent({ keepAlive: true, scheduling: "lifo", timeout: IDLE_SOCKET_MS, maxSockets: maxConnections })
    : new http.Agent({ keepAlive: true, scheduling: "lifo", timeout: IDLE_SOCKET_MS, maxSockets: maxConnections });
  const requestOn = secure ? https.request : http.request;
  // The time limit is a plain timer and the caller's signal one listener, both removed when the
  // exchange settles: per request, AbortSignal.timeout and a signal handed to http.request cost
  // about a tenth of the client's CPU.
  const once = (request: HttpRequest) =>
    new Promise<HttpAnswer & { reusedSocket?: boolean }>((resolve, reject) => {
      const { signal, timeoutMs } = request;
      if (signal?.aborted) return reject(signal.reason);
      const headers: Record<string, string | number> = { ...request.headers };
      if (request.body !== undefined) headers["content-length"] = Buffer.byteLength(request.body);
      let failure: Error | undefined;
      const stop = (error: Error) => {
        failure ??= error;
        req.destroy(failure);
      };
      const timer = setTimeout(() => stop(new ExchangeTimeout(timeoutMs)), timeoutMs);
      const abort = () => stop(signal?.reason instanceof Error ? signal.reason : new Error("The operation was aborted"));
      signal?.addEventListener("abort", abort, { once: true });
      const settled = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", abort);
      };
      const failed = (error: Error & { reusedSocket?: boolean }) => {
        settled();
        if (failure) return reject(failure);
        error.reusedSocket = req.reusedSocket;
        reject(error);
      };
      const req = requestOn(request.url, { method: request.method, headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("error", failed);
        res.on("end", () => {
          settled();
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({ status: res.statusCode ?? 0, header: (name) => headerValue(res.headers[name.toLowerCase()]), text });
        });
      });
      req.on("error", failed);
      req.end(request.body);
    });
  return async (request) => {
    try {
      return await once(request);
    } catch (error) {
      // A kept-alive socket the server closed as we reused it: the request never reached the
      // server's handler, so sending it once more on a fresh socket is safe (Node's advice).
      const reset = error as { code?: string; reusedSocket?: boolean };
      if (reset.reusedSocket && reset.code === "ECONNRESET" && !request.signal?.aborted) return once(request);
      throw error;
    }
  };
}

function headerValue(value: string | string[] | undefined): string | null {
  if (value === undefined) return null;
  return Array.isArray(value) ? value.join(", ") : value;
}
