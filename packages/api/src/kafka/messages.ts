import {
  type AcquiredTask,
  type FieldHints,
  isLegacyRegistration,
  issuesSummary,
  LIMITS,
  strictFields,
  type TaskKind,
} from "@baton/engine";
import type { IHeaders } from "kafkajs";
import { z } from "zod";
import { DefinitionTextError, parseDefinitionText } from "../definition-text.ts";
import { inputOfLegacyPayload } from "../legacy-payload.ts";

/**
 * The wire formats of the Kafka bridge. A message the bridge cannot use throws
 * `UnusableMessage`, whose reason goes to the dead-letter topic.
 */
export class UnusableMessage extends Error {
  override readonly name = "UnusableMessage";
}

/** The headers of a command, echoed by the service in its reply. */
export interface CommandHeaders {
  /** The instance id (the older orchestrators' flow id). */
  flowId: string;
  /** The workflow name. */
  orchName: string;
  stepName: string;
  action: TaskKind;
  executionId: string;
  fenceToken: number;
  attempt: number;
  /** Only for an element of a fan-out step (`forEach`): its index in the list. */
  elementIndex?: number;
}

/**
 * A command as published: the reference's `{headers, payload}` JSON body, which existing services
 * parse, with the headers also set as Kafka headers (strings) for services that route or filter
 * on them without reading the body.
 */
export function commandMessage(task: AcquiredTask): { key: string; value: string; headers: Record<string, string> } {
  const headers: CommandHeaders = {
    flowId: task.instanceId,
    orchName: task.workflowName,
    stepName: task.step,
    action: task.kind,
    executionId: task.executionId,
    fenceToken: task.fenceToken,
    attempt: task.attempt,
    ...(task.elementIndex !== null ? { elementIndex: task.elementIndex } : {}),
  };
  return {
    key: task.instanceId,
    value: JSON.stringify({ headers, payload: task.input }),
    headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, String(v)])),
  };
}

/** A service's reply to a command, normalised. */
export interface Reply {
  flowId: string;
  stepName: string;
  /** The element of a fan-out step the reply answers, when the service echoed it. */
  elementIndex: number | undefined;
  action: TaskKind;
  success: boolean;
  errorMessage: string | null;
  /** Absent when the service did not echo them (older services): matched to the step's current lease. */
  executionId: string | undefined;
  fenceToken: number | undefined;
  /** `retryable: false` in the headers makes a failure final (no further attempts). */
  retryable: boolean;
  payload: unknown;
}

const uuid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, "expected a UUID");
const action = z.preprocess((v) => (typeof v === "string" ? v.toUpperCase() : v), z.enum(["DO", "UNDO"]));
// `status` is a boolean in the reference; older services sent "SUCCESS" / "FAILED" in metadata.
const status = z.preprocess((v) => {
  if (typeof v !== "string") return v;
  const s = v.toUpperCase();
  if (["TRUE", "SUCCESS", "SUCCEEDED", "OK", "DONE"].includes(s)) return true;
  if (["FALSE", "FAILED", "FAILURE", "ERROR"].includes(s)) return false;
  return v;
}, z.boolean());
const fence = z.preprocess((v) => (typeof v === "string" && /^\d+$/.test(v) ? Number(v) : v), z.number().int().positive());
const elementIndex = z.preprocess((v) => (typeof v === "string" && /^\d+$/.test(v) ? Number(v) : v), z.number().int().min(0));

const ReplyHeadersSchema = z.object({
  flowId: uuid,
  stepName: z.string().min(1),
  action,
  status,
  errorMessage: z.string().nullish(),
  executionId: uuid.nullish(),
  fenceToken: fence.nullish(),
  elementIndex: elementIndex.nullish(),
  retryable: z.boolean().optional(),
});

/**
 * Parses a reply: `{headers: {flowId, stepName, action, status, errorMessage, executionId?,
 * fenceToken?, elementIndex?}, payload}`; also the older flat form `{flowId, stepName, action, metadata: {status,
 * error}}`. executionId and fenceToken may come as Kafka headers instead of in the body.
 */
