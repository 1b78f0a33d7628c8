import { conditionHolds, type StepDefinition, type WorkflowDefinition } from "@baton/contract";
import { type Attempts, isExhausted, type SettledAttempt, type TaskSnapshot } from "./attempts.ts";
import { type ForEachError, forEachList } from "./fan-out.ts";

/**
 * Where a step's DO stands: `open` (not started, or still running), `done` (completed, or skipped:
 * `seen` is then undefined), or `failed` for good (`running` while elements of a fan-out that
 * failed are still running; `elementIndex` names the element that failed).
 */
export type StepOutcome =
  | { kind: "open" }
  | { kind: "done"; seen: unknown }
  | { kind: "failed"; cause: unknown; elementIndex?: number; running: boolean };

const OPEN: StepOutcome = { kind: "open" };

/** A fan-out step, whose `forEach` is set. */
export type FanOutStep = StepDefinition & { forEach: string };

/**
 * The forward view of one instance, for one planning: each step's outcome, what its dependants see
 * of it, each step's input and each fan-out's list, worked out once each. A step that settles at
 * its start without running (skipped, or a fan-out over an empty or unusable list) has that
 * outcome as soon as its dependencies have settled, before its attempt is written, so one planning
 * goes as far as such steps allow: their dependants start, the run completes or fails.
 */
export class StepOutcomes {
  private readonly outcomes = new Map<string, StepOutcome>();
  private readonly inputs = new Map<string, Record<string, unknown>>();
  private readonly lists = new Map<string, { list: unknown[] } | { error: ForEachError }>();
  private readonly byName: Map<string, StepDefinition>;

  constructor(
    def: WorkflowDefinition,
    private readonly runInput: Record<string, unknown>,
    private readonly attempts: Attempts,
  ) {
    this.byName = new Map(def.steps.map((s) => [s.name, s]));
  }

  outcome(step: StepDefinition): StepOutcome {
    let outcome = this.outcomes.get(step.name);
    if (!outcome) {
      outcome = this.work(step);
      this.outcomes.set(step.name, outcome);
    }
    return outcome;
  }

  /** Whether a step's dependencies have all settled, so it can start. */
  ready(step: StepDefinition): boolean {
    return step.dependsOn.every((name) => this.settled(name));
  }

  /**
   * Whether a step lets its dependants (and the run) go on: it completed, was skipped, or failed
   * for good with nothing of it still running (only a step that continues on failure is asked
   * then: any other has turned the run to compensation first).
   */
  settled(name: string): boolean {
    const outcome = this.outcome(this.step(name));
    return outcome.kind === "done" || (outcome.kind === "failed" && !outcome.running);
  }

  /**
   * What dependants and the run's output see of a settled step: its output (a fan-out's: its
   * elements' outputs in element order), `{ error }` for a failure the run continued past (with
   * `elementIndex` for a fan-out's element), nothing (undefined) for a skipped step.
   */
  seen(name: string): unknown {
    const outcome = this.outcome(this.step(name));
    if (outcome.kind === "done") return outcome.seen;
    if (outcome.kind === "failed") {
      return { error: outcome.cause, ...(outcome.elementIndex !== undefined ? { elementIndex: outcome.elementIndex } : {}) };
    }
    return undefined;
  }

  /** The workflow input plus what the steps this one depends on left (see `seen`), keyed by step name. */
  input(step: StepDefinition): Record<string, unknown> {
    const known = this.inputs.get(step.name);
    if (known) return known;
    const deps = step.dependsOn.flatMap((dep) => {
      const seen = this.seen(dep);
      return seen === undefined ? [] : [[dep, seen]];
    });
    const input = { ...this.runInput, ...Object.fromEntries(deps) };
    this.inputs.set(step.name, input);
    return input;
  }

  /** A fan-out step's list, read from its input, or why it cannot run over it. */
  list(step: FanOutStep): { list: unknown[] } | { error: ForEachError } {
    let found = this.lists.get(step.name);
    if (!found) {
      found = forEachList(step.forEach, this.input(step));
      this.lists.set(step.name, found);
    }
    return found;
  }

  /**
   * How a ready step settles at its start without running, or null when it runs: SKIPPED when its
   * `when` does not hold; for a fan-out, COMPLETED with `[]` over an empty list, FAILED over a list
   * it cannot use.
   */
  settledAtStart(step: StepDefinition): SettledAttempt | null {
    const input = this.input(step);
    if (step.when !== undefined && !conditionHolds(step.when, input)) {
      return { state: "SKIPPED", reason: "its `when` condition does not hold for its input" };
    }
    if (step.forEach === undefined) return null;
    const found = this.list(step as FanOutStep);
    if ("error" in found) return { state: "FAILED", error: found.error };
    return found.list.length === 0 ? { state: "COMPLETED", output: [], reason: "its forEach list is empty" } : null;
  }

  private step(name: string): StepDefinition {
    return this.byName.get(name) as StepDefinition;
  }

  private work(step: StepDefinition): StepOutcome {
    const own = this.attempts.latest(step.name, "DO");
    if (own) return single(own);
    const elements = step.forEach === undefined ? new Map() : this.attempts.elements(step.name, "DO");
    if (elements.size > 0) return this.fanOut(step as FanOutStep, elements);
    if (!this.ready(step)) return OPEN;
    const settled = this.settledAtStart(step);
    if (settled?.state === "FAILED") return { kind: "failed", cause: settled.error, running: false };
    return settled ? { kind: "done", seen: "output" in settled ? settled.output : undefined } : OPEN;
  }

  /**
   * A fan-out under way is done when every element of its list completed, and failed once one
   * element failed for good (the lowest such index is reported).
   */
  private fanOut(step: FanOutStep, elements: ReadonlyMap<number, TaskSnapshot>): StepOutcome {
    let failed: [number, TaskSnapshot] | undefined;
    let running = false;
    for (const [index, last] of elements) {
      if (isExhausted(last)) {
        if (!failed || index < failed[0]) failed = [index, last];
      } else if (last.state !== "COMPLETED") {
        running = true;
      }
    }
    if (failed) return { kind: "failed", cause: failed[1].error ?? null, elementIndex: failed[0], running };
    const found = this.list(step);
    const count = "list" in found ? found.list.length : elements.size;
    if (running || elements.size < count) return OPEN;
    return { kind: "done", seen: Array.from({ length: count }, (_, i) => elements.get(i)?.output ?? null) };
  }
}

function single(last: TaskSnapshot): StepOutcome {
  if (last.state === "COMPLETED") return { kind: "done", seen: last.output ?? null };
  if (last.state === "SKIPPED") return { kind: "done", seen: undefined };
  if (isExhausted(last)) return { kind: "failed", cause: last.error ?? null, running: false };
  return OPEN;
}
