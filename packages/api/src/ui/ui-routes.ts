import {
  BatonError,
  httpStatusOf,
  INSTANCE_STATES,
  type InstancePage,
  type InstanceView,
  type WorkerView,
  type WorkflowView,
} from "@baton/engine";
import { type Context, Hono } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { html } from "hono/html";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { ApiDeps, AppEnv } from "../http/env.ts";
import { type ApiReader, apiReader } from "./api-reader.ts";
import { UI_SCRIPT, UI_STYLE } from "./assets.ts";
import { SESSION_COOKIE } from "./browser-session.ts";
import { instancesBody, workersBody, workflowBody, workflowsBody } from "./catalog-pages.ts";
import { instanceBody, liveBody } from "./instance-page.ts";
import { type Flash, type Html, page, SECURITY_HEADERS, type Section } from "./layout.ts";
import { loginRoutes } from "./login-page.ts";
import { overviewBody, type QueueLoad } from "./overview-page.ts";
import { ThroughputSampler } from "./throughput.ts";

const FLASH_COOKIE = "baton_flash";
/** How far the run id filter looks (the API lists by workflow and state; a run id is searched for). */
const RUN_ID_SCAN = { pages: 10, pageSize: 500 } as const;
const ACTIONS = ["pause", "resume", "cancel", "compensate", "retry"] as const;

/**
 * The operators' console at /ui: server-rendered pages over the HTTP API (see api-reader.ts), a
 * stylesheet and a small script (confirmations, live refresh, JSON checks) served from here: no
 * build step, nothing from another origin.
 */
