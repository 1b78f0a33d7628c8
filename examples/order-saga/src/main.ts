/**
 * Runs the order saga end to end and prints each order's timeline: loopback services, a Baton
 * server on an embedded database, HTTP-call steps with a conditional coupon, a declined card that
 * compensates, and a notification allowed to fail.
 *
 *   pnpm example:order
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres pnpm example:order
 */
import { runOrderSaga } from "./order-saga.ts";

try {
  const { runs } = await runOrderSaga(process.env.DATABASE_URL ? { databaseUrl: process.env.DATABASE_URL } : {});
  process.exit(runs.every((r) => r.state === "COMPLETED" || r.state === "COMPENSATED") ? 0 : 1);
} catch (error) {
  const code = (error as { code?: string }).code;
  console.error(`the order saga did not finish: ${code ? `${code}: ` : ""}${(error as Error).message}`);
  process.exit(1);
}
