import { readFile } from "node:fs/promises";
import { INSTANCE_STATES, type InstanceState, parseDefinition, TASK_STATES, type TaskKind, type TaskState } from "@baton/contract";
import { describe, expect, it } from "vitest";
import { type FoldableEvent, foldEvents } from "../src/domain/event-fold.ts";
import type { EventPayloads, EventType } from "../src/domain/history-events.ts";
import { type InstanceError, type InstanceSnapshot, reconcile, type TaskSnapshot } from "../src/domain/reconcile.ts";
import { INSTANCE_MOVES, type InstanceMove, instanceMove, statesAllowing, TASK_MOVES } from "../src/domain/transitions.ts";

// The transitions table against the code that moves instances and the page that documents it.
// InstanceChange refuses (INTERNAL) any move that is not in the table, and only compiles with
// planner moves whose target the table has, so every coordinator and planner test also checks
// that the moves it makes are there; these tests check the table itself.

const attemptRef = { executionId: "e1", taskId: "a", kind: "DO" as const, attempt: 1 };
const lease = { fenceToken: 7, workerId: "w1", startedAt: null };
const stepFailed: InstanceError = { reason: "STEP_FAILED", step: "a" };

/** A payload of every event type (the type makes this list complete). */
const PAYLOADS: { [T in EventType]: EventPayloads[T] } = {
  WORKFLOW_STARTED: { input: { x: 1 }, runId: "r1", workflowVersion: 1 },
  WORKFLOW_PAUSED: {},
  WORKFLOW_RESUMED: {},
  WORKFLOW_CANCELLED: {},
  WORKFLOW_COMPLETED: { output: { a: 1 } },
  COMPENSATION_STARTED: { error: stepFailed },
  WORKFLOW_COMPENSATED: {},
  COMPENSATION_FAILED: { error: { reason: "UNDO_FAILED", step: "a" } },
  WORKFLOW_FAILED: { error: stepFailed },
  WORKFLOW_REOPENED: { state: "RUNNING", taskId: "a", kind: "DO" },
  TASK_SCHEDULED: { ...attemptRef, queue: "q", delayMs: 0 },
  TASK_COMPLETED: { ...attemptRef, ...lease, output: 1 },
  TASK_FAILED: { ...attemptRef, ...lease, error: "boom" },
  TASK_TIMED_OUT: { ...attemptRef, ...lease, error: "lease expired" },
  TASK_CANCELLED: attemptRef,
  TASK_SKIPPED: { ...attemptRef, reason: "its `when` condition does not hold" },
};

function numbered(events: { type: EventType; payload: object }[]): FoldableEvent[] {
  return events.map((e, i) => ({ sequenceNumber: i + 1, eventType: e.type, payload: e.payload as Record<string, unknown> }));
}

/** An instance move's event, with the payload it would carry (a reopening names where it goes). */
function eventOf(move: InstanceMove): { type: EventType; payload: object } {
  const payload = move.event === "WORKFLOW_REOPENED" ? { ...PAYLOADS.WORKFLOW_REOPENED, state: move.to } : PAYLOADS[move.event];
  return { type: move.event, payload };
}

/** The moves that take a new instance to `state`, by the shortest way. */
function pathTo(state: InstanceState | null): InstanceMove[] {
  const paths = new Map<InstanceState | null, InstanceMove[]>([[null, []]]);
  const queue: (InstanceState | null)[] = [null];
  for (let from = queue.shift(); from !== undefined; from = queue.shift()) {
    for (const m of INSTANCE_MOVES.filter((m) => m.from === from && !paths.has(m.to))) {
      paths.set(m.to, [...(paths.get(from) ?? []), m]);
      queue.push(m.to);
    }
  }
  const path = paths.get(state);
  if (!path) throw new Error(`no way to ${state}`);
  return path;
}

