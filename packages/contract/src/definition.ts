import { z } from "zod";
import { type Condition, ConditionSchema, conditionSizeError, InputPathSchema } from "./condition.ts";
import { BatonError } from "./errors.ts";
import { DEFAULT_MAX_CONCURRENCY, ELEMENT_INPUT_KEYS } from "./fan-out.ts";
import { DEFAULTS_HINTS, DEFINITION_HINTS, RETRY_POLICY_HINTS, STEP_HINTS } from "./field-hints.ts";
import { type IssueLike, issuesError } from "./field-issues.ts";
import { HTTP_CALL_FIELDS, HTTP_STEP_FIELDS, type HttpStepConfig, httpStepOf } from "./http-step.ts";
import { LIMITS } from "./limits.ts";
import { strictFields } from "./strict-fields.ts";

/** Retry policy of a step: attempts in all (1 = no retry) and exponential backoff between them. */
export const RetryPolicySchema = strictFields(
  {
    maxAttempts: z.number().int().min(1).max(1000).optional(),
    backoffMs: z.number().int().min(0).max(LIMITS.maxBackoffMs).optional(),
    backoffMultiplier: z.number().min(1).max(LIMITS.maxBackoffMultiplier).optional(),
    maxBackoffMs: z.number().int().min(0).max(LIMITS.maxBackoffMs).optional(),
  },
  RETRY_POLICY_HINTS,
);

const leaseMs = z.number().int().min(100).max(LIMITS.maxLeaseMs);

/** How a step's tasks reach the service: a polling worker, Kafka DO/UNDO topics, or an HTTP call Baton makes. */
const TRANSPORTS = ["worker", "kafka", "http"] as const;

/** What an exhausted step does to its run: compensate it (the default), or let it go on. */
const ON_FAILURE = ["compensate", "continue"] as const;

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const nameField = (what: string) =>
  z.string().regex(NAME, `${what} must be 1-128 letters, digits, '_', '.' or '-', starting with a letter or digit`);

const StepSchema = strictFields(
  {
    name: nameField("step name"),
    queue: nameField("queue").optional(),
    transport: z.enum(TRANSPORTS).optional(),
    leaseMs: leaseMs.optional(),
    retry: RetryPolicySchema.optional(),
    /** `true`: the step has an UNDO on `<queue>.undo`; an object names its own queue or lease (and, for HTTP steps, its call). */
    undo: z
      .union([z.boolean(), z.strictObject({ queue: nameField("undo queue").optional(), leaseMs: leaseMs.optional(), ...HTTP_CALL_FIELDS })])
      .optional(),
    ...HTTP_STEP_FIELDS,
    dependsOn: z.array(nameField("dependsOn entry")).max(LIMITS.maxDependsOn).optional(),
    when: ConditionSchema.optional(),
    onFailure: z.enum(ON_FAILURE).optional(),
    /** Run the step once per element of the list at this path of its input (see fan-out.ts). */
    forEach: InputPathSchema.optional().meta({
      description:
        "Fan-out: run the step once per element of the list at this path of its input (dot-separated keys, e.g. order.items), " +
        `at most ${LIMITS.maxForEachElements} elements (maxForEachElements); its output is the elements' outputs in order`,
    }),
    maxConcurrency: z
      .number()
      .int()
      .min(1)
      .max(LIMITS.maxForEachConcurrency)
      .optional()
      .meta({ description: `With forEach: most elements running at once (default ${DEFAULT_MAX_CONCURRENCY})` }),
    // Accepted from the legacy registration format and kept only for ordering / documentation.
    seq: z.number().int().min(-1_000_000).max(1_000_000).optional(),
    objectType: z.string().max(LIMITS.maxNameLength).optional(),
  },
  STEP_HINTS,
);

/** A workflow definition as users write it (JSON or YAML). */
export const WorkflowDefinitionSchema = strictFields(
  {
    name: nameField("workflow name"),
    namespace: nameField("namespace").optional(),
    description: z.string().max(2000).optional(),
    type: z.enum(["sequential", "parallel", "simultaneous", "dag"]).optional(),
    timeoutMs: z.number().int().min(1000).max(LIMITS.maxRunTimeoutMs).optional(),
    defaults: strictFields(
      {
        leaseMs: leaseMs.optional(),
        retry: RetryPolicySchema.optional(),
        transport: z.enum(TRANSPORTS).optional(),
      },
      DEFAULTS_HINTS,
    ).optional(),
    steps: z.array(StepSchema).min(1, "a workflow needs at least one step").max(LIMITS.maxSteps),
  },
  DEFINITION_HINTS,
);

export type WorkflowDefinitionInput = z.input<typeof WorkflowDefinitionSchema>;

export interface RetryPolicy {
  maxAttempts: number;
  backoffMs: number;
  backoffMultiplier: number;
  maxBackoffMs: number;
}

