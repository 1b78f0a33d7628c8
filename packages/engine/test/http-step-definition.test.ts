import { BatonError, parseDefinition, renderHeaders, renderUrl } from "@baton/engine";
import { describe, expect, it } from "vitest";

/** The fields an invalid definition's error names, with their messages. */
function refusal(raw: unknown): Record<string, string> {
  try {
    parseDefinition(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(BatonError);
    expect((error as BatonError).code).toBe("INVALID_DEFINITION");
    const fields = (error as BatonError).details.fields as { field: string; message: string }[];
    return Object.fromEntries(fields.map((f) => [f.field, f.message]));
  }
  throw new Error("expected the definition to be refused");
}

const step = (fields: Record<string, unknown>) => ({ name: "w", steps: [{ name: "call", transport: "http", ...fields }] });

describe("HTTP-call steps in a definition", () => {
  it("fills in method, headers, timeout, in-flight limit, and the undo call's from the DO's", () => {
    const def = parseDefinition(
      step({
        url: "https://pay.example/orders/{input.orderId}",
        headers: { Authorization: "Bearer {env.BATON_SECRET_PAY}" },
        undo: { url: "https://pay.example/orders/{input.orderId}/refund" },
      }),
    );
    expect(def.steps[0]).toMatchObject({
      transport: "http",
      queue: "w.call",
      undo: { queue: "w.call.undo" },
      http: {
        maxInFlight: 10,
        do: {
          url: "https://pay.example/orders/{input.orderId}",
          method: "POST",
          headers: { Authorization: "Bearer {env.BATON_SECRET_PAY}" },
          timeoutMs: 10_000,
        },
        undo: {
          url: "https://pay.example/orders/{input.orderId}/refund",
          method: "POST",
          headers: { Authorization: "Bearer {env.BATON_SECRET_PAY}" },
          timeoutMs: 10_000,
        },
      },
    });
    const worker = parseDefinition({ name: "w", steps: [{ name: "plain" }] });
    expect(worker.steps[0]).not.toHaveProperty("http");
  });

  it("refuses URLs that could reach elsewhere than they name, naming the field", () => {
    expect(refusal(step({ url: "https://{input.host}/x" }))).toEqual({
      "steps.0.url": "a placeholder may not stand in the scheme, host or port: only the path and query take values from the input",
    });
    expect(refusal(step({ url: "https://api.{input.tenant}.example/x" }))["steps.0.url"]).toContain(
      "may not stand in the scheme, host or port",
    );
    expect(refusal(step({ url: "https://pay.example:{input.port}/x" }))["steps.0.url"]).toContain(
      "may not stand in the scheme, host or port",
    );
    expect(refusal(step({ url: "{input.url}" }))["steps.0.url"]).toBe("must be an absolute http:// or https:// URL starting with its host");
    expect(refusal(step({ url: "ftp://files.example/x" }))["steps.0.url"]).toBe(
      "must be an absolute http:// or https:// URL starting with its host",
    );
    expect(refusal(step({ url: "https://user:pw@pay.example/x" }))["steps.0.url"]).toContain("may not carry credentials");
    expect(refusal(step({ url: "https://pay.example/x?token={env.BATON_SECRET_PAY}" }))["steps.0.url"]).toContain(
      "secrets may not be part of a URL",
    );
    expect(refusal(step({ url: "https://pay.example/{orderId}" }))["steps.0.url"]).toContain("unknown placeholder {orderId}");
    expect(refusal(step({ url: "https://pay.example/a/../admin" }))["steps.0.url"]).toBe(
      "is not in normal form: write it as https://pay.example/admin",
    );
    expect(refusal(step({ url: "https://pay.example/x#frag" }))["steps.0.url"]).toContain("may not have a fragment");
    expect(refusal(step({ url: "https://pay.example/{input.a" }))["steps.0.url"]).toContain("is not closed");
  });

  it("refuses headers Baton sets, secrets outside BATON_SECRET_*, and control characters", () => {
    const fields = refusal(
      step({
        url: "https://pay.example/x",
        headers: {
          "Idempotency-Key": "mine",
          "X-Baton-Fence-Token": "1",
          Host: "internal",
          Authorization: "Bearer {env.DATABASE_URL}",
          "X-Tenant": "{input.tenant}",
          "X-Evil": "a\r\nInjected: yes",
          "bad name": "x",
        },
      }),
    );
    expect(fields).toEqual({
      "steps.0.headers.Idempotency-Key": "is set by Baton (or frames the request) and cannot be given",
      "steps.0.headers.X-Baton-Fence-Token": "is set by Baton (or frames the request) and cannot be given",
      "steps.0.headers.Host": "is set by Baton (or frames the request) and cannot be given",
      "steps.0.headers.Authorization": "{env.DATABASE_URL}: only environment variables named BATON_SECRET_<A-Z, 0-9, _> may be read",
      "steps.0.headers.X-Tenant": "unknown placeholder {input.tenant}: a header takes only {env.BATON_SECRET_<NAME>}",
      "steps.0.headers.X-Evil": "holds control characters (a line break, say), which a header value cannot carry",
      "steps.0.headers.bad name": "is not a valid header name",
    });
  });

  it("keeps HTTP fields to HTTP steps, and HTTP steps to HTTP undos", () => {
    expect(refusal({ name: "w", steps: [{ name: "a", url: "https://x.example/", timeoutMs: 500, maxInFlight: 2 }] })).toEqual({
      "steps.0.url": "only for steps with transport 'http'",
      "steps.0.timeoutMs": "only for steps with transport 'http' (a step's time limit is its leaseMs)",
      "steps.0.maxInFlight": "only for steps with transport 'http'",
    });
    expect(refusal({ name: "w", steps: [{ name: "a", transport: "kafka", undo: { url: "https://x.example/" } }] })).toEqual({
      "steps.0.undo.url": "only for steps with transport 'http'",
    });
    expect(refusal(step({}))).toEqual({ "steps.0.url": "required when transport is 'http': the URL Baton calls" });
    expect(refusal(step({ url: "https://x.example/", undo: true }))["steps.0.undo"]).toContain("an HTTP step's undo is an HTTP call too");
    expect(refusal(step({ url: "https://x.example/", undo: { method: "DELETE" } }))).toEqual({
      "steps.0.undo.url": "required for an HTTP step's undo: the URL Baton calls to compensate",
    });
  });

  it("bounds what it takes", () => {
    const headers = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`X-H${i}`, "v"]));
    expect(refusal(step({ url: "https://x.example/", headers }))["steps.0.headers"]).toBe("33 headers, more than 32 (maxHttpHeaders)");
    expect(Object.keys(refusal(step({ url: `https://x.example/${"a".repeat(2100)}` })))).toEqual(["steps.0.url"]);
    expect(Object.keys(refusal(step({ url: "https://x.example/", timeoutMs: 900_001 })))).toEqual(["steps.0.timeoutMs"]);
    expect(Object.keys(refusal(step({ url: "https://x.example/", maxInFlight: 0 })))).toEqual(["steps.0.maxInFlight"]);
    expect(Object.keys(refusal(step({ url: "https://x.example/", method: "TRACE" })))).toEqual(["steps.0.method"]);
  });
});

