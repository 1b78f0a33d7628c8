import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { onPglite } from "../../../test-support/database.ts";
import { type Answer, acquireOne, type Harness, startHarness, startOneRun, uniqueWorkflow } from "./http-harness.ts";

// Two requests that contradict each other, fired together over real HTTP, many times: exactly one
// wins, the loser gets a typed 409, and the instance ends as the winner says. PGlite has one
// session, so its requests are serialised and fewer rounds say as much.
const ROUNDS = onPglite ? 10 : 50;
/** Rounds in flight at once: enough to keep the file quick, few enough to keep each race tight. */
const PARALLEL = 10;
if (onPglite) console.log(`races: ${ROUNDS} rounds per race on PGlite (one session serialises them), 50 on Postgres`);

let h: Harness;
beforeAll(async () => {
  // The background reaper runs, so a lease can expire under a completion as it would in production.
  h = await startHarness({ reapIntervalMs: 10, poolSize: 20 });
});
afterAll(() => h?.close());

/** Runs `round` ROUNDS times, PARALLEL at a time; returns how often each winner won, and prints it. */
async function race(name: string, round: (i: number) => Promise<string>): Promise<Record<string, number>> {
  const wins: Record<string, number> = {};
  for (let start = 0; start < ROUNDS; start += PARALLEL) {
    const winners = await Promise.all(Array.from({ length: Math.min(PARALLEL, ROUNDS - start) }, (_, i) => round(start + i)));
    for (const w of winners) wins[w] = (wins[w] ?? 0) + 1;
  }
  console.log(`${name}: ${ROUNDS} rounds, won by ${JSON.stringify(wins)}`);
  return wins;
}

const ONE_ATTEMPT = { retry: { maxAttempts: 1 } };

async function leasedRun(step: Record<string, unknown> = {}) {
  const { name, queue } = uniqueWorkflow("race");
  const run = await startOneRun(h, { steps: [{ name: "work", queue, ...ONE_ATTEMPT, ...step }] });
  return { ...run, name, task: await acquireOne(h, queue) };
}

const instance = async (id: string) => (await h.call("GET", `/v1/instances/${id}`)).body;
const lease = (task: { fenceToken: number }) => ({ workerId: "w1", fenceToken: task.fenceToken });

/** Which of two answers won (2xx), asserting the other lost with one of `codes` (409). */
function winnerOf(answers: Record<string, Answer>, codes: Record<string, string[]>): string {
  const won = Object.keys(answers).filter((k) => (answers[k] as Answer).status < 300);
  expect(won, JSON.stringify(answers)).toHaveLength(1);
  const winner = won[0] as string;
  for (const [k, a] of Object.entries(answers)) {
    if (k === winner) continue;
    expect(a.status, JSON.stringify(a.body)).toBe(409);
    expect(codes[k]).toContain(a.body.error.code);
  }
  return winner;
}