describe("the transitions table", () => {
  it("names every event type, and every instance and task state", () => {
    const named = new Set<string>([...INSTANCE_MOVES.map((m) => m.event), ...TASK_MOVES.flatMap((m) => (m.event ? [m.event] : []))]);
    expect([...named].sort()).toEqual(Object.keys(PAYLOADS).sort());
    const instanceStates = new Set(INSTANCE_MOVES.flatMap((m) => [m.from, m.to]));
    expect(INSTANCE_STATES.filter((s) => !instanceStates.has(s))).toEqual([]);
    const taskStates = new Set(TASK_MOVES.flatMap((m) => [m.from, m.to]));
    expect(TASK_STATES.filter((s) => !taskStates.has(s))).toEqual([]);
  });

  it("has one move per state and request, so a request's outcome is never a choice", () => {
    const keys = INSTANCE_MOVES.map((m) => `${m.from}:${m.by}${m.by === "plan" ? `:${m.to}` : ""}`);
    expect(keys.length).toBe(new Set(keys).size);
  });

  it("leads each event to one state: the fold needs nothing but the event (a reopening names where it goes)", () => {
    const targets = new Map<string, Set<string>>();
    for (const m of [...INSTANCE_MOVES, ...TASK_MOVES]) {
      if (m.event) targets.set(m.event, (targets.get(m.event) ?? new Set()).add(m.to));
    }
    const several = [...targets].filter(([, to]) => to.size > 1).map(([event]) => event);
    expect(several).toEqual(["WORKFLOW_REOPENED"]);
  });

  it("lets the operator's requests and the deadline pass act from the states the design allows", () => {
    expect(statesAllowing("pause")).toEqual(["RUNNING"]);
    expect(statesAllowing("resume")).toEqual(["PAUSED"]);
    expect(statesAllowing("cancel")).toEqual(["RUNNING", "PAUSED"]);
    expect(statesAllowing("compensate")).toEqual(["RUNNING", "PAUSED", "FAILED", "COMPLETED"]);
    expect(statesAllowing("retry")).toEqual(["FAILED", "COMPENSATION_FAILED"]);
    // instanceLockPastDeadline locks only these.
    expect(statesAllowing("expire")).toEqual(["RUNNING", "PAUSED"]);
  });

  it("moves by the planner only from RUNNING and COMPENSATING, the states it plans", () => {
    const from = new Set(INSTANCE_MOVES.filter((m) => m.by === "plan").map((m) => m.from));
    expect([...from].sort()).toEqual(["COMPENSATING", "RUNNING"]);
  });
});

describe("the planner's moves", () => {
  const def = parseDefinition({
    name: "transitions",
    defaults: { retry: { maxAttempts: 1 } },
    steps: [
      { name: "a", undo: true },
      { name: "b", undo: false },
    ],
  });
  const attempt = (taskId: string, kind: TaskKind, state: TaskState): TaskSnapshot => ({
    executionId: `${taskId}-${kind}`,
    taskId,
    kind,
    attempt: 1,
    maxAttempts: 1,
    state,
    input: {},
    output: state === "COMPLETED" ? { done: taskId } : null,
    error: state === "FAILED" ? { message: "boom" } : null,
  });
  const instance = (state: InstanceState, error: InstanceError | null = null): InstanceSnapshot => ({
    state,
    input: {},
    error,
    compensateFrom: null,
  });
  const scenarios: [string, InstanceSnapshot, TaskSnapshot[], InstanceState[]][] = [
    ["every step completed", instance("RUNNING"), [attempt("a", "DO", "COMPLETED"), attempt("b", "DO", "COMPLETED")], ["COMPLETED"]],
    [
      "a step failed after one with an undo",
      instance("RUNNING"),
      [attempt("a", "DO", "COMPLETED"), attempt("b", "DO", "FAILED")],
      ["COMPENSATING"],
    ],
    ["a step failed with nothing to undo", instance("RUNNING"), [attempt("a", "DO", "FAILED")], ["COMPENSATING", "FAILED"]],
    [
      "every UNDO completed",
      instance("COMPENSATING", stepFailed),
      [attempt("a", "DO", "COMPLETED"), attempt("b", "DO", "FAILED"), attempt("a", "UNDO", "COMPLETED")],
      ["COMPENSATED"],
    ],
    [
      "an UNDO failed for good",
      instance("COMPENSATING", stepFailed),
      [attempt("a", "DO", "COMPLETED"), attempt("b", "DO", "FAILED"), attempt("a", "UNDO", "FAILED")],
      ["COMPENSATION_FAILED"],
    ],
  ];

  it("are each a planner move of the table, and the table has no planner move the planner never makes", () => {
    const made = new Set<string>();
    for (const [why, snapshot, tasks, expected] of scenarios) {
      const plan = reconcile(def, snapshot, tasks);
      expect(
        plan.transitions.map((t) => t.to),
        why,
      ).toEqual(expected);
      let from = snapshot.state;
      for (const t of plan.transitions) {
        expect(instanceMove(from, "plan", t.to), `${why}: ${from} -> ${t.to}`).toBeDefined();
        made.add(`${from} -> ${t.to}`);
        from = t.to;
      }
    }
    const inTable = INSTANCE_MOVES.filter((m) => m.by === "plan").map((m) => `${m.from} -> ${m.to}`);
    expect([...made].sort()).toEqual(inTable.sort());
  });
});

