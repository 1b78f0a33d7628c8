import type { StartLine } from "@baton/api/check";
import { type Client, isBatonError } from "@baton/worker-sdk";
import type { LineLog } from "./report-log.ts";
import { planRun, WORKFLOWS } from "./workflows.ts";

/** Share of runs started a second time with the same runId (invariant I6: nothing new is created). */
const DUPLICATE_START_SHARE = 0.05;
/** Per running instance picked: pause it (resumed or cancelled a little later), or cancel it. */
const PAUSE_SHARE = 0.06;
const CANCEL_SHARE = 0.03;

export interface DriverCounts {
  started: number;
  duplicateStarts: number;
  paused: number;
  resumed: number;
  cancelled: number;
  /** Control calls refused because the instance had moved on (e.g. it completed first). */
  refused: number;
}

/**
 * Starts runs of every chaos workflow at a steady rate, some twice with the same runId, and pauses,
 * resumes and cancels some while they run. Every start answer goes to the starts log.
 */
export class Driver {
  readonly counts: DriverCounts = { started: 0, duplicateStarts: 0, paused: 0, resumed: 0, cancelled: 0, refused: 0 };
  private readonly recent: string[] = [];
  private readonly paused = new Set<string>();
  private readonly pending = new Set<Promise<unknown>>();
  private seq = 0;

  constructor(
    private readonly client: Client,
    private readonly starts: LineLog,
    private readonly runTag: string,
    /** The workflows to start runs of, picked at random. */
    private readonly workflows: readonly (typeof WORKFLOWS)[number][] = WORKFLOWS,
  ) {}

  /** Starts `total` runs spread evenly over `durationMs`. */
  async run(total: number, durationMs: number): Promise<void> {
    const began = Date.now();
    for (let i = 0; i < total; i++) {
      const due = began + (i * durationMs) / total;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      this.track(this.startOne());
      if (Math.random() < PAUSE_SHARE + CANCEL_SHARE) this.track(this.control());
      // Bound what is in flight: a slow or restarting API must not pile up thousands of calls.
      while (this.pending.size > 200) await Promise.race(this.pending);
    }
    await Promise.allSettled(this.pending);
  }

  /** Resumes every instance the driver paused and has not resumed or cancelled yet. */
  async resumeAll(): Promise<void> {
    await Promise.all([...this.paused].map((id) => this.resume(id)));
  }

  private track(p: Promise<unknown>): void {
    const tracked = p.catch((error: unknown) => console.error("driver:", String(error))).finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }

  private async startOne(): Promise<void> {
    const workflow = this.workflows[Math.floor(Math.random() * this.workflows.length)] as (typeof WORKFLOWS)[number];
    const runId = `${this.runTag}-${++this.seq}`;
    const input = { n: this.seq, chaos: planRun(workflow, Math.random) };
    const started = await this.start(workflow.name, runId, input);
    this.counts.started++;
    this.recent.push(started);
    if (this.recent.length > 200) this.recent.shift();
    if (Math.random() < DUPLICATE_START_SHARE) {
      this.counts.duplicateStarts++;
      await this.start(workflow.name, runId, input);
    }
  }

  private async start(workflow: string, runId: string, input: Record<string, unknown>): Promise<string> {
    const answer = await this.client.start(workflow, { runId, input });
    const line: StartLine = { workflow, runId, instanceId: answer.instanceId, created: answer.created, at: new Date().toISOString() };
    this.starts.write(line);
    return answer.instanceId;
  }

  private async control(): Promise<void> {
    const instanceId = this.recent[Math.floor(Math.random() * this.recent.length)];
    if (!instanceId) return;
    if (Math.random() < CANCEL_SHARE / (PAUSE_SHARE + CANCEL_SHARE)) {
      await this.call(() => this.client.cancel(instanceId), "cancelled");
      return;
    }
    if (!(await this.call(() => this.client.pause(instanceId), "paused"))) return;
    this.paused.add(instanceId);
    await sleep(300 + Math.random() * 2700);
    // A fifth of the paused ones are cancelled while paused; the rest resume.
    if (Math.random() < 0.2) {
      if (await this.call(() => this.client.cancel(instanceId), "cancelled")) this.paused.delete(instanceId);
    }
    if (this.paused.has(instanceId)) await this.resume(instanceId);
  }

  private async resume(instanceId: string): Promise<void> {
    if (await this.call(() => this.client.resume(instanceId), "resumed")) this.paused.delete(instanceId);
  }

  /**
   * A control call, tried again while no API process answers. True when it was applied; false when
   * refused because the instance is in another state (it finished, or a retry finds it applied).
   */
  private async call(action: () => Promise<unknown>, counter: "paused" | "resumed" | "cancelled"): Promise<boolean> {
    for (let tries = 0; ; tries++) {
      try {
        await action();
        this.counts[counter]++;
        return true;
      } catch (error) {
        if (isBatonError(error, "INVALID_STATE")) {
          this.counts.refused++;
          return false;
        }
        if (tries >= 30 || !isBatonError(error) || !["UNAVAILABLE", "INTERNAL", "CONCURRENT_UPDATE"].includes(error.code)) throw error;
        await sleep(200 + Math.random() * 300);
      }
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
