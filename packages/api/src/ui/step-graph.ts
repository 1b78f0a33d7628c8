import type { TaskView, WorkflowView } from "@baton/engine";
import { html } from "hono/html";
import { latestAttempts, type StepAttempts } from "../instance-steps.ts";
import { badge, type Html } from "./layout.ts";

/**
 * An instance's steps drawn as their workflow runs them: a sequence left to right, a parallel
 * group as one column, a DAG in columns by depth (a step stands right of everything it depends
 * on). Each step shows the state of its latest DO attempt, and of its UNDO once compensating.
 */

interface GraphStep {
  name: string;
  dependsOn: string[];
}

/** The steps in columns: each column runs after every column left of it. */
export function stepColumns(type: WorkflowView["type"], steps: readonly GraphStep[]): string[][] {
  if (type === "parallel") return steps.length > 0 ? [steps.map((s) => s.name)] : [];
  if (type === "sequential") return steps.map((s) => [s.name]);
  const depth = new Map<string, number>();
  const byName = new Map(steps.map((s) => [s.name, s]));
  const depthOf = (name: string, seen: Set<string>): number => {
    const known = depth.get(name);
    if (known !== undefined) return known;
    // Definitions are checked acyclic on registration; a guard all the same, so a page never loops.
    if (seen.has(name)) return 0;
    seen.add(name);
    const deps = byName.get(name)?.dependsOn ?? [];
    const d = deps.length === 0 ? 0 : 1 + Math.max(...deps.map((dep) => depthOf(dep, seen)));
    depth.set(name, d);
    return d;
  };
  const columns: string[][] = [];
  for (const s of steps) {
    const d = depthOf(s.name, new Set());
    columns[d] = [...(columns[d] ?? []), s.name];
  }
  return columns.filter((c) => c !== undefined);
}

/**
 * The graph of an instance. `definition` is the workflow's definition when it is the version the
 * instance runs; else the steps are drawn in the order they were scheduled, and the page says so.
 */
export function stepGraph(tasks: readonly TaskView[], definition: WorkflowView | undefined): Html {
  const latest = latestAttempts(tasks);
  const attempts = new Map(latest.map((s) => [s.step, s]));
  // A fan-out step's elements (`<step>#<index>`) are drawn inside their step's box.
  const elements = new Map<string, StepAttempts[]>();
  for (const s of latest) {
    const t = s.do ?? s.undo;
    if (t && t.elementIndex !== null) elements.set(t.step, [...(elements.get(t.step) ?? []), s]);
  }
  const steps: GraphStep[] = definition
    ? definition.steps
    : [...new Set(latest.map((s) => (s.do ?? s.undo)?.step ?? s.step))].map((name) => ({ name, dependsOn: [] }));
  const columns = stepColumns(definition?.type ?? "sequential", steps);
  const dependsOn = new Map(steps.map((s) => [s.name, s.dependsOn]));
  return html`<figure class="graph">
  <figcaption>${definition ? `${definition.type} workflow` : "steps in the order they were scheduled (the definition of this version is not the latest)"}</figcaption>
  <ol class="columns">
    ${columns.map(
      (column, i) => html`<li class="column">${i > 0 ? html`<span class="arrow" aria-hidden="true">→</span>` : ""}
      <ul class="steps">${column.map((name) => {
        const fanned = elements.get(name);
        return fanned ? fanOutBox(name, fanned, dependsOn.get(name) ?? []) : stepBox(name, attempts.get(name), dependsOn.get(name) ?? []);
      })}</ul></li>`,
    )}
  </ol>
</figure>`;
}

function stepBox(name: string, step: StepAttempts | undefined, dependsOn: string[]): Html {
  const state = step?.undo ? `undo-${step.undo.state}` : (step?.do?.state ?? "NOT_STARTED");
  return html`<li class="step s-${state.toLowerCase()}">
  <span class="step-name">${name}</span>
  ${step?.do ? html`<span>${badge(step.do.state)} <span class="muted">attempt ${step.do.attempt}/${step.do.maxAttempts}</span></span>` : html`<span>${badge("NOT_STARTED")}</span>`}
  ${step?.undo ? html`<span>undo ${badge(step.undo.state)}</span>` : ""}
  ${dependsOn.length > 0 ? html`<span class="muted">after ${dependsOn.join(", ")}</span>` : ""}
</li>`;
}

/** The states a fan-out's box takes from its elements, the first one any element is in. */
const FAN_OUT_STATES = ["FAILED", "TIMED_OUT", "LEASED", "PENDING", "CANCELLED", "COMPLETED"];

/** A fan-out step under way or done: how many of its elements are in each state (DO, and UNDO once compensating). */
function fanOutBox(name: string, elements: StepAttempts[], dependsOn: string[]): Html {
  const count = (states: string[]) =>
    FAN_OUT_STATES.flatMap((state) => {
      const n = states.filter((s) => s === state).length;
      return n > 0 ? [`${n} ${state}`] : [];
    }).join(", ");
  const does = elements.flatMap((e) => (e.do ? [e.do.state] : []));
  const undoes = elements.flatMap((e) => (e.undo ? [e.undo.state] : []));
  const first = (states: string[]) => FAN_OUT_STATES.find((state) => states.includes(state)) ?? "NOT_STARTED";
  const state = undoes.length > 0 ? `undo-${first(undoes)}` : first(does);
  return html`<li class="step s-${state.toLowerCase()}">
  <span class="step-name">${name}</span>
  <span>${elements.length} started: ${count(does)}</span>
  ${undoes.length > 0 ? html`<span>undo: ${count(undoes)}</span>` : ""}
  ${dependsOn.length > 0 ? html`<span class="muted">after ${dependsOn.join(", ")}</span>` : ""}
</li>`;
}
