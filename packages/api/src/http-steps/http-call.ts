import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { request as httpsRequest } from "node:https";
import type { HostPolicy } from "./host-policy.ts";
import { HostRefusedError } from "./host-policy.ts";

/** One HTTP request of a step, everything decided. */
export interface HttpExchange {
  url: URL;
  method: string;
  headers: Record<string, string>;
  /** JSON text, or undefined to send no body. */
  body: string | undefined;
  /** Connect to last byte. */
  timeoutMs: number;
  /** Aborted when the result can no longer count (the lease was lost, the runner stops). */
  signal: AbortSignal;
  /** A response body larger than this is not read to its end. */
  maxResponseBytes: number;
}

/** What became of a request. */
export type HttpAnswer =
  | { kind: "response"; status: number; headers: IncomingHttpHeaders; body: string }
  | { kind: "too-large"; status: number }
  | { kind: "timeout" }
  | { kind: "refused"; reason: string }
  | { kind: "connection"; code: string; message: string }
  | { kind: "aborted" };

/**
 * Makes one request with node:http(s): the host policy checks the URL before and every resolved
 * address at connect time; one timer bounds the whole exchange; the body is read up to a limit.
 * Never rejects: every outcome is an answer. Connections are not kept alive, so every request is
 * checked against the policy as it connects and nothing is left open when the runner stops.
 */
export function sendHttp(policy: HostPolicy, x: HttpExchange): Promise<HttpAnswer> {
  const refusal = policy.urlRefusal(x.url);
  if (refusal) return Promise.resolve({ kind: "refused", reason: refusal });
  if (x.signal.aborted) return Promise.resolve({ kind: "aborted" });
  const timeout = AbortSignal.timeout(x.timeoutMs);
  const signal = AbortSignal.any([x.signal, timeout]);
  const port = x.url.port ? Number(x.url.port) : x.url.protocol === "https:" ? 443 : 80;
  const send = x.url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise<HttpAnswer>((resolve) => {
    let settled = false;
    const settle = (answer: HttpAnswer) => {
      if (settled) return;
      settled = true;
      resolve(answer);
    };
    const failed = (error: unknown) => {
      if (timeout.aborted) return settle({ kind: "timeout" });
      if (x.signal.aborted) return settle({ kind: "aborted" });
      if (error instanceof HostRefusedError) return settle({ kind: "refused", reason: error.message });
      const { code, message } = error as { code?: unknown; message?: unknown };
      settle({ kind: "connection", code: typeof code === "string" ? code : "ERROR", message: String(message ?? error) });
    };
    const req = send(x.url, {
      method: x.method,
      headers: x.body === undefined ? x.headers : { ...x.headers, "content-length": String(Buffer.byteLength(x.body)) },
      agent: false,
      lookup: policy.lookupFor(port),
      signal,
    });
    req.on("error", failed);
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > x.maxResponseBytes) {
          settle({ kind: "too-large", status: res.statusCode ?? 0 });
          req.destroy();
          return;
        }
        chunks.push(chunk);
      });
      res.on("end", () =>
        settle({ kind: "response", status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }),
      );
      res.on("error", failed);
      // The service went away after its headers, before the body ended.
      res.on("close", () => {
        if (!res.complete) failed(Object.assign(new Error("the connection closed before the response ended"), { code: "ECONNRESET" }));
      });
    });
    req.end(x.body);
  });
}
