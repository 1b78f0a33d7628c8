import { Agent, request } from "node:http";
import { ERROR_STATUS } from "@baton/engine";
import fc from "fast-check";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { onPglite } from "../../../../test-support/database.ts";
import { type Harness, startHarness } from "../http-harness.ts";
import { type FuzzRequest, OVERSIZED } from "./arbitraries.ts";
import { databaseDigest, settledDigest as settledDigestOf } from "./database-digest.ts";
import { buildFuzzWorld, type FuzzWorld } from "./fuzz-world.ts";
import { ROUTE_REQUESTS } from "./route-requests.ts";

/*
 * Hostile input against every route, over real HTTP against a real server: never a 5xx, the server
 * still healthy after each route's run, and nothing written by any request that was refused.
 *
 * Requests go out in groups fired together (the server is concurrent, and one at a time would make
 * the run minutes long). The database is fingerprinted before and after each group: a group whose
 * every answer is a refusal (or that only read) must leave the fingerprint unchanged. A group with
 * an accepted write cannot say which request wrote, so the fingerprint is taken anew after it; the
 * summary line says how many refusals were checked this way.
 */

// `pnpm test` runs a sample (it runs on every change); `pnpm test:fuzz`, which CI also runs, sends
// 2,000 per route on Postgres.
const REQUESTS_PER_ROUTE = Number(process.env.BATON_FUZZ_REQUESTS ?? (onPglite ? 60 : 250));
const GROUP = 8;

let h: Harness;
let world: FuzzWorld;
/** The database's fingerprint as of the last group (see databaseDigest). */
let digest: string;
const summary: string[] = [];
/** What the server logged at error level (every 5xx logs its cause), to show beside a failure. */
const serverErrors: { reqId?: string; err?: { message: string; stack: string } }[] = [];

beforeAll(async () => {
  const logger = pino({ level: "error" }, { write: (line: string) => void serverErrors.push(JSON.parse(line)) });
  h = await startHarness({ app: { logger } });
  world = await buildFuzzWorld(h);
  digest = await settledDigest();
}, 60_000);
afterAll(async () => {
  console.log(
    `HTTP fuzz on ${onPglite ? "PGlite" : "Postgres"}: ${REQUESTS_PER_ROUTE} requests per route` +
      " (pnpm test samples 250 per route on Postgres and 60 on PGlite; pnpm test:fuzz, run by CI, 2,000 on Postgres;" +
      " BATON_FUZZ_REQUESTS overrides)\n" +
      summary.join("\n"),
  );
  agent.destroy();
  await h?.close();
});

describe("HTTP fuzz", () => {
  it("covers every route of the OpenAPI document", async () => {
    const doc = (await h.call("GET", "/openapi.json")).body as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    expect(Object.keys(ROUTE_REQUESTS)).toEqual(expect.arrayContaining(documented));
  });

  for (const route of Object.keys(ROUTE_REQUESTS)) {
    it(`${route}: no 5xx, refusals write nothing, the server stays up`, async () => {
      const started = performance.now();
      const cpuBefore = process.cpuUsage();
      const counts = { sent: 0, accepted: 0, refused: 0, refusedUnchanged: 0, unanswered: 0 };
      const readOnly = route.startsWith("GET ");
      digest = await settledDigest();
      await fc.assert(
        fc.asyncProperty(
          fc.array((ROUTE_REQUESTS[route] as (w: FuzzWorld) => fc.Arbitrary<FuzzRequest>)(world), { minLength: GROUP, maxLength: GROUP }),
          async (group) => {
            // Every request of the group has its answer before any failure is raised: one still in
            // flight would write into the next group's (or route's) fingerprint.
            const settled = await Promise.allSettled(group.map((r) => send(r)));
            const failure = settled.find((s) => s.status === "rejected");
            if (failure) throw failure.reason;
            const answers = settled.map((s) => (s as PromiseFulfilledResult<Answered | "unanswered">).value);
            counts.sent += group.length;
            for (const [i, answer] of answers.entries()) {
              const request = group[i] as FuzzRequest;
              if (answer === "unanswered") {
                counts.unanswered++;
                continue;
              }
              if (answer.status >= 500 || !answerIsWellFormed(answer)) {
                throw new Error(`${answer.status} ${answer.text.slice(0, 500)}\nfor ${describeRequest(request)}\n${serverErrorOf(answer)}`);
              }
              if (answer.status < 400) counts.accepted++;
              else counts.refused++;
            }
            const wrote = !readOnly && answers.some((a) => a !== "unanswered" && a.status < 400);
            const after = wrote ? await settledDigest() : await databaseDigest(h.engine.database);
            if (!wrote && after !== digest) {
              throw new Error(
                `refused requests changed the database:\n${group.map(describeRequest).join("\n")}\nbefore ${digest}\nafter  ${after}`,
              );
            }
            if (!wrote) counts.refusedUnchanged += answers.filter((a) => a !== "unanswered" && a.status >= 400).length;
            digest = after;
          },
        ),
        { numRuns: Math.ceil(REQUESTS_PER_ROUTE / GROUP), endOnFailure: true },
      );
      expect((await h.call("GET", "/healthz")).status).toBe(200);
      expect((await h.call("GET", "/readyz")).status).toBe(200);
      summary.push(
        `  ${route}: ${counts.sent} sent in ${Math.round(performance.now() - started)} ms ` +
          `(${Math.round(cpuMs(process.cpuUsage(cpuBefore)))} ms CPU in this process); ${counts.accepted} accepted, ` +
          `${counts.refused} refused (${counts.refusedUnchanged} checked to write nothing)` +
          (counts.unanswered ? `, ${counts.unanswered} oversized bodies cut off unanswered` : ""),
      );
    }, 120_000);
  }
});

