import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { onPglite } from "../../../../test-support/database.ts";
import { type Harness, startHarness } from "../http-harness.ts";
import type { FuzzRequest } from "./arbitraries.ts";
import { buildFuzzWorld, type FuzzWorld } from "./fuzz-world.ts";
import { GROUP, RouteFuzzer } from "./route-fuzzer.ts";
import { ROUTE_REQUESTS } from "./route-requests.ts";

// Hostile input against every route, with no key (auth off until the first key exists): see
// RouteFuzzer for what is checked. keyed-fuzz.test.ts runs the same routes with keys of each role.

// `pnpm test` runs a sample (it runs on every change); `pnpm test:fuzz`, which CI also runs, sends
// 2,000 per route on Postgres.
const REQUESTS_PER_ROUTE = Number(process.env.BATON_FUZZ_REQUESTS ?? (onPglite ? 60 : 250));

const fuzzer = new RouteFuzzer();
let h: Harness;
let world: FuzzWorld;
const summary: string[] = [];

beforeAll(async () => {
  h = await startHarness({ app: { logger: fuzzer.logger } });
  fuzzer.attach(h);
  world = await buildFuzzWorld(h);
}, 60_000);
afterAll(async () => {
  console.log(
    `HTTP fuzz on ${onPglite ? "PGlite" : "Postgres"}: ${REQUESTS_PER_ROUTE} requests per route` +
      " (pnpm test samples 250 per route on Postgres and 60 on PGlite; pnpm test:fuzz, run by CI, 2,000 on Postgres;" +
      " BATON_FUZZ_REQUESTS overrides)\n" +
      summary.join("\n"),
  );
  fuzzer.close();
  await h?.close();
});

describe("HTTP fuzz", () => {
  it("covers every route of the OpenAPI document", async () => {
    const doc = (await h.call("GET", "/openapi.json")).body as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    expect(Object.keys(ROUTE_REQUESTS)).toEqual(expect.arrayContaining(documented));
  });

  for (const route of Object.keys(ROUTE_REQUESTS)) {
    it(`${route}: no 5xx, refusals write nothing, the server stays up`, async () => {
      const requests = (ROUTE_REQUESTS[route] as (w: FuzzWorld) => fc.Arbitrary<FuzzRequest>)(world);
      const groups = fc.array(requests, { minLength: GROUP, maxLength: GROUP });
      summary.push(await fuzzer.run(route, { groups, requests: REQUESTS_PER_ROUTE }));
    }, 120_000);
  }
});