describe("races fired together", () => {
  it("complete vs fail on the same lease", async () => {
    const wins = await race("complete vs fail", async () => {
      const { instanceId, task } = await leasedRun();
      const [complete, fail] = await Promise.all([
        h.call("POST", `/v1/tasks/${task.executionId}/complete`, { ...lease(task), output: { ok: 1 } }),
        h.call("POST", `/v1/tasks/${task.executionId}/fail`, { ...lease(task), error: { message: "no" } }),
      ]);
      const winner = winnerOf({ complete, fail }, { complete: ["NOT_LEASED"], fail: ["ALREADY_COMPLETED"] });
      const view = await instance(instanceId);
      expect(view.state).toBe(winner === "complete" ? "COMPLETED" : "FAILED");
      expect(view.tasks.map((t: { state: string }) => t.state)).toEqual([winner === "complete" ? "COMPLETED" : "FAILED"]);
      return winner;
    });
    expect(Object.values(wins).reduce((a, b) => a + b)).toBe(ROUNDS);
  });

  it("complete vs cancel", async () => {
    await race("complete vs cancel", async () => {
      const { instanceId, task } = await leasedRun();
      const [complete, cancel] = await Promise.all([
        h.call("POST", `/v1/tasks/${task.executionId}/complete`, { ...lease(task), output: { ok: 1 } }),
        h.call("POST", `/v1/instances/${instanceId}/cancel`),
      ]);
      const winner = winnerOf({ complete, cancel }, { complete: ["NOT_LEASED"], cancel: ["INVALID_STATE"] });
      const view = await instance(instanceId);
      expect(view.state).toBe(winner === "complete" ? "COMPLETED" : "CANCELLED");
      expect(view.tasks.map((t: { state: string }) => t.state)).toEqual([winner === "complete" ? "COMPLETED" : "CANCELLED"]);
      return winner;
    });
  });

  it("complete vs the lease reaper, the completion landing as the lease expires", async () => {
    await race("complete vs reaper", async (i) => {
      const { instanceId, task } = await leasedRun({ leaseMs: 100 });
      // Aim the completion around the expiry: from 20 ms before to 5 ms after (the request takes a few ms).
      const at = Date.parse(task.leaseExpiresAt) + (i % 26) - 20;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));
      const complete = await h.call("POST", `/v1/tasks/${task.executionId}/complete`, { ...lease(task), output: { ok: 1 } });
      if (complete.status === 200) {
        const view = await instance(instanceId);
        expect(view.state).toBe("COMPLETED");
        expect(view.tasks.map((t: { state: string }) => t.state)).toEqual(["COMPLETED"]);
        return "complete";
      }
      expect(complete.status, JSON.stringify(complete.body)).toBe(409);
      expect(complete.body.error.code).toBe("LEASE_EXPIRED");
      // The reaper takes the expired lease: the one attempt timed out, so the instance failed.
      await expect.poll(async () => (await instance(instanceId)).state, { timeout: 5000 }).toBe("FAILED");
      expect((await instance(instanceId)).tasks.map((t: { state: string }) => t.state)).toEqual(["TIMED_OUT"]);
      return "reaper";
    });
  });

  it("two acquires of the same single task", async () => {
    await race("two acquires", async () => {
      const { queue } = uniqueWorkflow("race");
      const { instanceId } = await startOneRun(h, { steps: [{ name: "work", queue }] });
      const answers = await Promise.all(["wa", "wb"].map((workerId) => h.call("POST", "/v1/tasks/acquire", { workerId, queues: [queue] })));
      expect(answers.map((r) => r.status)).toEqual([200, 200]);
      // The loser of an acquire is not refused: it is told there is nothing for it.
      const got = answers.map((r) => (r.body.tasks as unknown[]).length);
      expect([...got].sort()).toEqual([0, 1]);
      const view = await instance(instanceId);
      expect(view.tasks).toHaveLength(1);
      expect(view.tasks[0].state).toBe("LEASED");
      return got[0] === 1 ? "first" : "second";
    });
  });

  it("starts with the same runId and the same input", async () => {
    const { name, queue } = uniqueWorkflow("race");
    expect((await h.call("POST", "/v1/workflows", { name, steps: [{ name: "work", queue }] })).status).toBe(201);
    await race("same-runId starts", async (i) => {
      const runId = `run-${i}-${crypto.randomUUID()}`;
      const answers = await Promise.all([1, 2, 3].map(() => h.call("POST", `/v1/workflows/${name}/runs`, { runId, input: { i } })));
      // One creates the instance (201); the others are the same start again: 200, the same instance.
      const created = answers.filter((a) => a.status === 201);
      expect(created, JSON.stringify(answers.map((a) => [a.status, a.body]))).toHaveLength(1);
      for (const a of answers) {
        expect(a.status === 201 || a.status === 200, JSON.stringify(a.body)).toBe(true);
        expect(a.body).toMatchObject({ instanceId: created[0]?.body.instanceId, runId, created: a.status === 201 });
      }
      const list = await h.call("GET", `/v1/instances?workflow=${name}&limit=500`);
      expect(list.body.items.filter((it: { runId: string }) => it.runId === runId)).toHaveLength(1);
      return `request ${answers.indexOf(created[0] as Answer) + 1}`;
    });
  });

  it("pause vs complete", async () => {
    await race("pause vs complete", async () => {
      const { instanceId, task } = await leasedRun();
      const [pause, complete] = await Promise.all([
        h.call("POST", `/v1/instances/${instanceId}/pause`),
        h.call("POST", `/v1/tasks/${task.executionId}/complete`, { ...lease(task), output: { ok: 1 } }),
      ]);
      // A pause lets a leased step finish (DESIGN §5), so a completion is never refused by it. The
      // pause loses only to a completion that already finished the instance.
      expect(complete.status, JSON.stringify(complete.body)).toBe(200);
      const view = await instance(instanceId);
      expect(view.tasks.map((t: { state: string }) => t.state)).toEqual(["COMPLETED"]);
      if (pause.status === 200) {
        expect(view.state).toBe("PAUSED");
        expect((await h.call("POST", `/v1/instances/${instanceId}/resume`)).status).toBe(200);
        expect((await instance(instanceId)).state).toBe("COMPLETED");
        return "pause first";
      }
      expect(pause.status, JSON.stringify(pause.body)).toBe(409);
      expect(pause.body.error.code).toBe("INVALID_STATE");
      expect(view.state).toBe("COMPLETED");
      return "complete first";
    });
  });
});
