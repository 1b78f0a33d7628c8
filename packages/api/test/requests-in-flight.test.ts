import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness } from "./http-harness.ts";

/* The server bounds the requests it works on at once; past the bound it answers 503 at once. */

const LIMIT = 3;
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ app: { maxRequestsInFlight: LIMIT } });
});
afterAll(() => h?.close());

const longPoll = (i: number) => h.call("POST", "/v1/tasks/acquire", { workerId: `parked-${i}`, queues: [`nothing.${i}`], waitMs: 1500 });

describe("requests in flight", () => {
  it("answers 503 UNAVAILABLE with Retry-After past the limit, keeps the probes answering, and serves again once requests end", async () => {
    // Three long-polls that find no task hold the three places.
    const parked = [1, 2, 3].map(longPoll);
    await new Promise((resolve) => setTimeout(resolve, 300));

    const refused = await h.call("GET", "/v1/workflows");
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(refused.body.error).toMatchObject({ code: "UNAVAILABLE", details: { limit: LIMIT } });
    expect(refused.body.error.message).toMatch(/limit of requests in flight/);

    expect((await h.call("GET", "/healthz")).status).toBe(200);
    const metrics = await h.call("GET", "/metrics");
    expect(metrics.body).toMatch(/^baton_http_requests_in_flight 3$/m);
    expect(metrics.body).toMatch(/^baton_http_requests_shed_total 1$/m);

    for (const answer of await Promise.all(parked)) expect(answer).toMatchObject({ status: 200, body: { tasks: [] } });
    expect((await h.call("GET", "/v1/workflows")).status).toBe(200);
  });

  it("lets as many long-polls wait as it has places, without Node warning of a listener leak", async () => {
    const roomy = await startHarness({ app: { maxRequestsInFlight: 40 } });
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on("warning", onWarning);
    try {
      const polls = Array.from({ length: 30 }, (_, i) =>
        roomy.call("POST", "/v1/tasks/acquire", { workerId: `w${i}`, queues: [`idle.${i}`], waitMs: 1000 }),
      );
      for (const answer of await Promise.all(polls)) expect(answer.status).toBe(200);
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.filter((w) => w.name === "MaxListenersExceededWarning")).toEqual([]);
    } finally {
      process.off("warning", onWarning);
      await roomy.close();
    }
  });

  it("gives a place back when a request fails", async () => {
    for (let i = 0; i < LIMIT + 2; i++) expect((await h.call("POST", "/v1/tasks/acquire", { queues: 7 })).status).toBe(400);
    expect((await h.call("GET", "/v1/workflows")).status).toBe(200);
  });
});
