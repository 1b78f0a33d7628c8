import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness } from "./http-harness.ts";

// Hostile YAML definitions: before these bounds, 32 KiB of `[` or `? ` made the YAML parser recurse
// until V8 died ("RegExpCompiler Allocation failed - process out of memory"), taking the server with
// it, and 900 KB of `"` held the event loop for minutes. Now each is a 400 naming the bound.

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

const yaml = (body: string) => h.call("POST", "/v1/workflows", body, { "content-type": "application/yaml" });

describe("YAML definitions are bounded before they are parsed", () => {
  it.each([
    ["deep flow nesting", "[".repeat(32_000), /nested too deeply/],
    ["deep block nesting", "? ".repeat(30_000), /nested too deeply/],
    ["compact sequences", "- ".repeat(30_000), /nested too deeply/],
    ["an oversized YAML text", `name: big\ndescription: ${"x".repeat(70_000)}\nsteps: [{ name: a }]\n`, /limited to 65536 bytes/],
  ])("refuses %s with a 400, and the server stays up", async (_what, body, message) => {
    const res = await yaml(body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("VALIDATION_ERROR");
    expect(res.body.error.message).toMatch(message);
    expect((await h.call("GET", "/healthz")).status).toBe(200);
  });

  it("still reads a large real definition in YAML, and JSON beyond the YAML bound", async () => {
    const steps = Array.from({ length: 500 }, (_, i) => `  - name: s${i}\n    undo: true\n    retry: { maxAttempts: 5 }\n`).join("");
    expect((await yaml(`name: big-yaml\nsteps:\n${steps}`)).status).toBe(201);
    const json = {
      name: "big-json",
      description: "x".repeat(1900),
      steps: Array.from({ length: 500 }, (_, i) => ({ name: `step-${i}-${"y".repeat(100)}`, queue: `q-${i}-${"z".repeat(100)}` })),
    };
    expect(JSON.stringify(json).length).toBeGreaterThan(65_536);
    expect((await h.call("POST", "/v1/workflows", JSON.stringify(json), { "content-type": "application/yaml" })).status).toBe(201);
  });
});
