/**
 * The console's stylesheet and script, served from /ui/assets. Plain CSS and plain browser
 * JavaScript, kept here as text: no bundler, no build step, nothing fetched from elsewhere.
 */

export const UI_STYLE = `
:root { --fg: #1d2330; --muted: #5b6475; --bg: #f7f8fa; --card: #fff; --line: #d9dde5; --link: #1d4ed8; --focus: #f59e0b;
  --ok: #15803d; --bad: #b91c1c; --run: #1d4ed8; --wait: #6b7280; --warn: #b45309; --undo: #7e22ce; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
a { color: var(--link); }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
.skip { position: absolute; left: -999px; } .skip:focus { left: 8px; top: 8px; background: #fff; padding: 4px 8px; z-index: 9; }
.top { display: flex; flex-wrap: wrap; gap: 8px 16px; align-items: center; padding: 8px 16px; background: #111827; color: #fff; }
.top a { color: #e5e7eb; text-decoration: none; padding: 4px 6px; border-radius: 4px; }
.top a[aria-current="page"] { background: #374151; color: #fff; }
.top .brand { font-weight: 700; font-size: 17px; color: #fff; }
.top nav { display: flex; flex-wrap: wrap; gap: 4px; flex: 1; }
.logout button { background: transparent; color: #e5e7eb; border-color: #6b7280; }
main { max-width: 1200px; margin: 0 auto; padding: 12px 16px 48px; }
h1 { font-size: 22px; margin: 8px 0 12px; overflow-wrap: anywhere; } h2 { font-size: 17px; margin: 20px 0 8px; }
table { border-collapse: collapse; width: 100%; background: var(--card); }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; background: #eef0f4; white-space: nowrap; }
.scroll { overflow-x: auto; max-width: 100%; }
.wrap, .step-name, dd { overflow-wrap: anywhere; word-break: break-word; }
.muted, .note { color: var(--muted); } .note { font-size: 14px; }
button, .button { font: inherit; padding: 5px 12px; border: 1px solid #9ca3af; border-radius: 6px; background: #fff; color: var(--fg);
  cursor: pointer; text-decoration: none; display: inline-block; }
button:hover, .button:hover { background: #f3f4f6; }
input, select, textarea { font: inherit; padding: 4px 6px; border: 1px solid #9ca3af; border-radius: 4px; max-width: 100%; }
textarea { width: 100%; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
label { display: inline-flex; flex-direction: column; gap: 2px; font-size: 14px; }
.filters, .actions { display: flex; flex-wrap: wrap; gap: 8px 12px; align-items: flex-end; margin-bottom: 12px; }
.actions form { display: flex; flex-wrap: wrap; gap: 6px; align-items: flex-end; }
.actions label { flex-direction: row; align-items: center; gap: 6px; }
.actions form { max-width: 100%; min-width: 0; } .actions select { max-width: 16rem; min-width: 0; text-overflow: ellipsis; }
.start, .login { display: flex; flex-direction: column; gap: 10px; max-width: 640px; }
.start label, .login label { display: flex; }
.flash { padding: 8px 12px; border-radius: 6px; overflow-wrap: anywhere; }
.flash.ok { background: #dcfce7; border: 1px solid #86efac; } .flash.error { background: #fee2e2; border: 1px solid #fca5a5; }
td.bad { color: var(--bad); font-weight: 600; }
.field-error { color: var(--bad); margin: 0; min-height: 1em; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600; color: #fff; background: var(--wait);
  white-space: nowrap; }
.s-completed, .s-ready, .s-polling, .s-registered { background: var(--ok); }
.s-failed, .s-compensation_failed, .s-timed_out, .s-not_ready, .s-nobody { background: var(--bad); }
.s-running, .s-leased { background: var(--run); } .s-paused { background: var(--warn); }
.s-compensating, .s-compensated { background: var(--undo); } .s-cancelled, .s-skipped, .s-idle, .s-not_started { background: #9ca3af; }
.counts { list-style: none; display: flex; flex-wrap: wrap; gap: 8px; padding: 0; }
.counts a { display: flex; gap: 6px; align-items: center; padding: 6px 10px; background: var(--card); border: 1px solid var(--line); border-radius: 8px;
  text-decoration: none; color: var(--fg); } .count { font-weight: 700; font-size: 18px; }
.facts, .grid { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 2px 12px; margin: 0 0 8px; }
.facts dt, .grid dt { color: var(--muted); } .facts dd, .grid dd { margin: 0; min-width: 0; }
.graph { margin: 0; } .graph figcaption { color: var(--muted); font-size: 13px; margin-bottom: 6px; }
.columns { list-style: none; display: flex; flex-wrap: wrap; gap: 8px; padding: 0; margin: 0; align-items: stretch; }
.column { display: flex; align-items: center; gap: 8px; min-width: 0; max-width: 100%; }
.arrow { color: var(--muted); font-size: 20px; }
.steps { list-style: none; display: flex; flex-direction: column; gap: 6px; padding: 0; margin: 0; min-width: 0; }
.step { display: flex; flex-direction: column; gap: 2px; min-width: 140px; max-width: 280px; padding: 6px 10px; border-radius: 8px; background: var(--card);
  border: 2px solid var(--wait); color: var(--fg); font-size: 13px; }
.step.s-completed { border-color: var(--ok); background: #f0fdf4; } .step.s-failed, .step.s-timed_out { border-color: var(--bad); background: #fef2f2; }
.step.s-leased { border-color: var(--run); background: #eff6ff; } .step.s-pending { border-color: var(--wait); }
.step[class*="s-undo-"] { border-color: var(--undo); background: #faf5ff; } .step.s-undo-failed { border-color: var(--bad); }
.step.s-cancelled, .step.s-skipped { border-style: dashed; }
.step .step-name { font-weight: 600; font-size: 14px; }
.attempts, .timeline { list-style: none; padding: 0; margin: 0; display: flex; flex-direction: column; gap: 8px; }
.attempt { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 8px 12px; min-width: 0; }
.attempt-title { margin: 0 0 6px; display: flex; flex-wrap: wrap; gap: 6px; align-items: center; }
.timeline li { background: var(--card); border-left: 3px solid var(--line); padding: 4px 10px; min-width: 0; overflow-wrap: anywhere; }
code.payload { display: block; font-size: 12.5px; color: var(--muted); overflow-wrap: anywhere; }
.seq { color: var(--muted); font-variant-numeric: tabular-nums; }
.value { margin: 4px 0; min-width: 0; } .value .label, .value summary { font-size: 13px; color: var(--muted); cursor: pointer; }
pre.json { margin: 2px 0; padding: 6px 8px; background: #f3f4f6; border-radius: 6px; max-height: 360px; overflow: auto; white-space: pre-wrap;
  overflow-wrap: anywhere; font-size: 12.5px; }
@media (max-width: 600px) { main { padding: 8px; } .facts, .grid { grid-template-columns: minmax(0, 1fr); } .step { max-width: 100%; }
  .column { flex-direction: column; align-items: stretch; } .arrow { transform: rotate(90deg); align-self: center; } }
`;

