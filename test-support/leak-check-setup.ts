import { afterEach } from "vitest";
import { openTestDatabases } from "./database.ts";
import { leftOpen } from "./leak-check.ts";

// After each test (and after the test's own afterEach hooks), every test database of the file that
// is still open must hold nothing the test took: a test that leaks a connection or a transaction
// fails here, instead of a later test hanging on an exhausted pool or a lock.
afterEach(async () => {
  for (const testDb of openTestDatabases) {
    const held = await leftOpen(testDb);
    if (held.length > 0) throw new Error(`The test left its database holding: ${held.join("; ")}`);
  }
});
