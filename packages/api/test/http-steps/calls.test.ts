import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Body, type HttpStepsFixture, json, type LoopbackService, startHttpSteps, startService, uniqueName } from "./fixture.ts";

// HTTP-call steps against real services on loopback: Baton acquires the task, calls the service
// with the step input and the attempt's fence headers, and records what the service answered.

let f: HttpStepsFixture;
const services: LoopbackService[] = [];
const service = async (...args: Parameters<typeof startService>) => {
  const s = await startService(...args);
  services.push(s);
  return s;
};

/** Everything the runner logs, down to debug. */
const logLines: string[] = [];
beforeAll(async () => {
  const logger = pino({ level: "debug" }, { write: (line: string) => logLines.push(line) });
  f = await startHttpSteps({ secrets: { BATON_SECRET_PAYMENTS_TOKEN: "s3cret-token" }, logger });
});
afterAll(async () => {
  await f.close();
  await Promise.all(services.map((s) => s.close()));
});

const fast = { maxAttempts: 3, backoffMs: 0 };
const attemptsOf = (view: Body, step: string): Body[] => view.tasks.filter((t: Body) => t.taskId === step);

describe("HTTP-call steps", () => {
  it("calls the service with the input as JSON, the fence headers and the secret, and completes with its JSON", async () => {
    const svc = await service((req, res) => json(res, 200, { chargeId: "ch_1", seen: req.body }));
    const name = uniqueName("charge");
    const id = await f.run(
      {
        name,
        steps: [
          {
            name: "charge",
            transport: "http",
            url: `${svc.url}/orders/{input.orderId}/charge?currency={input.currency}`,
            headers: { Authorization: "Bearer {env.BATON_SECRET_PAYMENTS_TOKEN}", "X-Team": "payments" },
          },
        ],
      },
      { orderId: "a/b c?", currency: "EUR", amount: 42 },
    );
    const view = await f.ended(id);
    expect(view.state).toBe("COMPLETED");
    expect(view.output).toEqual({ charge: { chargeId: "ch_1", seen: { orderId: "a/b c?", currency: "EUR", amount: 42 } } });
    const [req] = svc.requests;
    const [task] = attemptsOf(view, "charge");
    expect(req?.method).toBe("POST");
    expect(req?.path).toBe("/orders/a%2Fb%20c%3F/charge?currency=EUR");
    expect(req?.headers["content-type"]).toBe("application/json");
    expect(req?.headers.authorization).toBe("Bearer s3cret-token");
    expect(req?.headers["x-team"]).toBe("payments");
    expect(req?.headers["x-baton-execution-id"]).toBe(task.executionId);
    expect(req?.headers["x-baton-fence-token"]).toBe(String(task.fenceToken));
    expect(req?.headers["idempotency-key"]).toBe(`${id}:charge:DO:1`);

    // The definition shows which headers are sent, never their values (resolved or not).
    const definition = await f.api("GET", `/v1/workflows/${name}`);
    expect(definition.body.steps[0].http).toEqual({
      maxInFlight: 10,
      do: {
        url: `${svc.url}/orders/{input.orderId}/charge?currency={input.currency}`,
        method: "POST",
        headerNames: ["Authorization", "X-Team"],
        timeoutMs: 10_000,
      },
      undo: null,
    });
    expect(definition.text).not.toContain("s3cret-token");
    expect(definition.text).not.toContain("BATON_SECRET_PAYMENTS_TOKEN");
    expect(JSON.stringify(view)).not.toContain("s3cret-token");
  });

  it("fails at once on a 4xx (no retry), keeping the status and the service's answer", async () => {
    const svc = await service((_req, res) => json(res, 422, { error: "card declined" }));
    const id = await f.run({
      name: uniqueName("declined"),
      steps: [{ name: "charge", transport: "http", url: `${svc.url}/charge`, retry: fast }],
    });
    const view = await f.ended(id);
    expect(view.state).toBe("FAILED");
    expect(svc.requests).toHaveLength(1);
    const [attempt] = attemptsOf(view, "charge");
    expect(attempt.state).toBe("FAILED");
    expect(attempt.error).toMatchObject({
      name: "NonRetryableError",
      message: `POST ${svc.url}/charge answered 422`,
      details: { reason: "status", status: 422, body: { error: "card declined" }, method: "POST", host: `127.0.0.1:${svc.port}` },
    });
  });

  it("retries a 5xx (recording Retry-After) and completes when the service recovers", async () => {
    const svc = await service((_req, res, n) =>
      n === 0 ? json(res, 503, { error: "busy" }, { "retry-after": "1" }) : json(res, 200, { ok: n }),
    );
    const id = await f.run({
      name: uniqueName("flaky"),
      steps: [{ name: "ship", transport: "http", url: `${svc.url}/ship`, retry: fast }],
    });
    const view = await f.ended(id);
    expect(view.state).toBe("COMPLETED");
    expect(view.output).toEqual({ ship: { ok: 1 } });
    const [first, second] = attemptsOf(view, "ship");
    expect(first).toMatchObject({ state: "FAILED", error: { name: "HttpStepError", details: { status: 503, retryAfterMs: 1000 } } });
    expect(second).toMatchObject({ state: "COMPLETED", attempt: 2 });
    expect(svc.requests.map((r) => r.headers["idempotency-key"])).toEqual([`${id}:ship:DO:1`, `${id}:ship:DO:2`]);
    expect(Number(svc.requests[1]?.headers["x-baton-fence-token"])).toBeGreaterThan(
      Number(svc.requests[0]?.headers["x-baton-fence-token"]),
    );
  });

  it("times a slow call out and retries it; the run fails when every attempt times out", async () => {
    const svc = await service((_req, res) => {
      setTimeout(() => json(res, 200, { late: true }), 3000).unref();
    });
    const started = Date.now();
    const id = await f.run({
      name: uniqueName("slow"),
      steps: [{ name: "quote", transport: "http", url: `${svc.url}/quote`, timeoutMs: 300, retry: { maxAttempts: 2, backoffMs: 0 } }],
    });
    const view = await f.ended(id);
    expect(view.state).toBe("FAILED");
    expect(Date.now() - started).toBeLessThan(2900);
    const attempts = attemptsOf(view, "quote");
    expect(attempts.map((a) => a.state)).toEqual(["FAILED", "FAILED"]);
    expect(attempts[0].error).toMatchObject({
      message: `POST ${svc.url}/quote did not answer within 300 ms`,
      details: { reason: "timeout" },
    });
    expect(svc.requests).toHaveLength(2);
  });

  it("retries when the service dies mid-call (connection cut before the response ends)", async () => {
    const svc = await service((_req, res, n) => {
      if (n === 0) {
        res.writeHead(200, { "content-type": "application/json", "content-length": "100" });
        res.write('{"partial": ');
        setTimeout(() => res.socket?.destroy(), 20);
        return;
      }
      if (n === 1) {
        res.socket?.destroy();
        return;
      }
      json(res, 200, { done: true });
    });
    const id = await f.run({ name: uniqueName("dies"), steps: [{ name: "book", transport: "http", url: `${svc.url}/book`, retry: fast }] });
    const view = await f.ended(id);
    expect(view.state).toBe("COMPLETED");
    expect(view.output).toEqual({ book: { done: true } });
    const [first, second] = attemptsOf(view, "book");
    expect(first.error).toMatchObject({ name: "HttpStepError", details: { reason: "connection" } });
    expect(second.error).toMatchObject({ name: "HttpStepError", details: { reason: "connection" } });
  });

  it("undoes a completed HTTP step with its undo call (the DO's output in the URL) when a later step fails", async () => {
    const payments = await service((req, res) =>
      req.method === "POST" ? json(res, 201, { chargeId: "ch_9" }) : json(res, 200, { refunded: true }),
    );
    const shipping = await service((_req, res) => json(res, 409, { error: "no stock" }));
    const id = await f.run(
      {
        name: uniqueName("saga"),
        steps: [
          {
            name: "charge",
            transport: "http",
            url: `${payments.url}/charges`,
            undo: { url: `${payments.url}/charges/{input.charge.chargeId}`, method: "DELETE" },
          },
          { name: "ship", transport: "http", url: `${shipping.url}/shipments`, retry: fast },
        ],
      },
      { orderId: "o-1" },
    );
    const view = await f.ended(id);
    expect(view.state).toBe("COMPENSATED");
    expect(payments.requests.map((r) => [r.method, r.path, r.body])).toEqual([
      ["POST", "/charges", { orderId: "o-1" }],
      ["DELETE", "/charges/ch_9", undefined],
    ]);
    expect(payments.requests[1]?.headers["idempotency-key"]).toBe(`${id}:charge:UNDO:1`);
  });

  it("keeps at most maxInFlight calls of a step in flight", async () => {
    const svc = await service((_req, res) => {
      setTimeout(() => json(res, 200, {}), 150);
    });
    const name = uniqueName("limited");
    await f.api("POST", "/v1/workflows", { name, steps: [{ name: "call", transport: "http", url: `${svc.url}/work`, maxInFlight: 2 }] });
    await f.runner.refresh();
    const ids = await Promise.all(
      [1, 2, 3, 4, 5].map(async (n) => (await f.api("POST", `/v1/workflows/${name}/runs`, { input: { n } })).body.instanceId as string),
    );
    for (const id of ids) expect((await f.ended(id)).state).toBe("COMPLETED");
    expect(svc.requests).toHaveLength(5);
    expect(svc.maxInFlight).toBe(2);
  });

  it("are described in the OpenAPI document: the definition's fields, the step view and the instance's circuits", async () => {
    const doc = (await f.api("GET", "/openapi.json")).body;
    const step = doc.components.schemas.WorkflowDefinition.properties.steps.items;
    expect(step.properties.transport.enum).toEqual(["worker", "kafka", "http"]);
    for (const field of ["url", "method", "headers", "timeoutMs", "maxInFlight"]) expect(step.properties, field).toHaveProperty(field);
    expect(step.properties.url.description).toContain("BATON_HTTP_STEP_HOSTS");
    expect(doc.components.schemas.StepStatus.properties.transport.enum).toContain("http");
    expect(doc.components.schemas.HttpStep.properties.do.properties).toHaveProperty("headerNames");
    expect(doc.components.schemas.HttpCircuit.properties.state.enum).toEqual(["closed", "open", "half-open"]);
    expect(doc.components.schemas.Instance.properties).toHaveProperty("httpCircuits");
  });

  it("heartbeats the lease while a call runs longer than the lease", async () => {
    const svc = await service((_req, res) => {
      setTimeout(() => json(res, 200, { slow: true }), 4500);
    });
    const id = await f.run({
      name: uniqueName("longcall"),
      steps: [{ name: "render", transport: "http", url: `${svc.url}/render`, leaseMs: 2000, timeoutMs: 8000, retry: { maxAttempts: 1 } }],
    });
    const view = await f.ended(id);
    expect(view.state).toBe("COMPLETED");
    expect(attemptsOf(view, "render")).toHaveLength(1);
    expect(svc.requests).toHaveLength(1);
  });

  it("never logs a secret a header names, whatever becomes of the call", async () => {
    const svc = await service((_req, res, n) => (n === 0 ? json(res, 500, { error: "try again" }) : json(res, 200, {})));
    const id = await f.run({
      name: uniqueName("logged"),
      steps: [
        {
          name: "pay",
          transport: "http",
          url: `${svc.url}/pay`,
          headers: { Authorization: "Bearer {env.BATON_SECRET_PAYMENTS_TOKEN}" },
          retry: { maxAttempts: 2, backoffMs: 0 },
        },
      ],
    });
    expect((await f.ended(id)).state).toBe("COMPLETED");
    expect(svc.requests.map((r) => r.headers.authorization)).toEqual(["Bearer s3cret-token", "Bearer s3cret-token"]);
    const log = logLines.join("");
    expect(log).toContain("task failed");
    expect(log).not.toContain("s3cret-token");
  });
});
