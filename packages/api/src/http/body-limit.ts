import { BatonError, BODY_LIMIT_HEADER } from "@baton/engine";
import type { HttpBindings } from "@hono/node-server";
import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "./env.ts";
import { errorResponse } from "./errors.ts";

/** The limit unless configured (`BODY_LIMIT_BYTES`). */
export const DEFAULT_BODY_LIMIT_BYTES = 1024 * 1024;

/** Past the limit, this much more of a refused body is read and thrown away before the 413. */
export const DISCARD_MAX_BYTES = 64 * 1024 * 1024;
/** ...for at most this long; a client still sending after that has its connection closed. */
export const DISCARD_MAX_MS = 10_000;

/**
 * Refuses a request body over `limitBytes` with 413 PAYLOAD_TOO_LARGE, naming the limit. The rest
 * of the refused body is read and thrown away first (up to DISCARD_MAX_BYTES more, within
 * DISCARD_MAX_MS): a server that answers and closes while the client is still sending resets the
 * connection, and a client such as Node's fetch then sees EPIPE instead of the answer. Past that
 * bound the answer closes the connection.
 */
export function bodyLimit(limitBytes: number): MiddlewareHandler<AppEnv> {
  return async function bodyLimit(c, next) {
    c.header(BODY_LIMIT_HEADER, String(limitBytes));
    const declared = c.req.header("content-length");
    if (declared !== undefined && c.req.header("transfer-encoding") === undefined) {
      const size = Number(declared);
      if (!(size > limitBytes)) return next();
      const drained = size <= limitBytes + DISCARD_MAX_BYTES && (await discardDeclared(c));
      return refuse(c, limitBytes, drained, size);
    }
    const body = c.req.raw.body;
    if (!body) return next();
    // No declared length: read up to the limit, then hand the route what was read.
    const reader = body.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > limitBytes) {
        const drained = await discard(reader, limitBytes + DISCARD_MAX_BYTES - size);
        if (!drained) void reader.cancel().catch(() => {});
        return refuse(c, limitBytes, drained);
      }
      chunks.push(value);
    }
    c.req.raw = new Request(c.req.raw, { body: Buffer.concat(chunks) });
    return next();
  };
}

function refuse(c: Context<AppEnv>, limitBytes: number, drained: boolean, sizeBytes?: number): Response {
  // A body not read to its end leaves the connection unusable for another request.
  if (!drained) c.header("Connection", "close");
  const size = sizeBytes === undefined ? "" : ` (${sizeBytes} bytes)`;
  return errorResponse(
    c,
    new BatonError("PAYLOAD_TOO_LARGE", `The request body${size} is larger than the limit of ${limitBytes} bytes`, {
      limitBytes,
      ...(sizeBytes === undefined ? {} : { sizeBytes }),
    }),
  );
}

/**
 * Reads and drops a body of a declared length (Node's parser stops at that length). Served by
 * @hono/node-server, the request's Node stream flows straight into the void, untouched by the web
 * stream over it, which would take several times longer.
 */
async function discardDeclared(c: Context<AppEnv>): Promise<boolean> {
  const incoming = (c.env as Partial<HttpBindings> | undefined)?.incoming;
  if (!incoming) return discard((c.req.raw.body as ReadableStream<Uint8Array>).getReader(), Number.POSITIVE_INFINITY);
  if (incoming.readableEnded) return true;
  return new Promise<boolean>((resolve) => {
    const settle = (drained: boolean) => {
      clearTimeout(timer);
      incoming.off("end", ended).off("close", closed);
      resolve(drained);
    };
    const ended = () => settle(true);
    const closed = () => settle(incoming.readableEnded);
    const timer = setTimeout(() => settle(false), DISCARD_MAX_MS);
    incoming.on("end", ended).on("close", closed);
    incoming.resume();
  });
}

/** Reads and drops the rest of a body; true when it ended within `maxBytes` and DISCARD_MAX_MS. */
async function discard(reader: ReadableStreamDefaultReader<Uint8Array>, maxBytes: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), DISCARD_MAX_MS);
  });
  const drain = async () => {
    let read = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return true;
      read += value.byteLength;
      if (read > maxBytes) return false;
    }
  };
  try {
    return await Promise.race([drain(), timeout]);
  } catch {
    return false; // the client went away
  } finally {
    clearTimeout(timer);
  }
}
