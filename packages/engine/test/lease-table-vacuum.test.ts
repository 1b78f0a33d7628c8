import { directDb } from "@baton/engine/internal";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { onPglite } from "../../../test-support/database.ts";
import { createTestEngine, type TestEngine } from "../../../test-support/engine.ts";
import { startLeaseTableVacuum } from "../src/coordinators/lease-table-vacuum.ts";

let engine: TestEngine;
beforeAll(async () => {
  engine = await createTestEngine();
});
afterAll(() => engine.destroy());

async function vacuumCount(): Promise<number> {
  const { rows } = await sql<{ n: string }>`
    SELECT (vacuum_count + autovacuum_count)::text AS n FROM pg_stat_user_tables WHERE relname = 'task_leases'`.execute(
    directDb(engine.database),
  );
  return Number(rows[0]?.n ?? 0);
}

describe.skipIf(onPglite)("lease table vacuum (Postgres only: embedded PGlite is not vacuumed by the engine)", () => {
  it("vacuums task_leases once enough leases were handed out, and not before", async () => {
    const name = `vacuum-${crypto.randomUUID().slice(0, 8)}`;
    await engine.workflows.registerWorkflow({ name, steps: [{ name: "a", queue: name }] });
    const errors: unknown[] = [];
    const pass = startLeaseTableVacuum(
      directDb(engine.database),
      () => engine.tasks.leasesHandedOut,
      { error: (fields) => errors.push(fields) },
      { afterLeases: 5, minIntervalMs: 0, checkIntervalMs: 20 },
    );
    try {
      const before = await vacuumCount();
      await engine.workflows.startMany({ workflow: name, runs: Array.from({ length: 4 }, () => ({})) });
      expect(await engine.tasks.acquire({ queues: [name], workerId: "w", max: 4 })).toHaveLength(4);
      await new Promise((resolve) => setTimeout(resolve, 300));
      // pg_stat_user_tables is read from the statistics snapshot; a fresh transaction sees the latest.
      expect(await vacuumCount()).toBe(before);

      await engine.workflows.startMany({ workflow: name, runs: Array.from({ length: 2 }, () => ({})) });
      expect(await engine.tasks.acquire({ queues: [name], workerId: "w", max: 2 })).toHaveLength(2);
      await vi.waitFor(async () => expect(await vacuumCount()).toBeGreaterThan(before), { timeout: 10_000, interval: 50 });
      expect(errors).toEqual([]);
    } finally {
      await pass.stop();
    }
  });
});
