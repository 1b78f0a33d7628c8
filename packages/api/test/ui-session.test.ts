import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { acquireOne, type Harness, startHarness, startOneRun } from "./http-harness.ts";

// The console's server side over a real port (Postgres and PGlite): GET /v1/queues, and the
// browser session's rules (the browser suite in test/ui shows the same from a user's side).
describe("console session and queue load", () => {
  let h: Harness;
  let run: Awaited<ReturnType<typeof startOneRun>>;
  let admin: string;
  const html = { accept: "text/html" };

  beforeAll(async () => {
    h = await startHarness();
    run = await startOneRun(h);
  });
  afterAll(() => h?.close());

  it("GET /v1/queues counts open attempts per queue and says who holds the leases", async () => {
    const second = await h.call("POST", `/v1/workflows/${run.name}/runs`, { input: { n: 2 } });
    expect(second.status).toBe(201);
    const task = await acquireOne(h, run.queue, "worker-q");
    const { body } = await h.call("GET", "/v1/queues");
    expect(body.queues).toEqual([{ queue: run.queue, ready: 1, waiting: 0, leased: 1, nextLeaseExpiry: task.leaseExpiresAt }]);
    expect(body.holders).toEqual([{ holder: "worker-q", queue: run.queue, leased: 1, nextLeaseExpiry: task.leaseExpiresAt }]);
  });

  it("sends a browser without a key to sign in, and back only to a console page", async () => {
    admin = (await h.call("POST", "/v1/keys", { name: "admin", role: "admin" })).body.token;
    const page = await fetch(`${h.url}/ui/instances`, { headers: html, redirect: "manual" });
    expect(page.status).toBe(303);
    expect(page.headers.get("location")).toBe("/ui/login?next=%2Fui%2Finstances");
    // A script's request is answered as the API answers it.
    expect((await h.call("GET", "/ui/instances")).status).toBe(401);

    const signIn = (next: string, key = admin) =>
      fetch(`${h.url}/ui/login`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", origin: h.url },
        body: new URLSearchParams({ key, next }),
        redirect: "manual",
      });
    expect((await signIn("https://elsewhere.example/")).headers.get("location")).toBe("/ui");
    expect((await signIn("//elsewhere.example")).headers.get("location")).toBe("/ui");
    const good = await signIn("/ui/workers");
    expect(good.headers.get("location")).toBe("/ui/workers");
    expect(good.headers.get("set-cookie")).toMatch(/^baton_session=baton_[^;]+; Max-Age=43200; Path=\/; HttpOnly; SameSite=Strict$/);
    const wrong = await signIn("/ui", "baton_0000000000000000_nope");
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("set-cookie")).toBeNull();
  });

  it("takes the cookie for the console's pages only, and its actions only from its own origin", async () => {
    const cookie = { cookie: `baton_session=${admin}` };
    expect((await h.call("GET", "/ui", undefined, cookie)).status).toBe(200);
    expect((await h.call("GET", "/v1/instances", undefined, cookie)).status).toBe(401);
    // /docs loads /openapi.json with the browser's cookie; without one, the page sends it to sign in.
    expect((await h.call("GET", "/openapi.json", undefined, cookie)).status).toBe(200);
    expect((await h.call("GET", "/docs", undefined, cookie)).status).toBe(200);
    const docs = await fetch(`${h.url}/docs`, { headers: html, redirect: "manual" });
    expect(docs.headers.get("location")).toBe("/ui/login?next=%2Fdocs");

    const pause = (headers: Record<string, string>) =>
      fetch(`${h.url}/ui/instances/${run.instanceId}/pause`, {
        method: "POST",
        headers: { ...cookie, "x-baton-ui": "fetch", ...headers },
        redirect: "manual",
      });
    const foreign = await pause({ origin: "https://elsewhere.example" });
    expect(foreign.status).toBe(403);
    expect(((await foreign.json()) as { error: { code: string } }).error.code).toBe("FORBIDDEN");
    expect((await pause({ "sec-fetch-site": "cross-site" })).status).toBe(403);
    const state = async () =>
      (await h.call("GET", `/v1/instances/${run.instanceId}`, undefined, { authorization: `Bearer ${admin}` })).body.state;
    expect(await state()).toBe("RUNNING");

    const own = await pause({ origin: h.url });
    expect(await own.json()).toEqual({ ok: true, text: "pause: the run is now PAUSED" });
    const again = await pause({ origin: h.url });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { error: { code: string } }).error.code).toBe("INVALID_STATE");
    const huge = await fetch(`${h.url}/ui/workflows/${run.name}/start`, {
      method: "POST",
      headers: { ...cookie, origin: h.url, "content-type": "application/x-www-form-urlencoded" },
      body: `input=${"x".repeat(2 * 1024 * 1024)}`,
    });
    expect(huge.status).toBe(413);
    const unknown = await fetch(`${h.url}/ui/instances/${run.instanceId}/delete`, {
      method: "POST",
      headers: { ...cookie, origin: h.url },
    });
    expect(unknown.status).toBe(404);
  });
});
