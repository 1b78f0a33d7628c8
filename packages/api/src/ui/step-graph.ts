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
  const attempts = new Map(latestAttempts(tasks).map((s) => [s.step, s]));
  const steps: GraphStep[] = definition ? definition.steps : [...attempts.keys()].map((name) => ({ name, dependsOn: [] }));
  const columns = stepColumns(definition?.type ?? "sequential", steps);
  const dependsOn = new Map(steps.map((s) => [s.name, s.dependsOn]));
  return html`<figure class="graph">
  <figcaption>${definition ? `${definition.type} workflow` : "steps in the order they were scheduled (the definition of this version is not the latest)"}</figcaption>
  <ol class="columns">
    ${columns.map(
      (column, i) => html`<li class="column">${i > 0 ? html`<span class="arrow" aria-hidden="true">→</span>` : ""}
      <ul class="steps">${column.map((name) => stepBox(name, attempts.get(name), dependsOn.get(name) ?? []))}</ul></li>`,
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
