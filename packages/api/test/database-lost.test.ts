import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { onPglite } from "../../../test-support/database.ts";
import { capturedLog } from "../../engine/test/captured-log.ts";
import { acquireOne, type Harness, startHarness, startOneRun } from "./http-harness.ts";

const WARN_LEVEL = 40;
const ERROR_LEVEL = 50;

if (onPglite) console.log("database-lost: skipped on PGlite, which runs in-process and has no connection to lose");

describe.skipIf(onPglite)("a database connection lost mid-request (Postgres)", () => {
  const log = capturedLog();
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ app: { logger: log.logger } });
  });
  afterAll(() => h?.close());

  it("answers 503 UNAVAILABLE (logged as a warning), and the retried request goes through", async () => {
    const { queue, instanceId } = await startOneRun(h);
    const task = await acquireOne(h, queue);
    const report = { workerId: "w1", fenceToken: task.fenceToken, output: { ok: true } };
    const other = new pg.Client({ connectionString: h.engine.testDb.url });
    await other.connect();
    try {
      // Hold the instance's lock, so the completion waits inside its transaction; then kill its backend.
      await other.query("BEGIN");
      await other.query("SELECT 1 FROM workflow_instances WHERE instance_id = $1 FOR UPDATE", [instanceId]);
      const answer = h.call("POST", `/v1/tasks/${task.executionId}/complete`, report);
      let waiting: number | undefined;
      for (let i = 0; i < 400 && waiting === undefined; i++) {
        const r = await other.query(
          "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
        );
        waiting = r.rows[0]?.pid;
        if (waiting === undefined) await new Promise((resolve) => setTimeout(resolve, 25));
      }
      expect(waiting).toBeDefined();
      await other.query("SELECT pg_terminate_backend($1)", [waiting]);
      const lost = await answer;
      expect(lost.status).toBe(503);
      expect(lost.body.error).toMatchObject({
        code: "UNAVAILABLE",
        message: expect.stringMatching(/database connection was lost.*retry/),
        details: { retryable: true },
      });
      await other.query("ROLLBACK");
    } finally {
      await other.end();
    }
    const failed = log.lines.filter((l) => typeof l.msg === "string" && l.msg.startsWith("request failed"));
    expect(failed.map((l) => l.level)).toContain(WARN_LEVEL);
    expect(failed.map((l) => l.level)).not.toContain(ERROR_LEVEL);

    // What a client does with a 503: retry. The pool has replaced the dead connection.
    const retried = await h.call("POST", `/v1/tasks/${task.executionId}/complete`, report);
    expect(retried.status).toBe(200);
    expect((await h.call("GET", `/v1/instances/${instanceId}`)).body.state).toBe("COMPLETED");
  });
});
