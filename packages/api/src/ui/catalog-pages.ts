import type { InstanceSummary, ServiceContact, WorkerView, WorkflowView } from "@baton/engine";
import { html } from "hono/html";
import { badge, type Html, pageLink, when } from "./layout.ts";
import type { QueueLoad } from "./overview-page.ts";

/** The instances list: filters, newest first, cursor paging. */
export function instancesBody(
  filters: { workflow?: string; state?: string; runId?: string; cursor?: string },
  states: readonly string[],
  items: InstanceSummary[],
  nextCursor: string | null,
  note?: string,
): Html {
  return html`<form method="get" action="/ui/instances" class="filters" role="search">
  <label>Workflow <input name="workflow" value="${filters.workflow ?? ""}" maxlength="128"></label>
  <label>State <select name="state"><option value="">any</option>${states.map((s) => html`<option${s === filters.state ? html` selected` : ""}>${s}</option>`)}</select></label>
  <label>Run id <input name="runId" value="${filters.runId ?? ""}" maxlength="200"></label>
  <button type="submit">Filter</button>
</form>
${note ? html`<p class="note">${note}</p>` : ""}
<div class="scroll"><table>
<thead><tr><th scope="col">Instance</th><th scope="col">Workflow</th><th scope="col">Run id</th><th scope="col">State</th><th scope="col">Created</th><th scope="col">Updated</th></tr></thead>
<tbody>${items.length === 0 ? html`<tr><td colspan="6">No instances.</td></tr>` : ""}${items.map(
    (
      i,
    ) => html`<tr><td><a href="/ui/instances/${i.instanceId}">${i.instanceId}</a></td><td class="wrap">${i.workflowName}@${i.workflowVersion}</td>
<td class="wrap">${i.runId}</td><td>${badge(i.state)}</td><td>${when(i.createdAt)}</td><td>${when(i.updatedAt)}</td></tr>`,
  )}</tbody></table></div>
<p>${filters.cursor ? pageLink("/ui/instances", { workflow: filters.workflow, state: filters.state }, "First page") : ""}
${nextCursor ? pageLink("/ui/instances", { workflow: filters.workflow, state: filters.state, runId: filters.runId, cursor: nextCursor }, "Next page") : ""}</p>`;
}

/** The workflows list: latest version of each, with readiness. */
export function workflowsBody(items: WorkflowView[], nextCursor: string | null): Html {
  return html`<div class="scroll"><table>
<thead><tr><th scope="col">Workflow</th><th scope="col">Namespace</th><th scope="col">Version</th><th scope="col">Type</th><th scope="col">Steps</th><th scope="col">Workers</th></tr></thead>
<tbody>${items.length === 0 ? html`<tr><td colspan="6">No workflows registered (POST /v1/workflows, or <code>pnpm baton workflows register</code>).</td></tr>` : ""}${items.map(
    (
      w,
    ) => html`<tr><td class="wrap"><a href="${workflowHref(w)}">${w.name}</a></td><td>${w.namespace}</td><td>${w.version}</td><td>${w.type}</td>
<td>${w.steps.length}</td><td>${w.ready ? badge("READY") : badge("NOT_READY")}</td></tr>`,
  )}</tbody></table></div>
${nextCursor ? html`<p>${pageLink("/ui/workflows", { cursor: nextCursor }, "Next page")}</p>` : ""}`;
}

/**
 * Who serves a queue: the workers polling it, else the services registered for its step with when
 * each was last heard from, else nobody.
 */
export function servedBy(r: { serving: string; workers?: string[]; services: ServiceContact[] }): Html {
  if (r.serving === "polling") return html`${badge("POLLING")} <span class="wrap">${(r.workers ?? []).join(", ")}</span>`;
  if (r.serving === "nobody") return badge("NOBODY");
  return html`${badge("REGISTERED")} ${r.services.map((s) => html`<span class="wrap">${s.service} (last heard from ${when(s.lastContactAt)})</span> `)}`;
}