export function parseReply(value: Buffer | null, kafkaHeaders: IHeaders | undefined): Reply {
  const body = parseJsonObject(value);
  let fields: Record<string, unknown>;
  if (isObject(body.headers)) {
    fields = { ...body.headers };
  } else {
    const metadata = isObject(body.metadata) ? body.metadata : {};
    fields = { ...body, status: body.status ?? metadata.status, errorMessage: body.errorMessage ?? metadata.error };
  }
  const fromKafka = headerMap(kafkaHeaders);
  fields.executionId ??= fromKafka.executionId;
  fields.fenceToken ??= fromKafka.fenceToken;
  fields.elementIndex ??= fromKafka.elementIndex;
  const parsed = ReplyHeadersSchema.safeParse(fields);
  if (!parsed.success) throw new UnusableMessage(`reply: ${issuesSummary(parsed.error.issues, "(root)")}`);
  const h = parsed.data;
  if ((h.executionId == null) !== (h.fenceToken == null)) {
    throw new UnusableMessage("reply: executionId and fenceToken come together (echo both from the command, or neither)");
  }
  return {
    flowId: h.flowId,
    stepName: h.stepName,
    elementIndex: h.elementIndex ?? undefined,
    action: h.action,
    success: h.status,
    errorMessage: h.errorMessage ?? null,
    executionId: h.executionId ?? undefined,
    fenceToken: h.fenceToken ?? undefined,
    retryable: h.retryable !== false,
    payload: body.payload ?? null,
  };
}

/** A run start, normalised. */
export interface StartRequest {
  workflow: string;
  namespace: string | undefined;
  runId: string | undefined;
  input: Record<string, unknown>;
}

const name = z.string().min(1).max(LIMITS.maxNameLength);
/** What senders of a start put in it by mistake, and what to send instead. */
const START_HINTS: FieldHints = Object.fromEntries([
  ...["data", "params", "parameters", "body", "variables", "args", "inputs", "context"].map((k) => [k, "use `input` (or `payload`)"]),
  ...["run_id", "runID", "flowId", "instanceId", "requestId", "correlationId", "idempotencyKey"].map((k) => [k, "use `runId`"]),
  ...["name", "workflowName", "orch_name"].map((k) => [k, "use `workflow` or `orchName`"]),
  ...["task_name", "task_description"].map((k) => [k, "this is the FastAPI orchestrator's request: POST it to /api/orchestrate"]),
  ["waitMs", "a Kafka start does not wait: follow the run on the events topic, or start it over HTTP with `waitMs`"],
]);

// Base64 as Jackson reads a byte[] (standard or URL-safe alphabet, padding optional), line breaks allowed.
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/**
 * A start message. Strict like the HTTP bodies: a field the bridge does not use would be dropped
 * without a word (a start with `data` instead of `input` would run with no input), so the message
 * goes to the dead-letter topic naming it. Every field of the reference formats is here.
 */
const StartSchema = strictFields(
  {
    workflow: name.optional(),
    orchName: name.optional(),
    orchestrationName: name.optional(),
    namespace: name.optional(),
    runId: z.string().min(1).max(256).optional(),
    input: z.record(z.string(), z.unknown()).optional(),
    // The older orchestrators: base64 of the bytes (a JSON object is the input), or the input itself.
    payload: z
      .union(
        [
          z.string().refine((s) => BASE64.test(s.replace(/\s+/g, "")) && s.replace(/\s+/g, "").length % 4 !== 1, "not base64"),
          z.record(z.string(), z.unknown()),
        ],
        { error: "expected base64 of the payload's bytes, or a JSON object" },
      )
      .optional(),
  },
  START_HINTS,
);

/**
 * Parses `{orchName | workflow, runId?, input}` or the older `{orchName, payload}`, whose base64
 * `payload` is read by `inputOfLegacyPayload` (a JSON object, else the bytes kept as base64).
 */