export const UI_SCRIPT = `"use strict";
(() => {
  const flash = document.getElementById("flash");
  const show = (kind, text, code) => {
    if (!flash) return;
    const p = document.createElement("p");
    p.className = "flash " + kind;
    if (kind === "error") { p.setAttribute("role", "alert"); const s = document.createElement("strong"); s.textContent = code; p.append(s, " "); }
    p.append(text);
    flash.replaceChildren(p);
  };

  // Actions ask first, then post in the background and say what the API answered.
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!window.confirm(form.dataset.confirm)) return;
      const button = form.querySelector("button");
      if (button) button.disabled = true;
      try {
        const res = await fetch(form.action, { method: "POST", body: new URLSearchParams(new FormData(form)),
          headers: { "x-baton-ui": "fetch", accept: "application/json" }, credentials: "same-origin" });
        const body = await res.json().catch(() => ({}));
        if (res.ok) show("ok", body.text || "Done");
        else show("error", (body.error && body.error.message) || "Refused (" + res.status + ")", (body.error && body.error.code) || String(res.status));
      } catch (e) {
        show("error", "No answer from Baton: " + e.message, "UNAVAILABLE");
      } finally {
        if (button) button.disabled = false;
      }
      refresh();
    });
  }

  // The start form's input must be a JSON object before it is sent.
  for (const form of document.querySelectorAll("form[data-json-field]")) {
    form.addEventListener("submit", (event) => {
      const field = form.elements[form.dataset.jsonField];
      const error = document.getElementById("input-error");
      let message = "";
      try {
        const value = JSON.parse(field.value || "{}");
        if (typeof value !== "object" || value === null || Array.isArray(value)) message = "The input must be a JSON object, such as {\\"tenant\\": \\"acme\\"}";
      } catch (e) { message = "The input is not JSON: " + e.message; }
      if (message) { event.preventDefault(); if (error) error.textContent = message; field.setAttribute("aria-invalid", "true"); field.focus(); }
    });
  }

  // The live part of an instance page follows the run, keeping open what the reader opened.
  const live = document.getElementById("live");
  let ended = live && live.dataset.ended === "yes";
  async function refresh() {
    if (!live) return;
    try {
      const res = await fetch(live.dataset.live, { headers: { accept: "text/html" }, credentials: "same-origin" });
      if (!res.ok) return;
      const open = [...live.querySelectorAll("details")].map((d) => d.open);
      live.innerHTML = await res.text();
      live.querySelectorAll("details").forEach((d, i) => { if (open[i]) d.open = true; });
      ended = ["COMPLETED", "CANCELLED", "COMPENSATED", "COMPENSATION_FAILED", "FAILED"].includes(res.headers.get("x-baton-state"));
      live.dataset.ended = ended ? "yes" : "no";
    } catch { /* the next tick tries again */ }
  }
  if (live) setInterval(() => { if (!ended && document.visibilityState === "visible") refresh(); }, 1500);
})();
`;
