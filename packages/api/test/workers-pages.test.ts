import { createApp } from "@baton/api";
import { createEngine, type Engine } from "@baton/engine";
import { directDb, workerRecordPoll } from "@baton/engine/internal";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../../test-support/database.ts";

// worker_heartbeats stays bounded (stale rows are pruned in the background) and /v1/workers answers a page at a time.

let testDb: TestDatabase;
let engine: Engine;
beforeAll(async () => {
  testDb = await createTestDatabase();
  engine = await createEngine({
    database: testDb.database,
    migrate: false,
    reapIntervalMs: 0,
    workerRetentionMs: 60_000,
    housekeepingIntervalMs: 100,
  });
});
afterAll(async () => {
  await engine.close();
  await testDb.drop();
});

const count = async (where: ReturnType<typeof sql>) =>
  Number(
    (await sql<{ n: string }>`SELECT count(*) AS n FROM worker_heartbeats WHERE ${where}`.execute(directDb(testDb.database))).rows[0]?.n,
  );

describe("GET /v1/workers", () => {
  it("answers a page at a time, by worker id; following nextCursor lists every worker once", async () => {
    const ids = ["page-a", "page-b", "page-c", "page-d", "page-e"];
    for (const id of ids) await workerRecordPoll(directDb(testDb.database), id, [`${id}.q1`, `${id}.q2`]);
    const app = createApp(engine);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: Response = await app.request(`/v1/workers?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { items: { id: string; queues: string[] }[]; nextCursor: string | null };
      expect(body.items.length).toBeLessThanOrEqual(2);
      for (const item of body.items) expect(item.queues).toEqual([`${item.id}.q1`, `${item.id}.q2`]);
      seen.push(...body.items.map((i) => i.id));
      cursor = body.nextCursor;
      pages++;
    } while (cursor);
    expect(seen.filter((id) => id.startsWith("page-"))).toEqual(ids);
    expect(pages).toBeGreaterThanOrEqual(3);
    expect((await app.request("/v1/workers?cursor=nonsense!")).status).toBe(400);
  });
});

describe("worker_heartbeats pruning", () => {
  it("deletes poll records older than workerRetentionMs in the background, in batches, and keeps recent ones", async () => {
    const stale = Array.from({ length: 1200 }, (_, i) => `old.q${i}`);
    await workerRecordPoll(directDb(testDb.database), "gone-worker", stale);
    await workerRecordPoll(directDb(testDb.database), "live-worker", ["live.q"]);
    await sql`UPDATE worker_heartbeats SET last_seen_at = now() - interval '2 minutes' WHERE worker_id = 'gone-worker'`.execute(
      directDb(testDb.database),
    );
    await vi.waitFor(async () => expect(await count(sql`worker_id = 'gone-worker'`)).toBe(0), { timeout: 10_000, interval: 100 });
    expect(await count(sql`worker_id = 'live-worker'`)).toBe(1);
  });
});
