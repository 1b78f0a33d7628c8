import { ACTIONS, type Action, type Caller, can, type Role } from "@baton/engine";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { onPglite } from "../../../../test-support/database.ts";
import { type Harness, startHarness } from "../http-harness.ts";
import type { FuzzRequest } from "./arbitraries.ts";
import { namespaceDigest } from "./database-digest.ts";
import { buildFuzzWorld, type FuzzWorld } from "./fuzz-world.ts";
import { type Answer, type Answered, describeRequest, GROUP, RouteFuzzer } from "./route-fuzzer.ts";
import { ROUTE_REQUESTS } from "./route-requests.ts";

/*
 * The hostile-input fuzz (http-fuzz.test.ts) with authentication on, sent with a key of each role in
 * the world's namespace and in another one, and with none. Besides what every fuzz checks (no 5xx,
 * refusals write nothing, the server stays up), each group of requests, all sent with one key, must
 * get no more than that key's role is granted (`can`, from the GRANTS of the contract's access.ts):
 * - a role without any action the route names is never answered 2xx, and no key is always a 401;
 * - a key of another namespace leaves the world's namespace unchanged, accepted or not, and no answer
 *   it gets names the world's instances, attempts or workflow;
 * - a worker is only handed tasks of its namespaces' queues matching its patterns;
 * - non-admin keys see no fence tokens or lease holders in instance views and attempt pages.
 */

// A sample in `pnpm test`; `pnpm test:fuzz` (CI) sends BATON_FUZZ_REQUESTS=2000 per route. At least
// one group per key either way, keys taken in turn.
const REQUESTS_PER_ROUTE = Number(process.env.BATON_FUZZ_REQUESTS ?? (onPglite ? 16 : 48));

/** The world's namespace, and the one the "other" keys act in (the fuzz names both). */
const HOME = "default";
const OTHER = "other";

type Who = "admin" | "operator" | "starter" | "worker" | "otherOperator" | "otherStarter" | "otherWorker" | "none";
const WHO: readonly Who[] = ["admin", "operator", "starter", "worker", "otherOperator", "otherStarter", "otherWorker", "none"];
/** Worker keys work the fuzz world's queues only (`q.fuzz-<id>`). */
const WORKER_QUEUES = ["q.fuzz-*"];

/** What each route needs: the actions it may check, and whether they act in a namespace. */
type Access = "public" | { actions: readonly Action[]; namespaced: boolean };
const scoped = (...actions: Action[]): Access => ({ actions, namespaced: true });
const unscoped = (...actions: Action[]): Access => ({ actions, namespaced: false });

const ROUTE_ACCESS: Record<string, Access> = {
  "GET /healthz": "public",
  "GET /readyz": "public",
  "GET /api/orchestration/health": "public",
  "GET /health": "public",
  "GET /metrics": unscoped("metrics.read"),
  "GET /openapi.json": unscoped("docs.read"),
  "GET /docs": unscoped("docs.read"),
  "POST /v1/workflows": scoped("workflows.register", "workers.announce"),
  "GET /v1/workflows": scoped("workflows.read"),
  "GET /v1/workflows/{name}": scoped("workflows.read"),
  "POST /v1/workflows/{name}/runs": scoped("runs.start"),
  "POST /v1/workflows/{name}/runs/batch": scoped("runs.start"),
  "GET /v1/instances": scoped("runs.read"),
  "GET /v1/instances/{id}": scoped("runs.read"),
  "GET /v1/instances/{id}/tasks": scoped("runs.read"),
  "GET /v1/instances/{id}/events": scoped("runs.read"),
  "POST /v1/instances/{id}/pause": scoped("runs.operate"),
  "POST /v1/instances/{id}/resume": scoped("runs.operate"),
  "POST /v1/instances/{id}/cancel": scoped("runs.operate"),
  "POST /v1/instances/{id}/compensate": scoped("runs.operate"),
  "POST /v1/instances/{id}/tasks/{taskId}/retry": scoped("runs.operate"),
  "POST /v1/tasks/acquire": scoped("tasks.work"),
  "POST /v1/tasks/heartbeat": scoped("tasks.work"),
  "POST /v1/tasks/complete": scoped("tasks.work"),
  "POST /v1/tasks/fail": scoped("tasks.work"),
  "POST /v1/tasks/release": scoped("tasks.work"),
  "POST /v1/tasks/{executionId}/heartbeat": scoped("tasks.work"),
  "POST /v1/tasks/{executionId}/complete": scoped("tasks.work"),
  "POST /v1/tasks/{executionId}/fail": scoped("tasks.work"),
  "GET /v1/workers": unscoped("workers.read"),
  "GET /v1/reaper/poisoned": scoped("runs.read"),
  "GET /v1/queues": scoped("workers.read"),
  "GET /v1/registrations": scoped("workers.read"),
  "GET /v1/registrations/changes": scoped("workers.read"),
  "POST /v1/keys": unscoped("keys.manage"),
  "GET /v1/keys": unscoped("keys.manage"),
  "DELETE /v1/keys/{keyId}": unscoped("keys.manage"),
  "POST /api/orchestration/register": scoped("workflows.register", "workers.announce"),
  "POST /api/orchestration/execute/{orchName}": scoped("runs.start"),
  "POST /api/orchestration/undo/{flowId}": scoped("runs.operate"),
  "POST /api/orchestrations/execute": scoped("runs.start"),
  "POST /api/orchestrate": scoped("runs.start"),
  "POST /api/orchestrate/direct": scoped("runs.start"),
  "GET /api/tasks": scoped("runs.read"),
  "GET /api/tasks/{task_id}": scoped("runs.read"),
  // Requests no route matches may still hit one by chance (e.g. GET /v1/workflows): any action.
  "no route": scoped(...ACTIONS),
};

