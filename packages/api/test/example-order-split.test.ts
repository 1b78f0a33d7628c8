import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXAMPLE_ORDERS, runOrderSplit } from "../../../examples/order-split/src/order-split.ts";
import { createTestDatabase, onPglite, type TestDatabase } from "../../../test-support/database.ts";

// `pnpm example:split` end to end: a Baton server, the inventory worker over HTTP, one order whose
// lines are all reserved and one whose piano cannot be, on Postgres (a fresh test database) or on
// the embedded PGlite the example starts by itself.

let db: TestDatabase | undefined;
beforeAll(async () => {
  if (!onPglite) db = await createTestDatabase();
}, 60_000);
afterAll(() => db?.drop());

describe("examples/order-split", () => {
  it("reserves an order's lines two at a time and invoices them in line order; releases the reserved lines of an order that fails", async () => {
    const lines: string[] = [];
    const { runs, inventory } = await runOrderSplit({ say: (line) => lines.push(line), ...(db?.url ? { databaseUrl: db.url } : {}) });
    const [complete, failed] = runs;

    expect(complete?.state).toBe("COMPLETED");
    expect(complete?.output).toMatchObject({
      reserve: EXAMPLE_ORDERS[0]?.lines.map((l) => ({ sku: l.sku, qty: l.qty, price: expect.any(Number) })),
      invoice: { orderId: "o-1", lines: ["2 book", "3 pen", "1 lamp", "2 pen"], total: 64 },
    });
    expect(inventory.mostAtOnce).toBe(2);

    expect(failed?.state).toBe("COMPENSATED");
    expect(failed?.error).toMatchObject({ reason: "STEP_FAILED", step: "reserve", elementIndex: 1 });
    // Whatever o-2 reserved was released: the stock is what o-1 left.
    expect(Object.fromEntries(inventory.stock)).toEqual({ book: 3, pen: 5, lamp: 1, piano: 0 });
    const undone = failed?.tasks.filter((t) => t.kind === "UNDO").map((t) => t.elementIndex) ?? [];
    const reserved = failed?.tasks.filter((t) => t.kind === "DO" && t.state === "COMPLETED").map((t) => t.elementIndex) ?? [];
    expect(undone.sort()).toEqual(reserved.sort());
    expect(undone).toContain(0);

    // Each run's timeline was printed, every event of it.
    const printed = lines.filter((l) => / #\d+ /.test(l));
    expect(printed).toHaveLength((complete?.events.length ?? 0) + (failed?.events.length ?? 0));
    expect(lines.some((l) => l.includes("COMPENSATION_STARTED: STEP_FAILED (reserve#1)"))).toBe(true);
  }, 120_000);
});
