import { LEDGER_WRITE } from "@baton/api/check";
import { NonRetryableError } from "@baton/worker-sdk";
import pg from "pg";
import type { RunPlan } from "./workflows.ts";

/** One attempt of a step, as an SDK handler or a Kafka command sees it. */
export interface StepCall {
  instanceId: string;
  taskId: string;
  kind: "DO" | "UNDO";
  executionId: string;
  fenceToken: number;
  input: Record<string, unknown>;
}

/**
 * What every chaos worker does for an attempt, whichever transport brought it: it fails as the
 * run's plan says (for good) or at random (transiently), else writes its effect to the ledger with
 * its fence token (refused when a newer attempt wrote first) and returns its output.
 */
export class StepEffects {
  private readonly ledger: pg.Pool;

  constructor(
    ledgerUrl: string,
    private readonly workerId: string,
    private readonly transientFailureRate: number,
  ) {
    this.ledger = new pg.Pool({ connectionString: ledgerUrl, max: 8, application_name: "chaos-ledger" });
    // Postgres restarts under the suite: a dropped idle connection is not a crash.
    this.ledger.on("error", () => {});
    this.ledger.on("connect", (client) => client.on("error", () => {}));
  }

  /** Runs the attempt; throws NonRetryableError for a planned failure, Error for a transient one. */
  async perform(call: StepCall): Promise<unknown> {
    const plan = (call.input.chaos ?? {}) as RunPlan;
    await sleep(5 + Math.random() * 45);
    if (call.kind === "DO" && plan.failStep === call.taskId) throw new NonRetryableError(`planned permanent failure of ${call.taskId}`);
    if (call.kind === "UNDO" && plan.failUndo === call.taskId)
      throw new NonRetryableError(`planned permanent failure of undo ${call.taskId}`);
    if (Math.random() < this.transientFailureRate) throw new Error("injected transient failure");
    if (!(await this.writeEffect(call))) throw new Error(`the ledger refused fence ${call.fenceToken}: a newer attempt wrote first`);
    return { step: call.taskId, kind: call.kind, fence: call.fenceToken, workerId: this.workerId };
  }

  async close(): Promise<void> {
    await this.ledger.end().catch(() => {});
  }

  /** Writes the effect with its fence; retried while the ledger's server is away (restarts). */
  private async writeEffect(call: StepCall): Promise<boolean> {
    for (let tries = 0; ; tries++) {
      try {
        const { rows } = await this.ledger.query<{ accepted: boolean }>(LEDGER_WRITE, [
          call.instanceId,
          call.taskId,
          call.kind,
          call.fenceToken,
          call.executionId,
          this.workerId,
        ]);
        return rows[0]?.accepted === true;
      } catch (error) {
        if (tries >= 50) throw error;
        await sleep(200);
      }
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A required environment variable of a chaos child process. */
export function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}