export interface StepDefinition {
  name: string;
  queue: string;
  transport: (typeof TRANSPORTS)[number];
  leaseMs: number;
  retry: RetryPolicy;
  /** Steps whose completion this step waits for (sequential: the previous one; parallel: none). */
  dependsOn: string[];
  undo: { queue: string; leaseMs: number } | null;
  /** Run the step only when this holds for its input; otherwise it is SKIPPED (see condition.ts). */
  when?: Condition;
  /**
   * `continue`: when its attempts are exhausted the run goes on without it (its error is in its
   * dependants' input and the run's output) and nothing is compensated for it.
   */
  onFailure: (typeof ON_FAILURE)[number];
  /** transport `http`: the calls Baton makes (absent for other transports). */
  http?: HttpStepConfig;
  /**
   * Fan-out: the path of a list in the step's input; the step runs once per element, at most
   * `maxConcurrency` at a time, and its output is the list of their outputs in element order.
   */
  forEach?: string;
  /** With `forEach`: most elements running (or waiting out a retry) at once. */
  maxConcurrency?: number;
}

/** A validated definition with every default filled in: what is stored and what the engine runs. */
export interface WorkflowDefinition {
  namespace: string;
  name: string;
  type: "sequential" | "parallel" | "dag";
  description?: string;
  /** The whole run's deadline from its start: past it, a run still RUNNING or PAUSED compensates. */
  timeoutMs?: number;
  steps: StepDefinition[];
}

export const DEFAULT_LEASE_MS = 30_000;
export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 3, backoffMs: 1000, backoffMultiplier: 2, maxBackoffMs: 60_000 };

/** Turns zod issues into one INVALID_DEFINITION error whose details name each failing field. */
function invalid(issues: readonly IssueLike[]): BatonError {
  return issuesError("INVALID_DEFINITION", "Invalid workflow definition", issues, "(root)");
}

/**
 * Validates a definition as written and fills in every default. The legacy registration format
 * (`orchName`, `as: initiator`, steps with `seq`) is accepted: see `fromLegacyRegistration`.
 * Throws INVALID_DEFINITION naming the field.
 */
export function parseDefinition(raw: unknown): WorkflowDefinition {
  const input = isLegacyRegistration(raw) ? fromLegacyRegistration(raw) : raw;
  const parsed = WorkflowDefinitionSchema.safeParse(input);
  if (!parsed.success) throw invalid(parsed.error.issues);
  return normalize(parsed.data);
}

function normalize(def: z.output<typeof WorkflowDefinitionSchema>): WorkflowDefinition {
  const type = def.type === "simultaneous" ? "parallel" : (def.type ?? "sequential");
  const issues: { path: PropertyKey[]; message: string }[] = [];
  const names = new Set<string>();
  def.steps.forEach((s, i) => {
    if (names.has(s.name)) issues.push({ path: ["steps", i, "name"], message: `duplicate step name '${s.name}'` });
    names.add(s.name);
  });
  // Sequential steps run in `seq` order when every step gives one, else in the order written.
  const ordered =
    type === "sequential" && def.steps.every((s) => s.seq !== undefined)
      ? [...def.steps].sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0))
      : def.steps;

  const steps = ordered.map((s, i): StepDefinition => {
    const stepIndex = def.steps.indexOf(s);
    if (type !== "dag" && s.dependsOn?.length) {
      issues.push({ path: ["steps", stepIndex, "dependsOn"], message: `dependsOn is only allowed when type is 'dag'` });
    }
    for (const dep of s.dependsOn ?? []) {
      if (!names.has(dep)) issues.push({ path: ["steps", stepIndex, "dependsOn"], message: `unknown step '${dep}'` });
      if (dep === s.name) issues.push({ path: ["steps", stepIndex, "dependsOn"], message: "a step cannot depend on itself" });
    }
    const previous = ordered[i - 1];
    const dependsOn = type === "dag" ? [...new Set(s.dependsOn ?? [])] : type === "sequential" && previous ? [previous.name] : [];
    const queue = s.queue ?? `${def.name}.${s.name}`;
    const leaseMs = s.leaseMs ?? def.defaults?.leaseMs ?? DEFAULT_LEASE_MS;
    const undo =
      s.undo === true
        ? { queue: `${queue}.undo`, leaseMs }
        : typeof s.undo === "object"
          ? { queue: s.undo.queue ?? `${queue}.undo`, leaseMs: s.undo.leaseMs ?? leaseMs }
          : null;
    const transport = s.transport ?? def.defaults?.transport ?? "worker";
    const http = httpStepOf(s, transport, (path, message) => issues.push({ path: ["steps", stepIndex, ...path], message }));
    const whenError = s.when ? conditionSizeError(s.when) : null;
    if (whenError) issues.push({ path: ["steps", stepIndex, "when"], message: `the condition ${whenError}` });
    if (s.maxConcurrency !== undefined && s.forEach === undefined) {
      issues.push({ path: ["steps", stepIndex, "maxConcurrency"], message: "maxConcurrency is only allowed with forEach" });
    }
    const shadowed = s.forEach === undefined ? [] : dependsOn.filter((d) => ELEMENT_INPUT_KEYS.includes(d));
    for (const dep of shadowed) {
      issues.push({
        path: ["steps", stepIndex, "forEach"],
        message: `an element's input holds ${ELEMENT_INPUT_KEYS.join(" and ")}, which would hide the output of step '${dep}' it depends on; rename that step`,
      });
    }
    return {
      name: s.name,
      queue,
      transport,
      leaseMs,
      retry: { ...DEFAULT_RETRY, ...def.defaults?.retry, ...s.retry },
      dependsOn,
      undo,
      ...(s.when ? { when: s.when } : {}),
      onFailure: s.onFailure ?? "compensate",
      ...(http ? { http } : {}),
      ...(s.forEach !== undefined ? { forEach: s.forEach, maxConcurrency: s.maxConcurrency ?? DEFAULT_MAX_CONCURRENCY } : {}),
    };
  });
  if (issues.length === 0) {
    const cycle = findCycle(steps);
    if (cycle) issues.push({ path: ["steps"], message: `dependency cycle: ${cycle.join(" -> ")}` });
  }
  if (issues.length > 0) throw invalid(issues);
  return {
    namespace: def.namespace ?? "default",
    name: def.name,
    type,
    ...(def.description ? { description: def.description } : {}),
    ...(def.timeoutMs !== undefined ? { timeoutMs: def.timeoutMs } : {}),
    steps,
  };
}

