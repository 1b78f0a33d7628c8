import { html } from "hono/html";

/** A piece of HTML whose text values are escaped (hono/html's tagged template). */
export type Html = ReturnType<typeof html>;

/** Pages never run in a frame of another site, and take scripts and styles from Baton only. */
export const SECURITY_HEADERS = {
  "content-security-policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "same-origin",
};

export type Section = "overview" | "instances" | "workflows" | "workers" | "login";

const NAV: [Section, string, string][] = [
  ["overview", "/ui", "Overview"],
  ["instances", "/ui/instances", "Instances"],
  ["workflows", "/ui/workflows", "Workflows"],
  ["workers", "/ui/workers", "Workers"],
];

/** Every page of the console: navigation, the flash of the last action, and the page. */
export function page(title: string, section: Section, body: Html, options: { signedIn?: boolean; flash?: Flash } = {}): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Baton</title>
<link rel="stylesheet" href="/ui/assets/ui.css">
<script src="/ui/assets/ui.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <a class="brand" href="/ui">Baton</a>
  <nav aria-label="Console">
    ${NAV.map(([s, href, label]) => html`<a href="${href}"${s === section ? html` aria-current="page"` : ""}>${label}</a>`)}
    <a href="/docs">API docs</a>
  </nav>
  ${options.signedIn ? html`<form method="post" action="/ui/logout" class="logout"><button type="submit">Sign out</button></form>` : ""}
</header>
<main id="main" tabindex="-1">
<h1>${title}</h1>
<div id="flash" role="status" aria-live="polite">${options.flash ? flashBox(options.flash) : ""}</div>
${body}
</main>
</body>
</html>`;
}

/** The outcome of an action, shown on the page it returns to. */
export type Flash = { kind: "ok"; text: string } | { kind: "error"; code: string; text: string };

export function flashBox(flash: Flash): Html {
  return flash.kind === "ok"
    ? html`<p class="flash ok">${flash.text}</p>`
    : html`<p class="flash error" role="alert"><strong>${flash.code}</strong> ${flash.text}</p>`;
}

/** A state as a coloured badge (the colours are in ui.css, by state name). */
export function badge(state: string): Html {
  return html`<span class="badge s-${state.toLowerCase()}">${state}</span>`;
}

/** A database time as `2024-05-01 12:00:00` UTC, with the exact value as its machine-readable form. */
export function when(iso: string | null | undefined): Html | string {
  if (!iso) return "–";
  return html`<time datetime="${iso}">${iso.replace("T", " ").replace(/\.\d+Z$|Z$/, "")}</time>`;
}

/** How much of one JSON value a page prints; the rest is left to the API (the page says where). */
const MAX_SHOWN_CHARS = 64 * 1024;
/** Values longer than this are folded (a click or Enter opens them). */
const FOLD_CHARS = 600;

/** A JSON value pretty-printed, folded when long and cut when huge, so no value can break a page. */
export function jsonBlock(label: string, value: unknown, fullAt?: string): Html | string {
  if (value === null || value === undefined) return "";
  const text = JSON.stringify(value, null, 2);
  const shown = text.length > MAX_SHOWN_CHARS ? `${text.slice(0, MAX_SHOWN_CHARS)}\n…` : text;
  const cut =
    text.length > MAX_SHOWN_CHARS
      ? html`<p class="note">Showing ${MAX_SHOWN_CHARS} of ${text.length} characters${fullAt ? html`; the whole value: <a href="${fullAt}">${fullAt}</a>` : ""}.</p>`
      : "";
  const pre = html`<pre class="json">${shown}</pre>${cut}`;
  if (text.length <= FOLD_CHARS) return html`<div class="value"><span class="label">${label}</span>${pre}</div>`;
  return html`<details class="value"><summary>${label} (${text.length} characters)</summary>${pre}</details>`;
}

/** A link to another page of a paged list, keeping the filters. */
export function pageLink(path: string, params: Record<string, string | undefined>, label: string): Html {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value) query.set(key, value);
  const qs = query.toString();
  return html`<a class="button" href="${path}${qs ? `?${qs}` : ""}">${label}</a>`;
}
