import type { InstancePage } from "@baton/engine";
import { html } from "hono/html";
import { badge, type Html, when } from "./layout.ts";
import { type QueueThroughput, THROUGHPUT_WINDOWS_MS } from "./throughput.ts";

export interface QueueLoad {
  queues: { queue: string; ready: number; waiting: number; leased: number; nextLeaseExpiry: string | null }[];
  holders: { holder: string; queue: string; leased: number; nextLeaseExpiry: string }[];
}

/** One sample of a Prometheus metric: its labels and value. */
interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** The samples of one metric in the text exposition format (what /metrics answers). */
export function metricSamples(text: string, name: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const match = /^[^{\s]+(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[1] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[key as string] = value as string;
    samples.push({ labels, value: Number(match[2]) });
  }
  return samples;
}

/** The overview: runs by state, the work in each queue, what this process counted, the latest runs. */
export function overviewBody(
  metrics: string | null,
  load: QueueLoad | null,
  recent: InstancePage,
  lately: { since: Date | undefined; queues: QueueThroughput[] } | null,
): Html {
  return html`<section aria-labelledby="by-state"><h2 id="by-state">Instances by state</h2>
${metrics ? stateCounts(metrics) : html`<p class="note">This key may not read /metrics, where the counts come from.</p>`}
</section>
<section aria-labelledby="queues"><h2 id="queues">Queues</h2>
${load ? queueTable(load, metrics) : html`<p class="note">This key may not read the queues (workers.read).</p>`}
</section>
${lately ? throughputTable(lately) : ""}
<section aria-labelledby="recent"><h2 id="recent">Latest instances</h2>
<div class="scroll"><table><thead><tr><th scope="col">Run id</th><th scope="col">Workflow</th><th scope="col">State</th><th scope="col">Created</th></tr></thead>
<tbody>${recent.items.map(
    (i) =>
      html`<tr><td class="wrap"><a href="/ui/instances/${i.instanceId}">${i.runId}</a></td><td class="wrap">${i.workflowName}</td><td>${badge(i.state)}</td><td>${when(i.createdAt)}</td></tr>`,
  )}</tbody></table></div>
<p><a href="/ui/instances">All instances</a></p>
</section>`;
}

function stateCounts(metrics: string): Html {
  const counts = metricSamples(metrics, "baton_instances");
  return html`<ul class="counts">${counts.map(
    ({ labels, value }) =>
      html`<li><a href="/ui/instances?state=${labels.state ?? ""}">${badge(labels.state ?? "?")} <span class="count">${value}</span></a></li>`,
  )}</ul>`;
}

function queueTable(load: QueueLoad, metrics: string | null): Html {
  const perQueue = (name: string) => new Map(metrics ? metricSamples(metrics, name).map((s) => [s.labels.queue ?? "", s.value]) : []);
  const acquired = perQueue("baton_tasks_acquired_total");
  const completed = perQueue("baton_tasks_completed_total");
  const failed = perQueue("baton_tasks_failed_total");
  const expiries = metrics ? (metricSamples(metrics, "baton_lease_expiries_total")[0]?.value ?? 0) : null;
  const queues = [...new Set([...load.queues.map((q) => q.queue), ...completed.keys(), ...failed.keys()])].sort();
  const open = new Map(load.queues.map((q) => [q.queue, q]));
  if (queues.length === 0) return html`<p class="note">No open attempts, and nothing counted by this process yet.</p>`;
  return html`<div class="scroll"><table>
<thead><tr><th scope="col">Queue</th><th scope="col">Ready</th><th scope="col">Waiting</th><th scope="col">Leased</th><th scope="col">Next lease expiry</th>
<th scope="col">Handed out</th><th scope="col">Completed</th><th scope="col">Failed</th></tr></thead>
<tbody>${queues.map((name) => {
    const q = open.get(name);
    return html`<tr><td class="wrap">${name}</td><td>${q?.ready ?? 0}</td><td>${q?.waiting ?? 0}</td><td>${q?.leased ?? 0}</td><td>${when(q?.nextLeaseExpiry)}</td>
<td>${acquired.get(name) ?? 0}</td><td>${completed.get(name) ?? 0}</td><td>${failed.get(name) ?? 0}</td></tr>`;
  })}</tbody></table></div>
<p class="note">Ready, waiting and leased are now, from the database. Handed out, completed and failed are counted by this
process since it started (its /metrics)${expiries === null ? "" : html`; leases it found expired: <strong>${expiries}</strong>`}.</p>`;
}

function throughputTable({ since, queues }: { since: Date | undefined; queues: QueueThroughput[] }): Html {
  const label = (ms: number) => `${ms / 60_000} min`;
  return html`<section aria-labelledby="lately"><h2 id="lately">Completed and failed, last minutes</h2>
${
  queues.length === 0
    ? html`<p class="note">Nothing completed or failed in this process yet.</p>`
    : html`<div class="scroll"><table><thead><tr><th scope="col">Queue</th>${THROUGHPUT_WINDOWS_MS.map(
        (ms) => html`<th scope="col">Completed, ${label(ms)}</th><th scope="col">Failed, ${label(ms)}</th>`,
      )}</tr></thead>
<tbody>${queues.map(
        (q) =>
          html`<tr><td class="wrap">${q.queue}</td>${q.windows.map((w) => html`<td>${w.completed}</td><td${w.failed > 0 ? html` class="bad"` : ""}>${w.failed}</td>`)}</tr>`,
      )}</tbody></table></div>`
}
<p class="note">Counted by this process${since ? html`, sampled every 10 s since ${when(since.toISOString())}` : ""}; a window longer than that
counts from then.</p>
</section>`;
}
