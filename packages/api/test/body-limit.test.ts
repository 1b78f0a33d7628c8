import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { BODY_LIMIT_HEADER } from "@baton/engine";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness } from "./http-harness.ts";

const LIMIT = 256 * 1024;

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ app: { bodyLimitBytes: LIMIT } });
});
afterAll(() => h.close());

/**
 * Posts bodies of the given sizes with Node's own fetch from another process, as a worker would:
 * in one process the server's event loop and the client's take turns, and the client always reads
 * the answer before it sees its connection reset. Each body is sent with its length declared, or
 * streamed without one (`chunked`), one after another or all at once (`together`). Answers the
 * status and body (or the error) of each.
 */
async function postFromAnotherProcess(url: string, posts: { size: number; chunked?: boolean }[], together = false) {
  const script = `
    const [url, posts, together] = JSON.parse(process.argv[1]);
    const post = async ({ size, chunked }) => {
      const text = JSON.stringify({ items: [{ output: "x".repeat(size) }] });
      const body = chunked ? new Blob([text]).stream() : text;
      try {
        const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body, duplex: "half" });
        return { status: res.status, body: await res.json() };
      } catch (error) {
        return { error: String(error.cause?.code ?? error.cause ?? error) };
      }
    };
    const answers = together ? await Promise.all(posts.map(post)) : [];
    if (!together) for (const p of posts) answers.push(await post(p));
    process.stdout.write(JSON.stringify(answers));
  `;
  const { stdout } = await promisify(execFile)(process.execPath, [
    "--input-type=module",
    "-e",
    script,
    JSON.stringify([url, posts, together]),
  ]);
  return JSON.parse(stdout) as { status?: number; body?: unknown; error?: string }[];
}

const refusal = {
  status: 413,
  body: {
    error: {
      code: "PAYLOAD_TOO_LARGE",
      message: expect.stringContaining(`limit of ${LIMIT} bytes`),
      details: expect.objectContaining({ limitBytes: LIMIT }),
    },
  },
};

describe("a body over the limit", () => {
  it("is answered 413 PAYLOAD_TOO_LARGE, naming the limit, to a client still sending it", async () => {
    const MiB = 1024 * 1024;
    const url = `${h.url}/v1/tasks/complete`;
    const oneByOne = [{ size: MiB }, { size: 4 * MiB }, { size: 4 * MiB, chunked: true }];
    expect(await postFromAnotherProcess(url, oneByOne)).toEqual(oneByOne.map(() => refusal));
    const together = [{ size: 4 * MiB }, { size: 4 * MiB }];
    expect(await postFromAnotherProcess(url, together, true)).toEqual(together.map(() => refusal));
  });

  it("is refused with the size when declared, and the connection carries the next request", async () => {
    const body = JSON.stringify({ workerId: "w1", queues: ["q"], pad: "x".repeat(LIMIT) });
    const first = await h.call("POST", "/v1/tasks/acquire", body);
    expect(first.status).toBe(413);
    expect(first.body.error.details).toEqual({ limitBytes: LIMIT, sizeBytes: Buffer.byteLength(body) });
    expect(first.headers.get("connection")).not.toBe("close");
    const next = await h.call("POST", "/v1/tasks/acquire", { workerId: "w1", queues: ["q"] });
    expect(next.status).toBe(200);
  });

  it("is stated on every /v1 answer, so clients can refuse a body over it before sending", async () => {
    const answer = await h.call("GET", "/v1/workflows");
    expect(answer.headers.get(BODY_LIMIT_HEADER)).toBe(String(LIMIT));
    const refused = await h.call("POST", "/v1/tasks/acquire", { workerId: "", queues: [] });
    expect(refused.status).toBe(400);
    expect(refused.headers.get(BODY_LIMIT_HEADER)).toBe(String(LIMIT));
  });

  it("reads a body sent in chunks without a length, or starting with a byte order mark, like any other", async () => {
    const name = `chunked-${crypto.randomUUID().slice(0, 8)}`;
    const text = JSON.stringify({ name, steps: [{ name: "a" }] });
    const chunks = [text.slice(0, 10), text.slice(10)].map((part) => new TextEncoder().encode(part));
    const chunked = await fetch(`${h.url}/v1/workflows`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: new ReadableStream({
        start(controller) {
          for (const chunk of chunks) controller.enqueue(chunk);
          controller.close();
        },
      }),
      duplex: "half",
    } as RequestInit);
    expect(chunked.status).toBe(201);
    expect(await chunked.json()).toMatchObject({ name, version: 1 });
    const marked = await h.call("POST", `/v1/workflows/${name}/runs`, `\uFEFF${JSON.stringify({ runId: "bom", input: { ok: true } })}`);
    expect(marked.status).toBe(201);
    expect(marked.body).toMatchObject({ runId: "bom", created: true });
  });
});