export function parseStart(value: Buffer | null): StartRequest {
  const parsed = StartSchema.safeParse(parseJsonObject(value));
  if (!parsed.success) throw new UnusableMessage(`start: ${issuesSummary(parsed.error.issues, "(root)")}`);
  const m = parsed.data;
  const names = [...new Set([m.workflow, m.orchName, m.orchestrationName].filter((n) => n !== undefined))];
  if (names.length === 0) throw new UnusableMessage("start: name the workflow in `workflow` or `orchName`");
  if (names.length > 1) throw new UnusableMessage(`start: names ${names.length} workflows (${names.join(", ")}); name one`);
  if (m.input !== undefined && m.payload !== undefined) {
    throw new UnusableMessage("start: carries both `input` and `payload`; send the run's data once, in one of them");
  }
  const workflow = names[0] as string;
  let input: Record<string, unknown> = m.input ?? {};
  if (m.input === undefined && typeof m.payload === "string") {
    input = inputOfLegacyPayload(Buffer.from(m.payload, "base64"));
  } else if (m.input === undefined && isObject(m.payload)) {
    input = m.payload;
  }
  return { workflow, namespace: m.namespace, runId: m.runId, input };
}

/** What arrived on the registration topic. */
export type Registration =
  | { kind: "definition"; definition: Record<string, unknown> }
  | { kind: "worker"; workflow: string; namespace: string | undefined; steps: string[]; service: string };

/**
 * Parses a registration (JSON or YAML). A definition, in Baton's format or the older
 * `orchName / as: initiator / type / steps` one, is registered as is; `as: worker` names the
 * sending service (a `service` field, or a `service` / `X-Service-Name` Kafka header) as a worker
 * of the listed steps.
 */
export function parseRegistration(value: Buffer | null, kafkaHeaders: IHeaders | undefined): Registration {
  const text = value?.toString("utf8") ?? "";
  let doc: unknown;
  try {
    doc = parseDefinitionText(text, "yaml");
  } catch (error) {
    if (!(error instanceof DefinitionTextError)) throw error;
    throw new UnusableMessage(`registration: neither JSON nor YAML (${error.message})`);
  }
  if (!isObject(doc)) throw new UnusableMessage("registration: expected an object (a workflow definition)");
  if (!isLegacyRegistration(doc) || doc.as !== "worker") return { kind: "definition", definition: doc };
  const headers = headerMap(kafkaHeaders);
  const service = typeof doc.service === "string" && doc.service ? doc.service : (headers.service ?? headers["x-service-name"]);
  if (!service) throw new UnusableMessage("registration: `as: worker` needs the service's name (a `service` field or header)");
  if (service.length > LIMITS.maxIdLength)
    throw new UnusableMessage(`registration: the service name is over ${LIMITS.maxIdLength} characters`);
  if (!Array.isArray(doc.steps) || doc.steps.length === 0) throw new UnusableMessage("registration: `as: worker` needs steps");
  if (doc.steps.length > LIMITS.maxSteps) throw new UnusableMessage(`registration: more than ${LIMITS.maxSteps} steps (maxSteps)`);
  const steps = doc.steps.map((s, i) => {
    const name = isObject(s) ? s.name : s;
    if (typeof name !== "string" || !name) throw new UnusableMessage(`registration: steps.${i}.name: expected a step name`);
    return name;
  });
  const namespace = typeof doc.namespace === "string" ? doc.namespace : undefined;
  return { kind: "worker", workflow: doc.orchName, namespace, steps, service };
}

function parseJsonObject(value: Buffer | null): Record<string, unknown> {
  let body: unknown;
  try {
    body = JSON.parse(value?.toString("utf8") ?? "");
  } catch {
    throw new UnusableMessage("not JSON");
  }
  if (!isObject(body)) throw new UnusableMessage("expected a JSON object");
  return body;
}

/** Kafka headers as strings, keys lower-cased too (so `X-Service-Name` is found however it is spelled). */
function headerMap(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, raw] of Object.entries(headers ?? {})) {
    const value = Array.isArray(raw) ? raw[0] : raw;
    if (value === undefined) continue;
    out[key] = value.toString();
    out[key.toLowerCase()] ??= value.toString();
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
