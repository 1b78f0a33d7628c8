import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runTenantCreation } from "../../../examples/tenant-creation/src/tenant-creation.ts";
import { createTestEngine, type TestEngine } from "../../../test-support/engine.ts";
import { silentLogger } from "../src/index.ts";
import { type Connection, connectTo, TRANSPORT_MODES } from "./support/harness.ts";

let engine: TestEngine;
beforeAll(async () => {
  engine = await createTestEngine({ pollIntervalMs: 100 });
});
afterAll(() => engine?.destroy());

describe.each(TRANSPORT_MODES)("examples/tenant-creation (%s)", (mode) => {
  let connection: Connection;
  beforeAll(async () => {
    connection = await connectTo(engine, mode);
  });
  afterAll(() => connection?.close());

  it("retries createClient until it is exhausted, then undoes createRealm: COMPENSATED", async () => {
    const lines: string[] = [];
    const done = await runTenantCreation({
      connection: connection.options,
      tenant: `acme-${mode}`,
      say: (line) => lines.push(line),
      logger: silentLogger,
    });
    expect(done.state).toBe("COMPENSATED");
    expect(done.tasks.map((t) => [t.taskId, t.kind, t.attempt, t.state])).toEqual([
      ["createRealm", "DO", 1, "COMPLETED"],
      ["createClient", "DO", 1, "FAILED"],
      ["createClient", "DO", 2, "FAILED"],
      ["createClient", "DO", 3, "FAILED"],
      ["createRealm", "UNDO", 1, "COMPLETED"],
    ]);
    // The timeline printed every event, in order, ending with the compensation.
    const printed = lines.filter((l) => / #\d+ /.test(l));
    expect(printed).toHaveLength(done.events.length);
    expect(printed.at(-1)).toMatch(/WORKFLOW_COMPENSATED/);
    expect(lines.at(-1)).toMatch(/is COMPENSATED; realms left in the identity provider: 0/);
  });

  it("completes when createClient succeeds on a retry", async () => {
    const done = await runTenantCreation({
      connection: connection.options,
      tenant: `globex-${mode}`,
      failClientCalls: 1,
      say: () => {},
      logger: silentLogger,
    });
    expect(done.state).toBe("COMPLETED");
    expect(done.output).toEqual({
      createRealm: { realmId: `realm-globex-${mode}` },
      createClient: { clientId: `realm-globex-${mode}-app` },
    });
  });
});
