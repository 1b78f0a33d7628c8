import type { InstanceState, TaskKind, TaskState } from "@baton/engine";

/*
 * The status names of the replaced orchestrators beside Baton's states: one table, read by the
 * compatibility routes to answer in the old names and printed in docs/migrating.md (a test checks
 * that every row is there). Baton -> old picks the first row that matches.
 */

/**
 * What a Baton state is matched on: an instance's state, or a step's latest attempt; or, for an old
 * status that is no state in Baton, where Baton shows it instead (`shownBy`, never matched).
 */
export type BatonSide =
  | { instance: readonly InstanceState[] }
  | {
      /** The step's latest attempt of this kind, in one of these states; `null`: no attempt yet. */
      attempt: { kind: TaskKind; states: readonly (TaskState | null)[]; retriesLeft?: boolean };
    }
  | { shownBy: string };

export interface LegacyStatusRow {
  system: "spring" | "fastapi";
  /** What the old status described. */
  of: "run" | "step" | "task" | "service request";
  name: string;
  baton: BatonSide;
  meaning: string;
}

const FINISHED_BADLY = ["FAILED", "TIMED_OUT"] as const;

export const LEGACY_STATUSES: readonly LegacyStatusRow[] = [
  // Spring orchestrator (ExecutionStatusEnum), a flow (orchestration_run) ...
  {
    system: "spring",
    of: "run",
    name: "IN_PROGRESS",
    baton: { instance: ["RUNNING", "PAUSED"] },
    meaning: "steps are running (or paused)",
  },
  { system: "spring", of: "run", name: "PENDING", baton: { instance: ["RUNNING"] }, meaning: "started, no step handed out yet" },
  { system: "spring", of: "run", name: "COMPLETED", baton: { instance: ["COMPLETED"] }, meaning: "every step's DO succeeded" },
  { system: "spring", of: "run", name: "UNDOING", baton: { instance: ["COMPENSATING"] }, meaning: "UNDOs are running" },
  { system: "spring", of: "run", name: "UNDONE", baton: { instance: ["COMPENSATED"] }, meaning: "every completed step was undone" },
  {
    system: "spring",
    of: "run",
    name: "FAILED",
    baton: { instance: ["FAILED", "CANCELLED", "COMPENSATION_FAILED"] },
    meaning: "a step failed with nothing to undo, the run was cancelled, or an UNDO failed for good",
  },
  // ... and a step of it (orchestration_step_run).
  {
    system: "spring",
    of: "step",
    name: "PENDING",
    baton: { attempt: { kind: "DO", states: [null, "PENDING", "CANCELLED"] } },
    meaning: "waiting to be sent, or never sent because the run stopped",
  },
  {
    system: "spring",
    of: "step",
    name: "IN_PROGRESS",
    baton: { attempt: { kind: "DO", states: ["LEASED"] } },
    meaning: "sent, no reply yet",
  },
  {
    system: "spring",
    of: "step",
    name: "DO_SUCCESS",
    baton: { attempt: { kind: "DO", states: ["COMPLETED"] } },
    meaning: "the DO succeeded",
  },
  {
    system: "spring",
    of: "step",
    name: "DO_FAIL",
    baton: { attempt: { kind: "DO", states: FINISHED_BADLY, retriesLeft: true } },
    meaning: "the DO failed; it is retried",
  },
  {
    system: "spring",
    of: "step",
    name: "RETRY_EXHAUSTED",
    baton: { attempt: { kind: "DO", states: FINISHED_BADLY, retriesLeft: false } },
    meaning: "the last DO attempt failed: compensation starts",
  },
  {
    system: "spring",
    of: "step",
    name: "UNDOING",
    baton: { attempt: { kind: "UNDO", states: ["PENDING", "LEASED"] } },
    meaning: "the UNDO is waiting or sent",
  },
  {
    system: "spring",
    of: "step",
    name: "UNDO_SUCCESS",
    baton: { attempt: { kind: "UNDO", states: ["COMPLETED"] } },
    meaning: "the UNDO succeeded",
  },
  {
    system: "spring",
    of: "step",
    name: "UNDO_FAIL",
    baton: { attempt: { kind: "UNDO", states: FINISHED_BADLY } },
    meaning: "the UNDO failed",
  },
  {
    system: "spring",
    of: "step",
    name: "NOT_REGISTERED",
    baton: { shownBy: "the step's readiness (`GET /v1/workflows/{name}`): `serving: nobody`; the step waits `PENDING`" },
    meaning: "no worker registered for the step",
  },
  // FastAPI orchestrator: a task (one request) ...
  { system: "fastapi", of: "task", name: "PENDING", baton: { instance: ["PAUSED"] }, meaning: "accepted, not being processed" },
  {
    system: "fastapi",
    of: "task",
    name: "IN_PROGRESS",
    baton: { instance: ["RUNNING", "COMPENSATING"] },
    meaning: "services are being called",
  },
  { system: "fastapi", of: "task", name: "COMPLETED", baton: { instance: ["COMPLETED"] }, meaning: "every service answered" },
  {
    system: "fastapi",
    of: "task",
    name: "FAILED",
    baton: { instance: ["FAILED", "CANCELLED", "COMPENSATED", "COMPENSATION_FAILED"] },
    meaning: "a service failed for good (what could be undone was), or the run was cancelled",
  },
  // ... and one service call of it (service_requests).
  {
    system: "fastapi",
    of: "service request",
    name: "PENDING",
    baton: { attempt: { kind: "DO", states: [null, "PENDING"] } },
    meaning: "not called yet",
  },
  {
    system: "fastapi",
    of: "service request",
    name: "IN_PROGRESS",
    baton: { attempt: { kind: "DO", states: ["LEASED"] } },
    meaning: "being called",
  },
  {
    system: "fastapi",
    of: "service request",
    name: "IN_PROGRESS",
    baton: { attempt: { kind: "DO", states: FINISHED_BADLY, retriesLeft: true } },
    meaning: "failed, to be retried",
  },
  {
    system: "fastapi",
    of: "service request",
    name: "COMPLETED",
    baton: { attempt: { kind: "DO", states: ["COMPLETED"] } },
    meaning: "the service answered",
  },
  {
    system: "fastapi",
    of: "service request",
    name: "FAILED",
    baton: { attempt: { kind: "DO", states: [...FINISHED_BADLY, "CANCELLED"], retriesLeft: false } },
    meaning: "failed for good, or never called because the run stopped",
  },
];