describe("filling in an HTTP step's URL and headers", () => {
  const template = "https://pay.example/orders/{input.order.id}/lines?sku={input.sku}";

  it("URL-encodes values from the input and never lets them change the path", () => {
    expect(renderUrl(template, { order: { id: "a/b?c#d" }, sku: 12 })).toEqual({
      url: new URL("https://pay.example/orders/a%2Fb%3Fc%23d/lines?sku=12"),
    });
    expect(renderUrl(template, { order: { id: ".." }, sku: 1 })).toEqual({
      error: "a value from the step's input would change the URL's path ('.' or '..'); refused",
    });
    expect(renderUrl(template, { order: {}, sku: 1 })).toEqual({
      error: "{input.order.id} needs a string, number or boolean in the step's input; found nothing",
    });
    expect(renderUrl(template, { order: { id: { nested: true } }, sku: 1 })).toEqual({
      error: "{input.order.id} needs a string, number or boolean in the step's input; found an object",
    });
    expect(renderUrl(template, { order: { id: "" }, sku: 1 })).toEqual({
      error: "{input.order.id} is an empty string in the step's input",
    });
  });

  it("resolves secrets at call time and names a missing one without its value", () => {
    const headers = { Authorization: "Bearer {env.BATON_SECRET_PAY}", "X-Static": "yes" };
    expect(renderHeaders(headers, { BATON_SECRET_PAY: "t0k3n" })).toEqual({
      headers: { Authorization: "Bearer t0k3n", "X-Static": "yes" },
    });
    expect(renderHeaders(headers, {})).toEqual({
      error: "header Authorization: the environment variable BATON_SECRET_PAY is not set on this Baton process",
    });
    expect(renderHeaders(headers, { BATON_SECRET_PAY: "line\nbreak" })).toEqual({
      error: "header Authorization: the environment variable BATON_SECRET_PAY holds characters a header cannot carry",
    });
  });
});
