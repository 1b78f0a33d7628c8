import { createApp } from "@baton/api";
import { directDb, workerRecordPoll } from "@baton/engine/internal";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { onPglite } from "../../../test-support/database.ts";
import { createTestEngine, type TestEngine } from "../../../test-support/engine.ts";

// A list a caller sizes must never become one bind parameter per item: PGlite's session breaks
// past 32,767 of them (every later query answers no rows), Postgres refuses past 65,535.

let engine: TestEngine;
beforeAll(async () => {
  engine = await createTestEngine();
});
afterAll(() => engine.destroy());

describe("caller-sized lists", () => {
  it("records a worker polling 40,000 queues in one statement, and the session still answers", async () => {
    const queues = Array.from({ length: 40_000 }, (_, i) => `many.q${i}`);
    await workerRecordPoll(directDb(engine.database), "many-queues", queues);
    const { rows } = await sql<{ n: string }>`SELECT count(*) AS n FROM worker_heartbeats WHERE worker_id = 'many-queues'`.execute(
      directDb(engine.database),
    );
    expect(rows.map((r) => Number(r.n))).toEqual([40_000]);
    const app = createApp(engine);
    expect((await app.request("/readyz")).status).toBe(200);
  });
});

describe.skipIf(!onPglite)("a broken database session (PGlite only: a Postgres pool replaces a bad connection)", () => {
  // Last in the file: it breaks the file's engine.
  it("makes /healthz and /readyz agree: both 503", async () => {
    const app = createApp(engine);
    expect((await app.request("/healthz")).status).toBe(200);
    // What the unchunked worker registration did: more bind parameters than PGlite's protocol counts.
    const rows = Array.from({ length: 32_768 }, (_, i) => sql`(${i})`);
    await sql`SELECT count(*) FROM (VALUES ${sql.join(rows)}) AS v(x)`.execute(directDb(engine.database));
    const health = await app.request("/healthz");
    const ready = await app.request("/readyz");
    expect([health.status, ready.status]).toEqual([503, 503]);
    expect(await health.json()).toMatchObject({ error: { code: "UNAVAILABLE", details: { broken: true } } });
  });
});
