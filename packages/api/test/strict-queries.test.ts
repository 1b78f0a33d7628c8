import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness } from "./http-harness.ts";

// Every route refuses a query parameter it does not take, naming it, and a bad value of one it
// takes, naming that (issue 11: nothing a caller sends is ignored without a word).

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

/** A value each path parameter accepts, so that only the query can be at fault. */
const PATH_VALUES: Record<string, string> = {
  id: crypto.randomUUID(),
  flowId: crypto.randomUUID(),
  task_id: crypto.randomUUID(),
  executionId: crypto.randomUUID(),
  keyId: "0123456789abcdef",
  name: "no-such-workflow",
  orchName: "no-such-workflow",
  taskId: "a",
};

async function documentedRoutes(): Promise<{ method: string; path: string }[]> {
  const doc = (await h.call("GET", "/openapi.json")).body as { paths: Record<string, Record<string, unknown>> };
  return Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.keys(ops).map((method) => ({
      method: method.toUpperCase(),
      path: path.replace(/\{(\w+)\}/g, (_, p: string) => {
        const value = PATH_VALUES[p];
        if (!value) throw new Error(`no test value for path parameter ${p}`);
        return value;
      }),
    })),
  );
}

describe("query strings", () => {
  it("every route, /openapi.json and /docs included, refuses an unknown query parameter with a 400 naming it", async () => {
    const routes = [...(await documentedRoutes()), { method: "GET", path: "/openapi.json" }, { method: "GET", path: "/docs" }];
    expect(routes.length).toBeGreaterThan(40);
    for (const { method, path } of routes) {
      const res = await h.call(method, `${path}?bogus=1&other=2`, method === "GET" || method === "DELETE" ? undefined : {});
      const answer = { route: `${method} ${path}`, status: res.status, code: res.body?.error?.code, where: res.body?.error?.details?.in };
      expect(answer).toEqual({ ...answer, status: 400, code: "VALIDATION_ERROR", where: "query" });
      expect(res.body.error.details.fields.map((f: { field: string }) => f.field)).toEqual(["bogus", "other"]);
    }
  });

  it("says what a route takes, and what to send for a name callers often use instead", async () => {
    const unknown = await h.call("GET", "/v1/workers?verbose=1");
    expect(unknown.body.error.details.fields).toEqual([
      { field: "verbose", message: "unknown query parameter `verbose` (this route takes `cursor`, `limit`)" },
    ]);
    const none = await h.call("GET", "/healthz?verbose=1");
    expect(none.body.error.details.fields[0].message).toBe("unknown query parameter `verbose` (this route takes no query parameters)");
    const hints = [
      ["/v1/instances?status=FAILED", "status", "use `state`"],
      ["/v1/workflows?page=2", "page", "use `cursor`"],
      ["/v1/registrations?pageSize=5", "pageSize", "use `limit`"],
      ["/v1/instances?workflowName=x", "workflowName", "use `workflow`"],
    ] as const;
    for (const [path, field, hint] of hints) {
      expect((await h.call("GET", path)).body.error.details.fields).toEqual([
        { field, message: `unknown query parameter \`${field}\`: ${hint}` },
      ]);
    }
    // A hint only where the route takes what it points to.
    expect((await h.call("GET", "/v1/workers?status=x")).body.error.details.fields[0].message).toContain(
      "this route takes `cursor`, `limit`",
    );
  });

  it("refuses a bad value of a parameter a route takes, naming the parameter", async () => {
    const bad = [
      ["/v1/instances?limit=x", "limit"],
      ["/v1/instances?limit=501", "limit"],
      ["/v1/instances?state=NOPE", "state"],
      ["/v1/instances?limit=1&limit=2", "limit"],
      ["/v1/workflows?namespace=", "namespace"],
      ["/v1/workers?cursor=%25%25%25", "cursor"],
      ["/v1/registrations?cursor=AAAA", "cursor"],
      [`/v1/instances/${crypto.randomUUID()}/events?limit=0`, "limit"],
      ["/api/tasks?limit=1000", "limit"],
    ] as const;
    for (const [path, field] of bad) {
      const res = await h.call("GET", path);
      expect({ path, status: res.status, fields: res.body.error?.details?.fields?.map((f: { field: string }) => f.field) }).toEqual({
        path,
        status: 400,
        fields: [field],
      });
    }
  });

  it("takes the parameters a route declares", async () => {
    expect((await h.call("GET", "/v1/instances?limit=5&state=RUNNING&namespace=default")).status).toBe(200);
    expect((await h.call("GET", "/v1/workflows?namespace=default&limit=1")).status).toBe(200);
    expect((await h.call("GET", "/healthz")).status).toBe(200);
  });
});