type Answered = { method: string; status: number; text: string };

/** Connections are kept alive between requests: a new one per request doubles the CPU of the run. */
const agent = new Agent({ keepAlive: true, maxSockets: GROUP });

/**
 * Sends one request over node:http. A kept-alive connection the server closed just as this request
 * went out on it is the documented keep-alive race (Node's `request.reusedSocket`): the request is
 * sent once more on a new connection, where any failure counts. A body over the limit may be cut
 * off before any answer reaches a client still sending it (issue #9, fixed separately): for those
 * alone a dropped connection counts as a refusal.
 */
function send(r: FuzzRequest, fresh = false): Promise<Answered | "unanswered"> {
  const body = r.body === undefined ? undefined : Buffer.from(r.body);
  return new Promise((resolve, reject) => {
    const req = request(
      `${h.url}${r.path}`,
      {
        method: r.method,
        agent: fresh ? false : agent,
        headers: body ? { ...r.headers, "content-length": body.length } : r.headers,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ method: r.method, status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
        res.on("error", reject);
      },
    );
    req.on("error", (error) => {
      if (r.body === OVERSIZED) resolve("unanswered");
      else if (req.reusedSocket && !fresh) resolve(send(r, true));
      else reject(new Error(`no answer (${error.message}) for ${describeRequest(r)}`));
    });
    req.end(body);
  });
}

const cpuMs = (usage: NodeJS.CpuUsage) => (usage.user + usage.system) / 1000;

function serverErrorOf(answer: Answered): string {
  const reqId = /"requestId":"([^"]+)"/.exec(answer.text)?.[1];
  const logged = serverErrors.find((e) => e.reqId === reqId);
  return logged?.err ? `server log: ${logged.err.stack.split("\n").slice(0, 8).join("\n")}` : "";
}

/**
 * A refusal says what is wrong in Baton's error shape, with the status its code stands for. Node's
 * HTTP parser answers a request whose headers exceed its limit (16 KiB) with a bare 431 before the
 * app sees it.
 */
function answerIsWellFormed(answer: Answered): boolean {
  if (answer.status < 400 || answer.method === "HEAD" || (answer.status === 431 && answer.text === "")) return true;
  try {
    const { error } = JSON.parse(answer.text) as { error: { code: keyof typeof ERROR_STATUS; message: string } };
    return ERROR_STATUS[error.code] === answer.status && typeof error.message === "string" && error.message.length > 0;
  } catch {
    return false;
  }
}

const settledDigest = () => settledDigestOf(h.engine.database);

function describeRequest(r: FuzzRequest): string {
  const body = r.body === undefined ? "" : typeof r.body === "string" ? r.body : `bytes ${Buffer.from(r.body).toString("hex")}`;
  const shown = body.length > 300 ? `${body.slice(0, 300)}... (${body.length} chars)` : body;
  return `${r.method} ${r.path.slice(0, 300)} ${JSON.stringify(r.headers)} ${JSON.stringify(shown)}`;
}
