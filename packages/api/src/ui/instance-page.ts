import type { EventView, InstanceView, TaskView, WaitingStep, WorkflowView } from "@baton/engine";
import { isTerminalInstanceState } from "@baton/engine";
import { html } from "hono/html";
import { latestAttempts } from "../instance-steps.ts";
import { servedBy } from "./catalog-pages.ts";
import { badge, type Html, jsonBlock, when } from "./layout.ts";
import { stepGraph } from "./step-graph.ts";

/**
 * The instance page: the operator's actions (outside the live part, so a refresh never takes the
 * focus from a button), then the live part — facts, steps, attempts, history — which ui.js reloads
 * from /ui/instances/{id}/live every few seconds until the run has ended.
 */
export function instanceBody(view: InstanceView, definition: WorkflowView | undefined): Html {
  const id = view.instanceId;
  const failedSteps = latestAttempts(view.tasks)
    .filter((s) => s.do?.state === "FAILED" || s.do?.state === "TIMED_OUT" || s.undo?.state === "FAILED" || s.undo?.state === "TIMED_OUT")
    .map((s) => s.step);
  // Every step, from the definition when it is this run's version: the list is drawn once, and
  // steps not yet scheduled may fail later. The first failed step is chosen.
  const stepNames = definition ? definition.steps.map((s) => s.name) : latestAttempts(view.tasks).map((s) => s.step);
  const action = (name: string, label: string, question: string) =>
    html`<form method="post" action="/ui/instances/${id}/${name}" data-confirm="${question}"><button type="submit">${label}</button></form>`;
  return html`<section class="actions" aria-label="Actions">
  ${action("pause", "Pause", "Pause this run? Nothing more is handed out until it is resumed.")}
  ${action("resume", "Resume", "Resume this run?")}
  ${action("cancel", "Cancel", "Cancel this run? Pending attempts are cancelled; this cannot be undone.")}
  ${action("compensate", "Compensate", "Start compensation? Every completed step with an undo is undone.")}
  <form method="post" action="/ui/instances/${id}/retry" data-confirm="Retry this step with its last input?">
    <label for="retry-step">Retry step</label>
    <select id="retry-step" name="step">${stepNames.map((s) => html`<option${s === failedSteps[0] ? html` selected` : ""}>${s}</option>`)}</select>
    <button type="submit">Retry</button>
  </form>
</section>
<div id="live" data-live="/ui/instances/${id}/live" data-ended="${isTerminalInstanceState(view.state) ? "yes" : "no"}">${liveBody(view, definition)}</div>`;
}

/** The part of the instance page that follows the run. */
export function liveBody(view: InstanceView, definition: WorkflowView | undefined): Html {
  const api = `/v1/instances/${view.instanceId}`;
  return html`<dl class="facts">
  <dt>State</dt><dd id="instance-state">${badge(view.state)}</dd>
  <dt>Workflow</dt><dd><a href="/ui/workflows/${encodeURIComponent(view.workflowName)}?namespace=${encodeURIComponent(view.namespace)}">${view.workflowName}</a> version ${view.workflowVersion} (namespace ${view.namespace})</dd>
  <dt>Run id</dt><dd class="wrap">${view.runId}</dd>
  <dt>Instance id</dt><dd class="wrap">${view.instanceId}</dd>
  <dt>Created</dt><dd>${when(view.createdAt)}</dd>
  <dt>Updated</dt><dd>${when(view.updatedAt)}</dd>
</dl>
${waitingList(view.waiting ?? [])}
${jsonBlock("Input", view.input, api)}${jsonBlock("Output", view.output, api)}${jsonBlock("Error", view.error, api)}
<h2>Steps</h2>
${stepGraph(view.tasks, definition)}
<h2>Attempts</h2>
<ol class="attempts">${view.tasks.map((t) => attemptCard(t, api))}</ol>
${view.tasksNextCursor ? html`<p class="note">More attempts than shown: <a href="${api}/tasks">${api}/tasks</a> pages through them.</p>` : ""}
<h2>History</h2>
<ol class="timeline">${view.events.map(eventItem)}</ol>
${view.eventsNextCursor ? html`<p class="note">More events than shown: <a href="${api}/events">${api}/events</a> pages through them.</p>` : ""}`;
}

/** The run's waiting attempts and who serves each; one nobody serves says the run waits on it. */
function waitingList(waiting: WaitingStep[]): Html | string {
  if (waiting.length === 0) return "";
  return html`<h2>Waiting</h2>
<ul class="waiting">${waiting.map(
    (
      w,
    ) => html`<li><span class="step-name">${w.taskId}</span> ${w.kind} attempt ${w.attempt} on <span class="wrap">${w.queue}</span>: ${servedBy(w)}
${w.serving === "nobody" ? html`<span class="note">no worker polls this queue and no service registered for this step: the run waits here until one does</span>` : ""}</li>`,
  )}</ul>`;
}

function attemptCard(t: TaskView, api: string): Html {
  const key = `${t.executionId}`;
  return html`<li class="attempt" data-key="${key}">
  <p class="attempt-title"><span class="step-name">${t.taskId}</span> ${t.kind} attempt ${t.attempt}/${t.maxAttempts} ${badge(t.state)}</p>
  <dl class="grid">
    <dt>Worker</dt><dd class="wrap">${t.leaseHolder ?? "–"}</dd>
    <dt>Fence token</dt><dd>${t.fenceToken ?? "–"}</dd>
    <dt>Lease expires</dt><dd>${when(t.leaseExpiresAt)}</dd>
    <dt>Queue</dt><dd class="wrap">${t.queue}</dd>
    <dt>Available</dt><dd>${when(t.availableAt)}</dd>
    <dt>Started</dt><dd>${when(t.startedAt)}</dd>
    <dt>Finished</dt><dd>${when(t.finishedAt)}</dd>
  </dl>
  ${jsonBlock("Input", t.input, api)}${jsonBlock("Output", t.output, api)}${jsonBlock("Error", t.error, api)}
</li>`;
}

function eventItem(e: EventView): Html {
  const hasPayload = Object.keys(e.payload).length > 0;
  return html`<li>
  <span class="seq">#${e.sequenceNumber}</span> ${when(e.createdAt)} <strong>${e.eventType}</strong>
  ${hasPayload ? payloadOf(e.payload) : ""}
</li>`;
}

/** Most events carry a few fields: on one line; a long payload (a step's output, say) folded. */
function payloadOf(payload: Record<string, unknown>): Html | string {
  const line = JSON.stringify(payload);
  return line.length <= 240 ? html`<code class="payload">${line}</code>` : jsonBlock("payload", payload);
}
