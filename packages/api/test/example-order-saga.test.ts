import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runOrderSaga } from "../../../examples/order-saga/src/order-saga.ts";
import { createTestDatabase, onPglite, type TestDatabase } from "../../../test-support/database.ts";

// `pnpm example:order` end to end: loopback services, Baton calling them as HTTP steps, on
// Postgres (a fresh test database) or on the embedded PGlite the example starts by itself.

// On PGlite the example opens its own embedded database, as `pnpm example:order` does.
let db: TestDatabase | undefined;
beforeAll(async () => {
  if (!onPglite) db = await createTestDatabase();
}, 60_000);
afterAll(() => db?.drop());

describe("examples/order-saga", () => {
  it("completes the order with a coupon past a notification that fails, and compensates the declined one", async () => {
    const lines: string[] = [];
    const { runs, calls } = await runOrderSaga({ say: (line) => lines.push(line), ...(db?.url ? { databaseUrl: db.url } : {}) });
    const [paid, declined] = runs;

    expect(paid?.state).toBe("COMPLETED");
    expect(paid?.output).toMatchObject({
      reserve: { reservationId: "res-o-1" },
      coupon: { discount: 10 },
      charge: { chargeId: "ch-o-1" },
      notify: { error: { message: expect.stringContaining("answered 503") } },
    });
    expect(declined?.state).toBe("COMPENSATED");
    expect(declined?.tasks.find((t) => t.taskId === "coupon")?.state).toBe("SKIPPED");
    expect(calls).toEqual([
      "inventory /reserve o-1 -> 200",
      "coupons /apply o-1 -> 200",
      "payments /charge o-1 -> 200",
      "notifications /send o-1 -> 503",
      "notifications /send o-1 -> 503",
      "inventory /reserve o-2 -> 200",
      "payments /charge o-2 -> 402",
      "inventory /release o-2 -> 200",
    ]);
    // Each run's timeline was printed, every event of it.
    const printed = lines.filter((l) => / #\d+ /.test(l));
    expect(printed).toHaveLength((paid?.events.length ?? 0) + (declined?.events.length ?? 0));
    expect(lines).toContain(`\norder o-2 (${JSON.stringify({ orderId: "o-2", items: ["piano"], amount: 5000 })}): COMPENSATED`);
  }, 120_000);
});