const fuzzer = new RouteFuzzer();
let h: Harness;
let world: FuzzWorld;
const tokens = {} as Record<Exclude<Who, "none">, string>;
const callers = {} as Record<Exclude<Who, "none">, Caller>;
const summary: string[] = [];

beforeAll(async () => {
  h = await startHarness({ app: { logger: fuzzer.logger, auth: "on" } });
  fuzzer.attach(h);
  const keys: [Exclude<Who, "none">, Role, string][] = [
    ["admin", "admin", "*"],
    ["operator", "operator", HOME],
    ["starter", "starter", HOME],
    ["worker", "worker", HOME],
    ["otherOperator", "operator", OTHER],
    ["otherStarter", "starter", OTHER],
    ["otherWorker", "worker", OTHER],
  ];
  for (const [who, role, namespace] of keys) {
    const queues = role === "worker" ? { queues: WORKER_QUEUES } : {};
    const { token } = await h.engine.access.createKey({ name: who, role, namespaces: [namespace], ...queues });
    tokens[who] = token;
    const caller = await h.engine.access.authenticate(token);
    if (!caller) throw new Error(`the ${who} key does not authenticate`);
    callers[who] = caller;
  }
  // The world is built by the admin, its leases taken by the namespace's worker key, so that key's
  // fenced reports can be accepted while every other key's are refused.
  const keyFor = (path: string) => (path.startsWith("/v1/tasks") ? tokens.worker : tokens.admin);
  world = await buildFuzzWorld({
    ...h,
    call: (method, path, body, headers = {}) => h.call(method, path, body, { authorization: `Bearer ${keyFor(path)}`, ...headers }),
  });
}, 120_000);
afterAll(async () => {
  console.log(
    `HTTP fuzz with keys on ${onPglite ? "PGlite" : "Postgres"}: ${REQUESTS_PER_ROUTE} requests per route, ` +
      `at least one group of ${GROUP} per key (${WHO.join(", ")}); BATON_FUZZ_REQUESTS overrides\n${summary.join("\n")}`,
  );
  fuzzer.close();
  await h?.close();
});

type KeyedRequest = FuzzRequest & { who: Who };

