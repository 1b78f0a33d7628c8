import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness } from "./http-harness.ts";

// /docs must work on a machine with no internet access: the page and everything it loads come from
// Baton itself. (The browser suite, packages/api/test/ui, loads it in Chromium with the network cut.)
describe("/docs offline", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(() => h?.close());

  it("names no other origin, and Baton serves every script, stylesheet and image it references", async () => {
    const page = await fetch(`${h.url}/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-security-policy")).toContain("default-src 'self'");
    const html = await page.text();
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    const referenced = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] as string).filter((u) => u.startsWith("/docs/"));
    expect(referenced.sort()).toEqual([
      "/docs/assets/docs-init.js",
      "/docs/assets/favicon-32x32.png",
      "/docs/assets/swagger-ui-bundle.js",
      "/docs/assets/swagger-ui.css",
    ]);
    for (const path of referenced) {
      const asset = await fetch(`${h.url}${path}`);
      expect(asset.status, path).toBe(200);
      expect((await asset.arrayBuffer()).byteLength, path).toBeGreaterThan(100);
    }
    const init = await (await fetch(`${h.url}/docs/assets/docs-init.js`)).text();
    expect(init).toContain('url: "/openapi.json"');
    expect(init).toContain("validatorUrl: null");
  });

  it("answers 404 for an asset it does not have, and the page still needs a key once auth is on", async () => {
    const missing = await h.call("GET", "/docs/assets/index.html");
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("NOT_FOUND");
    await h.call("POST", "/v1/keys", { name: "admin", role: "admin" });
    expect((await fetch(`${h.url}/docs`)).status).toBe(401);
    // The assets are the package's public files and stay readable (the login page needs none of the API).
    expect((await fetch(`${h.url}/docs/assets/swagger-ui.css`)).status).toBe(200);
  });
});