export function workflowHref(w: { name: string; namespace: string }): string {
  return `/ui/workflows/${encodeURIComponent(w.name)}?namespace=${encodeURIComponent(w.namespace)}`;
}

/** One workflow: its steps with readiness, and a form to start a run. */
export function workflowBody(w: WorkflowView, form: { runId?: string; input?: string } = {}): Html {
  return html`<dl class="facts"><dt>Namespace</dt><dd>${w.namespace}</dd><dt>Version</dt><dd>${w.version} (latest; registered ${when(w.createdAt)})</dd>
<dt>Type</dt><dd>${w.type}</dd>${w.description ? html`<dt>Description</dt><dd>${w.description}</dd>` : ""}
<dt>Ready</dt><dd>${w.ready ? "every queue has a polling worker or a registered service" : "nobody serves some queue: its runs wait there"}</dd></dl>
<h2>Steps</h2>
<div class="scroll"><table><thead><tr><th scope="col">Step</th><th scope="col">Queue</th><th scope="col">Transport</th><th scope="col">After</th><th scope="col">Attempts</th><th scope="col">Workers</th><th scope="col">Undo</th></tr></thead>
<tbody>${w.steps.map(
    (
      s,
    ) => html`<tr><td class="wrap step-name">${s.name}</td><td class="wrap">${s.queue}</td><td>${s.transport}</td><td class="wrap">${s.dependsOn.join(", ") || "–"}</td>
<td>${s.retry.maxAttempts}</td><td>${servedBy(s)}</td><td>${s.undo ? html`<span class="wrap">${s.undo.queue}</span> ${servedBy(s.undo)}` : "–"}</td></tr>`,
  )}</tbody></table></div>
<h2>Start a run</h2>
<form method="post" action="/ui/workflows/${encodeURIComponent(w.name)}/start" class="start" data-json-field="input">
  <input type="hidden" name="namespace" value="${w.namespace}">
  <label>Run id (optional; the same run id starts nothing new) <input name="runId" maxlength="200" value="${form.runId ?? ""}"></label>
  <label>Input (a JSON object) <textarea name="input" rows="6" spellcheck="false">${form.input ?? "{}"}</textarea></label>
  <p class="field-error" id="input-error" role="alert"></p>
  <button type="submit">Start run</button>
</form>
<p><a href="/ui/instances?workflow=${encodeURIComponent(w.name)}">Runs of this workflow</a></p>`;
}

/** Workers: who polled which queue when, and the leases each holds now. */
export function workersBody(items: WorkerView[], nextCursor: string | null, load: QueueLoad | null): Html {
  const held = new Map<string, QueueLoad["holders"]>();
  // A holder is `<keyId>/<workerId>` when auth is on: matched to its worker by the id after the key.
  for (const h of load?.holders ?? []) {
    const worker = /^[0-9a-f]{16}\//.test(h.holder) ? h.holder.slice(17) : h.holder;
    held.set(worker, [...(held.get(worker) ?? []), h]);
  }
  return html`<div class="scroll"><table>
<thead><tr><th scope="col">Worker</th><th scope="col">Polling</th><th scope="col">Last seen</th><th scope="col">Queues</th><th scope="col">Holds now</th></tr></thead>
<tbody>${items.length === 0 ? html`<tr><td colspan="5">No worker has polled yet.</td></tr>` : ""}${items.map(
    (w) => html`<tr><td class="wrap">${w.id}</td><td>${w.ready ? badge("POLLING") : badge("IDLE")}</td><td>${when(w.lastSeenAt)}</td>
<td class="wrap">${w.queues.join(", ")}</td><td class="wrap">${held.get(w.id)?.map((h) => html`${h.leased} on ${h.queue} (next expiry ${when(h.nextLeaseExpiry)})<br>`) ?? "–"}</td></tr>`,
  )}</tbody></table></div>
<p class="note">Leases held are listed for admin keys only, as the API shows lease holders to admins only.</p>
${nextCursor ? html`<p>${pageLink("/ui/workers", { cursor: nextCursor }, "Next page")}</p>` : ""}`;
}
