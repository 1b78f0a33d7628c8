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

/**
 * Ends an exchange at its time limit or on the caller's abort, whichever comes first: `stop` is
 * called once, with ExchangeTimeout or the abort's reason, which `failure` then answers. A plain
 * timer and one listener, both removed by `settled`: per request, AbortSignal.timeout combined
 * through AbortSignal.any cost about a tenth of the client's CPU, and on Node 20 any() keeps every
 * signal it made alive in its source (a worker's polls on its stop signal would pile up).
 */
function exchangeLimit({ timeoutMs, signal }: HttpRequest, stop: (why: Error) => void): { failure(): Error | undefined; settled(): void } {
  let failure: Error | undefined;
  const end = (why: Error) => {
    if (failure) return;
    failure = why;
    stop(why);
  };
  const timer = setTimeout(() => end(new ExchangeTimeout(timeoutMs)), timeoutMs);
  const abort = () => end(signal?.reason instanceof Error ? signal.reason : new Error("The operation was aborted"));
  if (signal?.aborted) abort();
  else signal?.addEventListener("abort", abort, { once: true });
  return {
    failure: () => failure,
    settled() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", abort);
    },
  };
}

/** An exchange over a caller's `fetch` (tests script it; a service may route it through a proxy). */
export function fetchExchange(doFetch: typeof fetch): HttpExchange {
  return async (request) => {
    const { method, url, headers, body } = request;
    const controller = new AbortController();
    const limit = exchangeLimit(request, (why) => controller.abort(why));
    try {
      const response = await doFetch(url, { method, headers, ...(body === undefined ? {} : { body }), signal: controller.signal });
      const text = await response.text();
      return { status: response.status, header: (name) => response.headers.get(name), text };
    } catch (error) {
      throw limit.failure() ?? error;
    } finally {
      limit.settled();
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
  const once = (request: HttpRequest) =>
    new Promise<HttpAnswer & { reusedSocket?: boolean }>((resolve, reject) => {
      const headers: Record<string, string | number> = { ...request.headers };
      if (request.body !== undefined) headers["content-length"] = Buffer.byteLength(request.body);
      const failed = (error: Error & { reusedSocket?: boolean }) => {
        limit.settled();
        const failure = limit.failure();
        if (failure) return reject(failure);
        error.reusedSocket = req.reusedSocket;
        reject(error);
      };
      const req = requestOn(request.url, { method: request.method, headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("error", failed);
        res.on("end", () => {
          limit.settled();
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({ status: res.statusCode ?? 0, header: (name) => headerValue(res.headers[name.toLowerCase()]), text });
        });
      });
      // Made once the request exists: a caller that has aborted already destroys it at once.
      const limit = exchangeLimit(request, (why) => req.destroy(why));
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