describe("HTTP fuzz with keys of every role", () => {
  it("knows what every fuzzed route needs", () => {
    const unknown = Object.keys(ROUTE_REQUESTS).filter((route) => !(route in ROUTE_ACCESS));
    expect(unknown, "add these routes' actions to ROUTE_ACCESS in keyed-fuzz.test.ts").toEqual([]);
  });

  for (const route of Object.keys(ROUTE_REQUESTS)) {
    it(`${route}: no 5xx, refusals write nothing, no key gets more than its role`, async () => {
      const access = ROUTE_ACCESS[route];
      if (!access) throw new Error(`${route} is not in ROUTE_ACCESS`);
      const requests = (ROUTE_REQUESTS[route] as (w: FuzzWorld) => fc.Arbitrary<FuzzRequest>)(world);
      // Keys in turn, one per group, so every key is used however small the sample.
      let turn = 0;
      const groups = fc
        .array(requests, { minLength: GROUP, maxLength: GROUP })
        .map((group) => withKey(group, WHO[turn++ % WHO.length] as Who));
      let before = "";
      summary.push(
        await fuzzer.run(route, {
          groups,
          requests: Math.max(REQUESTS_PER_ROUTE, WHO.length * GROUP),
          beforeGroup: async () => {
            before = await namespaceDigest(h.engine.database, HOME);
          },
          checkGroup: async (group, answers) => {
            const who = (group[0] as KeyedRequest).who;
            for (const [i, answer] of answers.entries()) {
              if (answer !== "unanswered") checkAnswer(route, access, group[i] as KeyedRequest, answer);
            }
            if (who.startsWith("other") || who === "none") {
              const after = await namespaceDigest(h.engine.database, HOME);
              if (after !== before) {
                throw new Error(`${who} changed namespace ${HOME}:\n${group.map(describeRequest).join("\n")}\n${before}\n${after}`);
              }
            }
          },
        }),
      );
    }, 300_000);
  }
});

function withKey(group: FuzzRequest[], who: Who): KeyedRequest[] {
  const authorization: Record<string, string> = who === "none" ? {} : { authorization: `Bearer ${tokens[who]}` };
  return group.map((r) => ({ ...r, headers: { ...r.headers, ...authorization }, who }));
}

/** What one answer may be, given who asked: never more than the key's role and scope allow. */
function checkAnswer(route: string, access: Access, request: KeyedRequest, answer: Answered): void {
  const fail = (rule: string) => {
    throw new Error(`${rule}: ${answer.status} ${answer.text.slice(0, 300)}\nfor ${request.who}: ${describeRequest(request)}`);
  };
  const accepted = answer.status >= 200 && answer.status < 300;
  if (access === "public") return;
  if (request.who === "none") {
    // Only Node's own 431 (headers over its limit) comes before the app can ask for a key; a browser
    // asking for a page (/docs, /openapi.json) is sent to sign in (303) instead of the 401.
    const signIn = answer.status === 303 && answer.text === "" && (route === "GET /docs" || route === "GET /openapi.json");
    if (answer.status !== 401 && answer.status !== 431 && !signIn) fail("a request without a key must be refused with 401");
    return;
  }
  const caller = callers[request.who];
  if (route !== "no route" && accepted && !access.actions.some((action) => can(caller, action))) {
    fail(`a ${caller.role} key was answered 2xx on a route needing ${access.actions.join(" or ")}`);
  }
  // Refused reports too: a lease's current fence and an attempt's state are the holder's business.
  if (caller.role !== "admin" && answer.text.includes('"currentFenceToken"')) fail("a non-admin key was shown a current fence token");
  if (request.who.startsWith("other") && access.namespaced) {
    // What the request itself named (an id it sent) may come back; nothing else of the other namespace.
    const asked = `${request.path} ${typeof request.body === "string" ? request.body : ""}`;
    const leaked = [...world.instanceIds, ...world.executionIds, world.workflow].find(
      (id) => answer.text.includes(id) && !asked.includes(id),
    );
    if (leaked) fail(`a key of namespace ${OTHER} was shown ${leaked} of namespace ${HOME}`);
    if (route.startsWith("POST /v1/tasks/") && /"state":/.test(answer.text)) {
      fail(`a key of namespace ${OTHER} was shown an attempt's state`);
    }
  }
  if (!accepted) return;
  const body = parsed(answer);
  if (route === "POST /v1/tasks/acquire") {
    for (const task of (body?.tasks ?? []) as { queue: string; namespace: string }[]) {
      const allowed = caller.role === "admin" || (caller.namespaces.includes(task.namespace) && task.queue.startsWith("q.fuzz-"));
      if (!allowed) fail(`a ${caller.role} key of ${caller.namespaces.join(",")} was handed a task of ${task.namespace}/${task.queue}`);
    }
  }
  if (caller.role !== "admin" && (route === "GET /v1/instances/{id}" || route === "GET /v1/instances/{id}/tasks")) {
    const attempts = (body?.tasks ?? body?.items ?? []) as { fenceToken: unknown; leaseHolder: unknown }[];
    if (attempts.some((t) => t.fenceToken !== null || t.leaseHolder !== null))
      fail("a non-admin key was shown a fence token or lease holder");
  }
}

function parsed(answer: Answer): Record<string, unknown> | undefined {
  if (answer === "unanswered") return undefined;
  try {
    return JSON.parse(answer.text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
