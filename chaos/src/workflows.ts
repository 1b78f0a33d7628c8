/*
 * The workflows the suite runs, and the plan each run carries in its input: which step (if any)
 * fails for good, so that compensations run.
 */

/** Short leases, so a worker stalled for a few seconds is past its lease. */
export const LEASE_MS = 3000;

/**
 * The lease of a Kafka step, which is the time its service has to reply (the bridge never
 * heartbeats). Longer than an SDK step's: a killed API process stalls the bridges' consumer group
 * for its session timeout (API_KAFKA_SESSION_MS) before the replies flow again.
 */
export const KAFKA_LEASE_MS = 10_000;
/** KAFKA_SESSION_TIMEOUT_MS of the API processes. */
export const API_KAFKA_SESSION_MS = 6000;

const kafka = { transport: "kafka", leaseMs: KAFKA_LEASE_MS } as const;

const defaults = {
  leaseMs: LEASE_MS,
  retry: { maxAttempts: 5, backoffMs: 100, backoffMultiplier: 2, maxBackoffMs: 1000 },
};

export const WORKFLOWS = [
  { name: "chaos-one", namespace: "default", type: "sequential", defaults, steps: [{ name: "only", undo: true }] },
  {
    name: "chaos-saga",
    namespace: "default",
    type: "sequential",
    defaults,
    steps: ["reserve", "charge", "ship", "notify"].map((name) => ({ name, undo: true })),
  },
  {
    name: "chaos-parallel",
    namespace: "default",
    type: "parallel",
    defaults,
    steps: ["left", "middle", "right"].map((name) => ({ name, undo: true })),
  },
  {
    name: "chaos-dag",
    namespace: "default",
    type: "dag",
    defaults,
    steps: [
      { name: "root", undo: true },
      { name: "branchA", undo: true, dependsOn: ["root"] },
      { name: "branchB", undo: true, dependsOn: ["root"] },
      { name: "join", undo: true, dependsOn: ["branchA", "branchB"] },
    ],
  },
  // Served by the Kafka workers through the bridge: a saga whose every step is a Kafka command.
  {
    name: "chaos-kafka-saga",
    namespace: "default",
    type: "sequential",
    defaults,
    steps: ["reserve", "charge", "ship"].map((name) => ({ name, undo: true, ...kafka })),
  },
  // Both transports in one instance: Kafka branches of a DAG whose other steps SDK workers serve.
  {
    name: "chaos-mixed",
    namespace: "default",
    type: "dag",
    defaults,
    steps: [
      { name: "root", undo: true },
      { name: "branchA", undo: true, dependsOn: ["root"], ...kafka },
      { name: "branchB", undo: true, dependsOn: ["root"] },
      { name: "join", undo: true, dependsOn: ["branchA", "branchB"], ...kafka },
    ],
  },
] as const;

type ChaosStep = { name: string; transport?: "kafka" };
const overKafka = (s: ChaosStep) => s.transport === "kafka";

/** The steps SDK workers serve, as `[workflow, step]`. */
export function workerSteps(): [string, string][] {
  return WORKFLOWS.flatMap((w) =>
    (w.steps as readonly ChaosStep[]).filter((s) => !overKafka(s)).map((s): [string, string] => [w.name, s.name]),
  );
}

/** The steps Kafka workers serve, as `[workflow, step]` (every one has an undo). */
export function kafkaSteps(): [string, string][] {
  return WORKFLOWS.flatMap((w) => (w.steps as readonly ChaosStep[]).filter(overKafka).map((s): [string, string] => [w.name, s.name]));
}

export type WorkflowName = (typeof WORKFLOWS)[number]["name"];

/** What a run's handlers do besides the random transient failures. */
export interface RunPlan {
  /** This step's DO fails for good (a non-retryable error): the run compensates. */
  failStep?: string;
  /** This step's UNDO fails for good: the run ends COMPENSATION_FAILED. */
  failUndo?: string;
}

/** Share of runs with a step that fails for good; of those, share whose compensation fails too. */
const PERMANENT_FAILURE_SHARE = 0.1;
const UNDO_FAILURE_SHARE = 0.1;

export function planRun(workflow: (typeof WORKFLOWS)[number], random: () => number): RunPlan {
  if (random() >= PERMANENT_FAILURE_SHARE) return {};
  const steps = workflow.steps.map((s) => s.name);
  const failStep = steps[Math.floor(random() * steps.length)] as string;
  const undoable = steps.filter((s) => s !== failStep);
  if (undoable.length > 0 && random() < UNDO_FAILURE_SHARE) {
    return { failStep, failUndo: undoable[Math.floor(random() * undoable.length)] as string };
  }
  return { failStep };
}