// biome-ignore lint/suspicious/noExplicitAny: the console calls whatever app it is mounted in
export function uiRoutes(app: Hono<any>, deps: ApiDeps) {
  const ui = new Hono<AppEnv>();
  const throughput = new ThroughputSampler(deps.metrics, deps.shutdown);
  ui.onError((error, c) => errorPage(c, error));
  ui.get("/assets/ui.css", (c) => c.body(UI_STYLE, 200, { "content-type": "text/css; charset=utf-8", "cache-control": "no-cache" }));
  ui.get("/assets/ui.js", (c) => c.body(UI_SCRIPT, 200, { "content-type": "text/javascript; charset=utf-8", "cache-control": "no-cache" }));
  ui.route("/", loginRoutes(deps.engine));
  const api = (c: Context) => apiReader(app, c);
  const render = (c: Context, title: string, section: Section, body: Html, status: ContentfulStatusCode = 200, flash?: Flash) =>
    c.html(
      page(title, section, body, { signedIn: getCookie(c, SESSION_COOKIE) !== undefined, ...(flash ? { flash } : takeFlash(c)) }),
      status,
      SECURITY_HEADERS,
    );

  ui.get("/", async (c) => {
    const reader = api(c);
    const [metrics, load, recent] = await Promise.all([
      reader.metrics(),
      reader.get<QueueLoad>("/v1/queues").catch(() => null),
      reader.get<InstancePage>("/v1/instances?limit=10"),
    ]);
    // The minutes' counts come from the same counters as /metrics: shown to callers who may read it.
    const queues = metrics === null ? null : await throughput.recent();
    const lately = queues === null ? null : { since: throughput.since, queues };
    return render(c, "Overview", "overview", overviewBody(metrics, load, recent, lately));
  });

  ui.get("/instances", async (c) => {
    const { workflow, state, runId, cursor } = c.req.query();
    const filters = { workflow: workflow || undefined, state: state || undefined, runId: runId || undefined, cursor: cursor || undefined };
    const found = await listInstances(api(c), filters);
    return render(c, "Instances", "instances", instancesBody(filters, INSTANCE_STATES, found.items, found.nextCursor, found.note));
  });

  ui.get("/instances/:id", async (c) => {
    const { view, definition } = await readInstance(api(c), c.req.param("id"));
    return render(c, `Instance ${view.runId}`, "instances", instanceBody(view, definition));
  });

  ui.get("/instances/:id/live", async (c) => {
    const { view, definition } = await readInstance(api(c), c.req.param("id"));
    return c.html(liveBody(view, definition), 200, { ...SECURITY_HEADERS, "x-baton-state": view.state });
  });

  ui.post("/instances/:id/:action", async (c) => {
    const id = c.req.param("id");
    const action = c.req.param("action");
    if (!(ACTIONS as readonly string[]).includes(action))
      throw new BatonError("NOT_FOUND", `No console action '${action}'`, { actions: ACTIONS });
    const form = await c.req.parseBody();
    const path =
      action === "retry"
        ? `/v1/instances/${encodeURIComponent(id)}/tasks/${encodeURIComponent(String(form.step ?? ""))}/retry`
        : `/v1/instances/${encodeURIComponent(id)}/${action}`;
    return answerAction(c, `/ui/instances/${encodeURIComponent(id)}`, async () => {
      const answer = await api(c).post<{ state?: string; attempt?: number; taskId?: string }>(path);
      return action === "retry"
        ? `${answer.taskId} scheduled again (attempt ${answer.attempt})`
        : `${action}: the run is now ${answer.state}`;
    });
  });

  ui.get("/workflows", async (c) => {
    const cursor = c.req.query("cursor");
    const page = await api(c).get<{ items: WorkflowView[]; nextCursor: string | null }>(
      `/v1/workflows${cursor ? `?cursor=${encodeURIComponent(cursor)}` : ""}`,
    );
    return render(c, "Workflows", "workflows", workflowsBody(page.items, page.nextCursor));
  });

  ui.get("/workflows/:name", async (c) => {
    const view = await readWorkflow(api(c), c.req.param("name"), c.req.query("namespace"));
    return render(c, `Workflow ${view.name}`, "workflows", workflowBody(view));
  });

  ui.post("/workflows/:name/start", async (c) => {
    const name = c.req.param("name");
    const form = await c.req.parseBody();
    const namespace = typeof form.namespace === "string" && form.namespace ? form.namespace : undefined;
    const runId = typeof form.runId === "string" && form.runId.trim() ? form.runId.trim() : undefined;
    const text = typeof form.input === "string" ? form.input : "{}";
    let input: unknown;
    try {
      input = JSON.parse(text || "{}");
    } catch (error) {
      input = new BatonError("VALIDATION_ERROR", `input: not JSON (${(error as Error).message})`);
    }
    if (!(input instanceof BatonError) && (typeof input !== "object" || input === null || Array.isArray(input))) {
      input = new BatonError("VALIDATION_ERROR", 'input: expected a JSON object such as {"tenant": "acme"}');
    }
    const reader = api(c);
    const refused = async (error: BatonError) =>
      render(c, `Workflow ${name}`, "workflows", workflowBody(await readWorkflow(reader, name, namespace), { runId, input: text }), 400, {
        kind: "error",
        code: error.code,
        text: error.message,
      });
    if (input instanceof BatonError) return refused(input);
    try {
      const started = await reader.post<{ instanceId: string; created: boolean }>(`/v1/workflows/${encodeURIComponent(name)}/runs`, {
        input,
        ...(runId ? { runId } : {}),
        ...(namespace ? { namespace } : {}),
      });
      setFlash(c, { kind: "ok", text: started.created ? "Run started" : "A run with this run id already existed: here it is" });
      return c.redirect(`/ui/instances/${started.instanceId}`, 303);
    } catch (error) {
      if (!(error instanceof BatonError) || httpStatusOf(error.code) >= 500) throw error;
      return refused(error);
    }
  });

  ui.get("/workers", async (c) => {
    const reader = api(c);
    const cursor = c.req.query("cursor");
    const [workers, load] = await Promise.all([
      reader.get<{ items: WorkerView[]; nextCursor: string | null }>(`/v1/workers${cursor ? `?cursor=${encodeURIComponent(cursor)}` : ""}`),
      reader.get<QueueLoad>("/v1/queues").catch(() => null),
    ]);
    return render(c, "Workers", "workers", workersBody(workers.items, workers.nextCursor, load));
  });

  // Last: a console address that names no page gets the console's own answer, not the API's JSON.
  ui.get("*", (c) => {
    throw new BatonError("NOT_FOUND", `The console has no page ${c.req.path}`, { path: c.req.path });
  });

  return ui;

  /** An error while rendering a page: the API's code and message, on a page with the navigation. */
  function errorPage(c: Context, error: Error): Response | Promise<Response> {
    if (!(error instanceof BatonError)) throw error;
    const status = httpStatusOf(error.code) as ContentfulStatusCode;
    if (c.req.header("x-baton-ui") === "fetch") return c.json(error.toJSON(), status);
    return render(c, "Refused", "overview", html`<p><a href="/ui">Back to the overview</a></p>`, status, {
      kind: "error",
      code: error.code,
      text: error.message,
    });
  }
}

