import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Body,
  eventually,
  type HttpStepsFixture,
  json,
  type LoopbackService,
  startHttpSteps,
  startService,
  uniqueName,
} from "./fixture.ts";

// The per-host circuit breaker (seen in /metrics and the instance view), and the fence headers a
// service can use to refuse the call of an attempt whose lease is gone.

let f: HttpStepsFixture;
const services: LoopbackService[] = [];

beforeAll(async () => {
  f = await startHttpSteps({ breaker: { failureThreshold: 2, coolDownMs: 1500 } });
});
afterAll(async () => {
  await f.close();
  await Promise.all(services.map((s) => s.close()));
});

/** The value of one sample of the Prometheus text, or undefined. */
async function metric(name: string, labels: string): Promise<number | undefined> {
  const text = (await f.api("GET", "/metrics")).text;
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? undefined : Number(line.split(" ").at(-1));
}

describe("the circuit breaker of a host", () => {
  it("opens after failures in a row (attempts then fail without a request), half-opens after the cool-down, and closes", async () => {
    let healthy = false;
    const svc = await startService((_req, res) => (healthy ? json(res, 200, { ok: true }) : json(res, 500, { error: "down" })));
    services.push(svc);
    const host = `127.0.0.1:${svc.port}`;
    const id = await f.run({
      name: uniqueName("breaker"),
      steps: [
        { name: "notify", transport: "http", url: `${svc.url}/notify`, retry: { maxAttempts: 200, backoffMs: 250, backoffMultiplier: 1 } },
      ],
    });

    // Two 500s open the breaker: the attempts after them fail at once, with no request.
    const open = await eventually(async () => {
      const view = (await f.api("GET", `/v1/instances/${id}`)).body;
      return view.httpCircuits?.[0]?.state === "open" && view;
    }, "the breaker to open");
    expect(open.httpCircuits).toEqual([{ host, state: "open", consecutiveFailures: 2, steps: ["notify"] }]);
    expect(await metric("baton_http_step_circuit_state", `host="${host}"`)).toBe(2);
    const shortCircuited = await eventually(async () => {
      const view = (await f.api("GET", `/v1/instances/${id}`)).body;
      return view.tasks.find((t: Body) => t.error?.details?.reason === "circuit-open");
    }, "an attempt refused by the open breaker");
    expect(shortCircuited.error.message).toContain(`the circuit breaker of ${host} is open: no request was sent`);

    // The service recovers; after the cool-down one trial call goes out, succeeds, and closes it.
    healthy = true;
    const view = await f.ended(id);
    expect(view.state).toBe("COMPLETED");
    expect(view.httpCircuits).toEqual([{ host, state: "closed", consecutiveFailures: 0, steps: ["notify"] }]);
    expect(await metric("baton_http_step_circuit_state", `host="${host}"`)).toBe(0);
    const refused = view.tasks.filter((t: Body) => t.error?.details?.reason === "circuit-open").length;
    expect(refused).toBeGreaterThan(0);
    // Every attempt but the refused ones reached the service.
    expect(svc.requests).toHaveLength(view.tasks.length - refused);
    expect(await metric("baton_http_step_calls_total", `host="${host}",outcome="short_circuited"`)).toBe(refused);
    expect(await metric("baton_http_step_calls_total", `host="${host}",outcome="success"`)).toBe(1);
  });
});

describe("fence headers", () => {
  it("let a service refuse the call of an attempt whose lease was lost, and accept its successor's", async () => {
    // The service applies a write only with a fence at least the highest it has seen for the step.
    const highest = new Map<string, number>();
    const applied: number[] = [];
    const refusedStale: number[] = [];
    let releaseFirst: () => void = () => {};
    const firstHeld = new Promise<void>((resolve) => {
      releaseFirst = resolve;
    });
    const svc = await startService(async (req, res, n) => {
      if (n === 0) await firstHeld;
      const step = `${req.headers["x-baton-instance-id"]}/${req.headers["x-baton-step"]}`;
      const fence = Number(req.headers["x-baton-fence-token"]);
      if (fence < (highest.get(step) ?? 0)) {
        refusedStale.push(fence);
        return json(res, 409, { error: "stale fence" });
      }
      highest.set(step, fence);
      applied.push(fence);
      json(res, 200, { appliedWith: fence });
    });
    services.push(svc);
    const id = await f.run({
      name: uniqueName("fenced"),
      steps: [{ name: "reserve", transport: "http", url: `${svc.url}/reserve`, leaseMs: 2000, retry: { maxAttempts: 3, backoffMs: 0 } }],
    });

    // Attempt 1's call hangs at the service; its lease runs out (as after a stall) and is reaped.
    await eventually(() => svc.requests.length === 1, "the first call");
    const [first] = (await f.api("GET", `/v1/instances/${id}`)).body.tasks;
    await f.engine.expireLease(first.executionId);
    expect(await f.engine.tasks.reapExpiredLeases()).toBe(1);

    // Attempt 2 calls with a higher fence and completes the step.
    const view = await f.ended(id);
    expect(view.state).toBe("COMPLETED");
    const [timedOut, second] = view.tasks;
    expect(timedOut).toMatchObject({ attempt: 1, state: "TIMED_OUT" });
    expect(second).toMatchObject({ attempt: 2, state: "COMPLETED", output: { appliedWith: second.fenceToken } });
    expect(second.fenceToken).toBeGreaterThan(timedOut.fenceToken);
    expect(svc.requests.map((r) => r.headers["x-baton-execution-id"])).toEqual([timedOut.executionId, second.executionId]);

    // The stale call finally reaches the service's write: its fence is lower, so it is refused.
    releaseFirst();
    await eventually(() => refusedStale.length === 1, "the stale call to be refused");
    expect(refusedStale).toEqual([timedOut.fenceToken]);
    expect(applied).toEqual([second.fenceToken]);
  });
});