/** Returns one cycle as a list of step names (first repeated at the end), or null. */
function findCycle(steps: StepDefinition[]): string[] | null {
  const deps = new Map(steps.map((s) => [s.name, s.dependsOn]));
  const state = new Map<string, "visiting" | "done">();
  const path: string[] = [];
  const visit = (name: string): string[] | null => {
    if (state.get(name) === "done") return null;
    if (state.get(name) === "visiting") return [...path.slice(path.indexOf(name)), name];
    state.set(name, "visiting");
    path.push(name);
    for (const dep of deps.get(name) ?? []) {
      const cycle = visit(dep);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(name, "done");
    return null;
  };
  for (const s of steps) {
    const cycle = visit(s.name);
    if (cycle) return cycle;
  }
  return null;
}

/** The registration format of the orchestrators Baton replaces (orchName / as / type / steps). */
export interface LegacyRegistration {
  orchName: string;
  as: "initiator" | "worker";
  type?: string;
  steps: { seq?: number; name: string; objectType?: string }[];
  service?: string;
}

export function isLegacyRegistration(raw: unknown): raw is LegacyRegistration {
  return typeof raw === "object" && raw !== null && "orchName" in raw;
}

/**
 * Maps a legacy `as: initiator` registration to a Baton definition, meaning what it meant there:
 * every step runs over Kafka and has an UNDO, steps run in `seq` order (or together for
 * `simultaneous`), three attempts each.
 */
export function fromLegacyRegistration(raw: LegacyRegistration): unknown {
  if (raw.as !== undefined && raw.as !== "initiator") {
    throw new BatonError(
      "INVALID_DEFINITION",
      // `as` is whatever the caller sent: String() throws on some values (`[{"toString": 1}]`).
      `Invalid workflow definition: as: only 'initiator' registers a definition (got ${typeof raw.as === "string" ? `'${raw.as}'` : `a value of type ${typeof raw.as}`})`,
      {
        fields: [{ field: "as", message: "expected 'initiator'" }],
      },
    );
  }
  const { orchName, as: _as, service: _service, steps, ...rest } = raw as LegacyRegistration & Record<string, unknown>;
  return {
    ...rest,
    name: orchName,
    defaults: { transport: "kafka", retry: { maxAttempts: 3 }, ...(rest.defaults as object | undefined) },
    steps: Array.isArray(steps) ? steps.map((s) => (typeof s === "object" && s !== null ? { undo: true, ...s } : s)) : steps,
  };
}

/** Every queue a definition's tasks go to: each step's DO queue and its UNDO queue. */
export function definitionQueues(def: WorkflowDefinition): string[] {
  return def.steps.flatMap((s) => (s.undo ? [s.queue, s.undo.queue] : [s.queue]));
}

/** Names of the steps `stepName` depends on, directly or through others. */
export function ancestorsOf(def: WorkflowDefinition, stepName: string): Set<string> {
  const byName = new Map(def.steps.map((s) => [s.name, s]));
  const seen = new Set<string>();
  const stack = [...(byName.get(stepName)?.dependsOn ?? [])];
  while (stack.length > 0) {
    const name = stack.pop() as string;
    if (seen.has(name)) continue;
    seen.add(name);
    stack.push(...(byName.get(name)?.dependsOn ?? []));
  }
  return seen;
}
