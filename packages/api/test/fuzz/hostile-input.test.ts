import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { acquireOne, type Harness, startHarness, startOneRun } from "../http-harness.ts";
import { DEEP, hostileYaml } from "./arbitraries.ts";
import { databaseDigest } from "./database-digest.ts";

// The cases the HTTP fuzz (http-fuzz.test.ts) found, as plain examples: each was a 500 before its fix.

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

/** Sends a refused request and checks its status, its code, and that it wrote nothing. */
async function refused(method: string, path: string, body: unknown, status: number, code: string, headers: Record<string, string> = {}) {
  const before = await databaseDigest(h.engine.database);
  const res = await h.call(method, path, body, headers);
  expect([res.status, res.body.error?.code], JSON.stringify(res.body)).toEqual([status, code]);
  expect(await databaseDigest(h.engine.database)).toBe(before);
  return res.body.error as { message: string };
}

const deepObject = `${'{"a":'.repeat(DEEP)}1${"}".repeat(DEEP)}`;

describe("hostile input found by the fuzz", () => {
  it("a legacy registration whose `as` cannot be turned into text is refused naming `as`", async () => {
    const error = await refused(
      "POST",
      "/v1/workflows",
      { orchName: "legacy", as: [{ toString: 1 }], steps: [] },
      400,
      "INVALID_DEFINITION",
    );
    expect(error.message).toContain("as:");
  });

  it(`JSON nested ${DEEP} deep is refused as input, output, error and retry input`, async () => {
    const { name, queue, instanceId } = await startOneRun(h);
    await refused("POST", `/v1/workflows/${name}/runs`, `{"input":${deepObject}}`, 400, "VALIDATION_ERROR");
    const task = await acquireOne(h, queue);
    const lease = `"workerId":"w1","fenceToken":${task.fenceToken}`;
    await refused("POST", `/v1/tasks/${task.executionId}/complete`, `{${lease},"output":${deepObject}}`, 400, "VALIDATION_ERROR");
    await refused("POST", `/v1/tasks/${task.executionId}/fail`, `{${lease},"error":${deepObject}}`, 400, "VALIDATION_ERROR");
    const item = `{"executionId":"${task.executionId}",${lease},"output":${deepObject}}`;
    await refused("POST", "/v1/tasks/complete", `{"items":[${item}]}`, 400, "VALIDATION_ERROR");
    await refused("POST", `/v1/instances/${instanceId}/tasks/work/retry`, `{"input":${deepObject}}`, 400, "VALIDATION_ERROR");
  });

  it("YAML alias bombs are refused before they expand", async () => {
    for (const yaml of fc.sample(hostileYaml, { numRuns: 30, seed: 9 }).filter((y) => y.includes("*l") || y.includes("*s"))) {
      const before = await databaseDigest(h.engine.database);
      const res = await h.call("POST", "/v1/workflows", yaml, { "content-type": "application/yaml" });
      expect(res.status, yaml).toBeGreaterThanOrEqual(400);
      expect(res.status, yaml).toBeLessThan(500);
      expect(await databaseDigest(h.engine.database)).toBe(before);
    }
    const bomb = [
      "a: &a [x, x, x, x, x, x, x, x, x]",
      ..."bcdefghi".split("").map((l, i) => `${l}: &${l} [${Array(9).fill(`*${"abcdefghi"[i]}`).join(",")}]`),
    ];
    await refused("POST", "/v1/workflows", `name: bomb\nsteps: [{name: a}]\n${bomb.join("\n")}\n`, 400, "VALIDATION_ERROR", {
      "content-type": "application/yaml",
    });
  });

  it("a replayed stale fence token is refused with STALE_FENCE and changes nothing", async () => {
    const { queue } = await startOneRun(h);
    const first = await acquireOne(h, queue);
    await h.call("POST", `/v1/tasks/${first.executionId}/fail`, { workerId: "w1", fenceToken: first.fenceToken });
    const second = await acquireOne(h, queue);
    await refused("POST", `/v1/tasks/${second.executionId}/complete`, { workerId: "w1", fenceToken: first.fenceToken }, 409, "STALE_FENCE");
  });
});
