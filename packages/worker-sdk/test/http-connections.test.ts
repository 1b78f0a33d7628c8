import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createHttpTransport } from "../src/index.ts";

/** A server that answers every start after `holdMs`, counting the connections open at once. */
async function slowServer(holdMs: number): Promise<{ url: string; server: Server; mostOpen: () => number; connections: () => number }> {
  let open = 0;
  let most = 0;
  let total = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () =>
      setTimeout(() => {
        res.writeHead(201, { "content-type": "application/json" });
        res.end(JSON.stringify({ instanceId: "00000000-0000-4000-8000-000000000000", runId: "r", state: "RUNNING", created: true }));
      }, holdMs),
    );
  });
  server.on("connection", (socket) => {
    total++;
    most = Math.max(most, ++open);
    socket.on("close", () => open--);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, server, mostOpen: () => most, connections: () => total };
}

describe("the HTTP transport's connections", () => {
  let server: Server | undefined;
  afterEach(() => {
    server?.closeAllConnections();
    server?.close();
  });

  it("opens at most maxConnections at once; the other requests wait for one and are all answered", async () => {
    const slow = await slowServer(30);
    server = slow.server;
    const transport = createHttpTransport({ url: slow.url, maxConnections: 3 });
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => transport.start("w", { runId: `r${i}`, input: {} })));
    expect(answers).toHaveLength(12);
    expect(slow.mostOpen()).toBe(3);
    // Kept alive and reused: 12 requests over the 3 connections.
    expect(slow.connections()).toBe(3);
  });

  it("opens 64 at most by default", async () => {
    const slow = await slowServer(50);
    server = slow.server;
    const transport = createHttpTransport({ url: slow.url });
    await Promise.all(Array.from({ length: 100 }, (_, i) => transport.start("w", { runId: `r${i}`, input: {} })));
    expect(slow.mostOpen()).toBe(64);
  });

  it("gives up on a server that does not answer within requestTimeoutMs: UNAVAILABLE, naming the limit", async () => {
    const slow = await slowServer(5_000);
    server = slow.server;
    const transport = createHttpTransport({ url: slow.url, requestTimeoutMs: 200 });
    const began = performance.now();
    const failure = await transport.start("w", { runId: "r", input: {} }).catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: "UNAVAILABLE", message: expect.stringMatching(/no answer within 200 ms/) });
    expect(performance.now() - began).toBeLessThan(2_000);
  });

  it("gives up on an answer whose body stops coming", async () => {
    server = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { "content-type": "application/json", "content-length": "100" });
      res.write('{"tasks": [');
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const { port } = server.address() as AddressInfo;
    const transport = createHttpTransport({ url: `http://127.0.0.1:${port}`, requestTimeoutMs: 200 });
    const failure = await transport.get("00000000-0000-4000-8000-000000000000").catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: "UNAVAILABLE", message: expect.stringMatching(/no answer within 200 ms/) });
  });

  it("ends a long poll at once when the caller aborts it, answering no tasks", async () => {
    const slow = await slowServer(5_000);
    server = slow.server;
    const transport = createHttpTransport({ url: slow.url });
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 100);
    const began = performance.now();
    const tasks = await transport.acquire({ signal: stop.signal, workerId: "w1", queues: ["q"], max: 1, waitMs: 4_000 });
    expect(tasks).toEqual([]);
    expect(performance.now() - began).toBeLessThan(2_000);
  });

  it("refuses a maxConnections that is not a positive integer", () => {
    for (const maxConnections of [0, -1, 1.5, 20_000, Number.NaN]) {
      expect(() => createHttpTransport({ url: "http://127.0.0.1:1", maxConnections })).toThrow(
        /maxConnections: expected an integer from 1 to 10000/,
      );
    }
  });
});
