/**
 * Runs the order split end to end and prints each order's timeline: a Baton server on an
 * embedded database, an inventory worker reserving an order's lines (a fan-out step, two at a time),
 * an invoice from the reservations in line order, and an order whose piano cannot be reserved,
 * whose reserved lines are released again.
 *
 *   pnpm example:split
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres pnpm example:split
 */
import { runOrderSplit } from "./order-split.ts";

try {
  const { runs } = await runOrderSplit(process.env.DATABASE_URL ? { databaseUrl: process.env.DATABASE_URL } : {});
  process.exit(runs.every((r) => r.state === "COMPLETED" || r.state === "COMPENSATED") ? 0 : 1);
} catch (error) {
  const code = (error as { code?: string }).code;
  console.error(`the order split did not finish: ${code ? `${code}: ` : ""}${(error as Error).message}`);
  process.exit(1);
}