/**
 * A console action: with the script (`x-baton-ui: fetch`) the answer is JSON for the page to show;
 * without it, the browser goes back to the page with the outcome as its flash.
 */
async function answerAction(c: Context, back: string, act: () => Promise<string>): Promise<Response> {
  const viaScript = c.req.header("x-baton-ui") === "fetch";
  try {
    const text = await act();
    if (viaScript) return c.json({ ok: true, text });
    setFlash(c, { kind: "ok", text });
  } catch (error) {
    if (!(error instanceof BatonError) || httpStatusOf(error.code) >= 500) throw error;
    if (viaScript) return c.json(error.toJSON(), httpStatusOf(error.code) as ContentfulStatusCode);
    setFlash(c, { kind: "error", code: error.code, text: error.message });
  }
  return c.redirect(back, 303);
}

function setFlash(c: Context, flash: Flash): void {
  setCookie(c, FLASH_COOKIE, Buffer.from(JSON.stringify(flash)).toString("base64url"), {
    httpOnly: true,
    sameSite: "Strict",
    path: "/ui",
    maxAge: 60,
  });
}

/** The flash an action left for this page, read once. */
function takeFlash(c: Context): { flash?: Flash } {
  const set = getCookie(c, FLASH_COOKIE);
  if (!set) return {};
  deleteCookie(c, FLASH_COOKIE, { path: "/ui" });
  try {
    const flash = JSON.parse(Buffer.from(set, "base64url").toString("utf8")) as Flash;
    return typeof flash.text === "string" ? { flash } : {};
  } catch {
    return {};
  }
}

async function readInstance(reader: ApiReader, id: string): Promise<{ view: InstanceView; definition: WorkflowView | undefined }> {
  const view = await reader.get<InstanceView>(`/v1/instances/${encodeURIComponent(id)}`);
  const latest = await readWorkflow(reader, view.workflowName, view.namespace).catch(() => undefined);
  return { view, definition: latest?.version === view.workflowVersion ? latest : undefined };
}

function readWorkflow(reader: ApiReader, name: string, namespace: string | undefined): Promise<WorkflowView> {
  return reader.get<WorkflowView>(`/v1/workflows/${encodeURIComponent(name)}?namespace=${encodeURIComponent(namespace ?? "default")}`);
}

/**
 * A page of instances. With a run id, the newest instances (by the other filters) are searched for
 * it, at most RUN_ID_SCAN of them, and the page says how far it looked.
 */
async function listInstances(
  reader: ApiReader,
  filters: { workflow?: string; state?: string; runId?: string; cursor?: string },
): Promise<{ items: InstancePage["items"]; nextCursor: string | null; note?: string }> {
  const query = (cursor: string | undefined, limit: number) => {
    const q = new URLSearchParams({ limit: String(limit) });
    if (filters.workflow) q.set("workflow", filters.workflow);
    if (filters.state) q.set("state", filters.state);
    if (cursor) q.set("cursor", cursor);
    return `/v1/instances?${q}`;
  };
  if (!filters.runId) return reader.get<InstancePage>(query(filters.cursor, 50));
  const items: InstancePage["items"] = [];
  let cursor = filters.cursor;
  let scanned = 0;
  for (let i = 0; i < RUN_ID_SCAN.pages; i++) {
    const page = await reader.get<InstancePage>(query(cursor, RUN_ID_SCAN.pageSize));
    scanned += page.items.length;
    items.push(...page.items.filter((item) => item.runId === filters.runId));
    if (!page.nextCursor) return { items, nextCursor: null, note: `Searched all ${scanned} instances matching the other filters.` };
    cursor = page.nextCursor;
  }
  return { items, nextCursor: cursor ?? null, note: `Searched the newest ${scanned} instances; the next page searches further.` };
}