/** The old name of an instance state: `of` is "run" (Spring) or "task" (FastAPI). */
export function legacyInstanceStatus(system: LegacyStatusRow["system"], of: "run" | "task", state: InstanceState): string {
  const row = LEGACY_STATUSES.find((r) => r.system === system && r.of === of && "instance" in r.baton && r.baton.instance.includes(state));
  return row?.name ?? state;
}

/** A step's latest attempt of one kind, as the table matches it (undefined: none yet). */
export interface AttemptFacts {
  state: TaskState;
  attempt: number;
  maxAttempts: number;
}

/** The old name of a step's status, from its latest attempt of `kind` (or none). */
export function legacyStepStatus(
  system: LegacyStatusRow["system"],
  of: "step" | "service request",
  kind: TaskKind,
  latest?: AttemptFacts,
): string {
  const state = latest?.state ?? null;
  const retriesLeft = latest !== undefined && latest.attempt < latest.maxAttempts;
  const row = LEGACY_STATUSES.find((r) => {
    if (r.system !== system || r.of !== of || !("attempt" in r.baton)) return false;
    const a = r.baton.attempt;
    if (a.kind !== kind || !a.states.includes(state)) return false;
    // A cancelled attempt is not a failure: retriesLeft does not tell it apart.
    return a.retriesLeft === undefined || state === "CANCELLED" || a.retriesLeft === retriesLeft;
  });
  return row?.name ?? state ?? "PENDING";
}

/** A row as docs/migrating.md prints it (a test checks that the document has every row). */
export function markdownRow(row: LegacyStatusRow): string {
  const system = row.system === "spring" ? "Spring" : "FastAPI";
  return `| ${system} | ${row.of} | \`${row.name}\` | ${batonSideText(row.baton)} | ${row.meaning} |`;
}

function batonSideText(side: BatonSide): string {
  if ("shownBy" in side) return side.shownBy;
  if ("instance" in side) return `instance ${side.instance.map((s) => `\`${s}\``).join(", ")}`;
  const { kind, states, retriesLeft } = side.attempt;
  const named = states.map((s) => (s === null ? "none yet" : `\`${s}\``)).join(", ");
  const retries = retriesLeft === undefined ? "" : retriesLeft ? ", attempts left" : ", last attempt";
  return `latest ${kind} attempt: ${named}${retries}`;
}
