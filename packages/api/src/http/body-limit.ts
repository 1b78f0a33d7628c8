import type { IncomingMessage } from "node:http";
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
      if (size > limitBytes) {
        const drained = size <= limitBytes + DISCARD_MAX_BYTES && (await discardIncoming(c));
        return refuse(c, limitBytes, drained, size);
      }
    }
    const incoming = (c.env as Partial<HttpBindings> | undefined)?.incoming;
    if (incoming) {
      if (c.req.method === "GET" || c.req.method === "HEAD") return next();
      const body = await readIncoming(incoming, limitBytes);
      if (body === "too large") return refuse(c, limitBytes, await discardIncoming(c, DISCARD_MAX_BYTES));
      keepBody(c, incoming, body);
      return next();
    }
    // Not served by node:http (a test's app.request): read the web body, up to the limit.
    const body = c.req.raw.body;
    if (!body || declared !== undefined) return next();
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

/**
 * Reads a request body straight from Node's stream, at most `limitBytes` (else "too large", with
 * the rest left for `discardIncoming`). Hono would read it through a web Request and stream built
 * over the Node one: measured at about a tenth of the server's CPU on the hot routes.
 */
function readIncoming(incoming: IncomingMessage, limitBytes: number): Promise<Buffer | "too large"> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (outcome: Buffer | "too large" | Error) => {
      incoming.off("data", data).off("end", end).off("error", failed).off("close", closed);
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    };
    const data = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limitBytes) {
        incoming.pause();
        settle("too large");
      } else chunks.push(chunk);
    };
    const end = () => settle(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    const failed = (error: Error) => settle(error);
    // The client went away before the body ended: nobody is left to answer.
    const closed = () => {
      if (!incoming.readableEnded) settle(new Error("the client closed the connection before the request body ended"));
    };
    if (incoming.readableEnded) return resolve(Buffer.alloc(0));
    incoming.on("data", data).on("end", end).on("error", failed).on("close", closed);
  });
}

/**
 * Hands the body read from Node to whatever reads it next: Hono's json(), text() and
 * arrayBuffer() answer from its body cache, and a web Request made later (for its signal, say)
 * takes the body as one chunk (`rawBody`, which @hono/node-server honours).
 */
function keepBody(c: Context<AppEnv>, incoming: IncomingMessage, body: Buffer): void {
  Object.assign(incoming, { rawBody: body });
  const bytes = body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer;
  // As Response.text() would decode it: a leading byte order mark is not part of the text.
  const text = body.toString("utf8");
  setBodyCache(c, { arrayBuffer: bytes, text: text.charCodeAt(0) === 0xfeff ? text.slice(1) : text });
}

/**
 * Replaces what Hono's json(), text() and arrayBuffer() answer for this request (each derives
 * from another when it is missing). Hono keeps promises in its body cache, whatever the type of
 * the field says in some of its versions.
 */
export function setBodyCache(c: Context, body: { text: string; arrayBuffer?: ArrayBuffer }): void {
  const cache: Record<string, Promise<unknown>> = { text: Promise.resolve(body.text) };
  if (body.arrayBuffer) cache.arrayBuffer = Promise.resolve(body.arrayBuffer);
  (c.req as { bodyCache: unknown }).bodyCache = cache;
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
 * Reads and drops the rest of a refused body, up to `maxBytes` more within DISCARD_MAX_MS; true
 * when it ended. Served by @hono/node-server, the request's Node stream flows straight into the
 * void, untouched by the web stream over it, which would take several times longer.
 */
async function discardIncoming(c: Context<AppEnv>, maxBytes = Number.POSITIVE_INFINITY): Promise<boolean> {
  const incoming = (c.env as Partial<HttpBindings> | undefined)?.incoming;
  if (!incoming) return discard((c.req.raw.body as ReadableStream<Uint8Array>).getReader(), maxBytes);
  if (incoming.readableEnded) return true;
  return new Promise<boolean>((resolve) => {
    let read = 0;
    const settle = (drained: boolean) => {
      clearTimeout(timer);
      incoming.off("data", counted).off("end", ended).off("close", closed);
      resolve(drained);
    };
    const counted = (chunk: Buffer) => {
      read += chunk.length;
      if (read > maxBytes) settle(false);
    };
    const ended = () => settle(true);
    const closed = () => settle(incoming.readableEnded);
    const timer = setTimeout(() => settle(false), DISCARD_MAX_MS);
    incoming.on("data", counted).on("end", ended).on("close", closed);
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