describe("the event fold", () => {
  it("leaves an instance in the state each instance move leads to", () => {
    for (const move of INSTANCE_MOVES) {
      const folded = foldEvents(numbered([...pathTo(move.from), move].map(eventOf)));
      expect(folded.state, `${move.from} -> ${move.to} (${move.event})`).toBe(move.to);
    }
  });

  it("leaves an attempt in the state each task move that writes an event leads to", () => {
    for (const move of TASK_MOVES) {
      if (!move.event) continue;
      const scheduled = move.from === null ? [] : [{ type: "TASK_SCHEDULED" as const, payload: PAYLOADS.TASK_SCHEDULED }];
      const events = [eventOf(INSTANCE_MOVES[0]), ...scheduled, { type: move.event, payload: PAYLOADS[move.event] }];
      expect(foldEvents(numbered(events)).tasks, `${move.from} -> ${move.to} (${move.event})`).toEqual({ e1: move.to });
    }
  });

  it("refuses an event the table does not know", () => {
    const events = numbered([eventOf(INSTANCE_MOVES[0])]);
    expect(() => foldEvents([...events, { sequenceNumber: 2, eventType: "TASK_LEASED", payload: attemptRef }])).toThrow(
      "unknown event type TASK_LEASED",
    );
  });
});

describe("docs/state-machine.md", () => {
  /** The diagram's arrows: one per pair of states, labelled with every move between them. */
  const arrows = (moves: readonly { from: string | null; to: string; why: string }[]) => {
    const labels = new Map<string, string[]>();
    for (const m of moves) {
      const arrow = `${m.from ?? "[*]"} --> ${m.to}`;
      labels.set(arrow, [...(labels.get(arrow) ?? []), m.why]);
    }
    return [...labels].map(([arrow, whys]) => `${arrow}: ${whys.join(" / ")}`);
  };
  /** The table's rows: one per move, with the event it writes. */
  const rows = (moves: readonly { from: string | null; to: string; why: string; event: string | null }[]) =>
    moves.map((m) => `| ${m.from ?? "(new)"} | ${m.to} | ${m.why} | ${m.event ?? "(none)"} |`);

  /** A section's diagram arrows between states (its `--> [*]` ends are prose) and its table rows. */
  async function documented(heading: string): Promise<{ arrows: string[]; rows: string[] }> {
    const doc = await readFile(new URL("../../../docs/state-machine.md", import.meta.url), "utf8");
    const section = doc.split("\n## ").find((s) => s.startsWith(`${heading}\n`));
    if (!section) throw new Error(`docs/state-machine.md has no section '${heading}'`);
    const lines = section.split("\n").map((line) => line.trim());
    // Cells compared trimmed: a formatter may pad table columns.
    const cells = (line: string) =>
      line
        .split("|")
        .map((cell) => cell.trim())
        .join(" | ")
        .trim();
    return {
      arrows: lines.filter((line) => line.includes(" --> ") && !line.includes("--> [*]")),
      rows: lines
        .filter((line) => line.startsWith("|"))
        .slice(2)
        .map(cells),
    };
  }

  it("draws and lists every move of an instance, as the table has them", async () => {
    const doc = await documented("Workflow instance");
    expect(doc.arrows).toEqual(arrows(INSTANCE_MOVES));
    expect(doc.rows).toEqual(rows(INSTANCE_MOVES));
  });

  it("draws and lists every move of an attempt, as the table has them", async () => {
    const doc = await documented("Task execution (one row per attempt)");
    expect(doc.arrows).toEqual(arrows(TASK_MOVES));
    expect(doc.rows).toEqual(rows(TASK_MOVES));
  });
});
