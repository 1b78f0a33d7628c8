import { Agent, request } from "node:http";
import { ERROR_STATUS } from "@baton/engine";
import fc from "fast-check";
import pino from "pino";
import { expect } from "vitest";
import type { Harness } from "../http-harness.ts";
import { type FuzzRequest, OVERSIZED } from "./arbitraries.ts";
import { databaseDigest, settledDigest } from "./database-digest.ts";

/*
 * Hostile input against one route, over real HTTP against a real server: never a 5xx, every refusal
 * in Baton's error shape, the server still healthy after the route's run, and nothing written by a
 * group of requests that were all refused.
 *
 * Requests go out in groups fired together (the server is concurrent, and one at a time would make
 * the run minutes long). The database is fingerprinted before and after each group: a group whose
 * every answer is a refusal (or that only read) must leave the fingerprint unchanged. A group with
 * an accepted write cannot say which request wrote, so the fingerprint is taken anew after it; the
 * summary line says how many refusals were checked this way.
 */

/** Requests fired together. */
export const GROUP = 8;

export type Answered = { method: string; status: number; text: string };
export type Answer = Answered | "unanswered";

export interface RouteRun<R extends FuzzRequest> {
  /** Groups of requests to send (GROUP each). */
  groups: fc.Arbitrary<R[]>;
  /** About how many requests to send in all. */
  requests: number;
  /** Called before each group is sent (e.g. to fingerprint what the group must not touch). */
  beforeGroup?: (group: R[]) => Promise<void>;
  /** More checks of a group's answers, once the common ones passed; throws to fail the run. */
  checkGroup?: (group: R[], answers: Answer[]) => Promise<void> | void;
}

/** Sends hostile groups of requests to one server's routes and checks what every fuzz checks. */
export class RouteFuzzer {
  /** What the server logged at error level (every 5xx logs its cause), to show beside a failure. */
  private readonly serverErrors: { reqId?: string; err?: { message: string; stack: string } }[] = [];
  /** The server's logger: pass it as the app's, so a 5xx's cause shows beside the failure. */
  readonly logger = pino({ level: "error" }, { write: (line: string) => void this.serverErrors.push(JSON.parse(line)) });
  /** Connections are kept alive between requests: a new one per request doubles the CPU of the run. */
  private readonly agent = new Agent({ keepAlive: true, maxSockets: GROUP });
  /** The database's fingerprint as of the last group (see databaseDigest). */
  private digest = "";
  private harness: Harness | undefined;

  private get h(): Harness {
    if (!this.harness) throw new Error("RouteFuzzer: attach a harness first");
    return this.harness;
  }

  attach(h: Harness): void {
    this.harness = h;
  }

  /** Runs one route's groups; answers the route's summary line. */
  async run<R extends FuzzRequest>(route: string, run: RouteRun<R>): Promise<string> {
    const started = performance.now();
    const cpuBefore = process.cpuUsage();
    const counts = { sent: 0, accepted: 0, refused: 0, refusedUnchanged: 0, unanswered: 0 };
    const readOnly = route.startsWith("GET ");
    this.digest = await settledDigest(this.h.engine.database);
    await fc.assert(
      fc.asyncProperty(run.groups, async (group) => {
        await run.beforeGroup?.(group);
        // Every request of the group has its answer before any failure is raised: one still in
        // flight would write into the next group's (or route's) fingerprint.
        const settled = await Promise.allSettled(group.map((r) => this.send(r)));
        const failure = settled.find((s) => s.status === "rejected");
        if (failure) throw failure.reason;
        const answers = settled.map((s) => (s as PromiseFulfilledResult<Answer>).value);
        counts.sent += group.length;
        for (const [i, answer] of answers.entries()) {
          if (answer === "unanswered") {
            counts.unanswered++;
            continue;
          }
          if (answer.status >= 500 || !answerIsWellFormed(answer)) {
            const request = describeRequest(group[i] as R);
            throw new Error(`${answer.status} ${answer.text.slice(0, 500)}\nfor ${request}\n${this.serverErrorOf(answer)}`);
          }
          if (answer.status < 400) counts.accepted++;
          else counts.refused++;
        }
        const wrote = !readOnly && answers.some((a) => a !== "unanswered" && a.status < 400);
        const after = wrote ? await settledDigest(this.h.engine.database) : await databaseDigest(this.h.engine.database);
        if (!wrote && after !== this.digest) {
          throw new Error(
            `refused requests changed the database:\n${group.map(describeRequest).join("\n")}\nbefore ${this.digest}\nafter  ${after}`,
          );
        }
        if (!wrote) counts.refusedUnchanged += answers.filter((a) => a !== "unanswered" && a.status >= 400).length;
        this.digest = after;
        await run.checkGroup?.(group, answers);
      }),
      { numRuns: Math.ceil(run.requests / GROUP), endOnFailure: true },
    );
    expect((await this.h.call("GET", "/healthz")).status).toBe(200);
    expect((await this.h.call("GET", "/readyz")).status).toBe(200);
    const cpuMs = (usage: NodeJS.CpuUsage) => (usage.user + usage.system) / 1000;
    return (
      `  ${route}: ${counts.sent} sent in ${Math.round(performance.now() - started)} ms ` +
      `(${Math.round(cpuMs(process.cpuUsage(cpuBefore)))} ms CPU in this process); ${counts.accepted} accepted, ` +
      `${counts.refused} refused (${counts.refusedUnchanged} checked to write nothing)` +
      (counts.unanswered ? `, ${counts.unanswered} oversized bodies cut off unanswered` : "")
    );
  }

  close(): void {
    this.agent.destroy();
  }

  /**
   * Sends one request over node:http. A kept-alive connection the server closed just as this
   * request went out on it is the documented keep-alive race (Node's `request.reusedSocket`): the
   * request is sent once more on a new connection, where any failure counts. A body over the limit
   * may be cut off before any answer reaches a client still sending it (issue #9, fixed
   * separately): for those alone a dropped connection counts as a refusal.
   */
  private send(r: FuzzRequest, fresh = false): Promise<Answer> {
    const body = r.body === undefined ? undefined : Buffer.from(r.body);
    return new Promise((resolve, reject) => {
      const req = request(
        `${this.h.url}${r.path}`,
        {
          method: r.method,
          agent: fresh ? false : this.agent,
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
        else if (req.reusedSocket && !fresh) resolve(this.send(r, true));
        else reject(new Error(`no answer (${error.message}) for ${describeRequest(r)}`));
      });
      req.end(body);
    });
  }

  private serverErrorOf(answer: Answered): string {
    const reqId = /"requestId":"([^"]+)"/.exec(answer.text)?.[1];
    const logged = this.serverErrors.find((e) => e.reqId === reqId);
    return logged?.err ? `server log: ${logged.err.stack.split("\n").slice(0, 8).join("\n")}` : "";
  }
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

export function describeRequest(r: FuzzRequest): string {
  const body = r.body === undefined ? "" : typeof r.body === "string" ? r.body : `bytes ${Buffer.from(r.body).toString("hex")}`;
  const shown = body.length > 300 ? `${body.slice(0, 300)}... (${body.length} chars)` : body;
  const headers = { ...r.headers, ...(r.headers.authorization ? { authorization: "Bearer (a key)" } : {}) };
  return `${r.method} ${r.path.slice(0, 300)} ${JSON.stringify(headers)} ${JSON.stringify(shown)}`;
}
