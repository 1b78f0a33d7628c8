import { type Engine, type HttpCircuitView, startPeriodicPass, urlTemplateOrigin, type WorkflowDefinition } from "@baton/engine";
import { createWorker, type HandlerContext, type Handlers, NonRetryableError, type Worker } from "@baton/worker-sdk";
import pino, { type Logger } from "pino";
import type { Registry } from "prom-client";
import { type BreakerSettings, CircuitBreakers, DEFAULT_BREAKER } from "./circuit-breakers.ts";
import type { HostPolicy } from "./host-policy.ts";
import { registerHttpStepMetrics } from "./http-step-metrics.ts";
import { callHttpStep, type StepCallDeps } from "./step-call.ts";
import { httpStepGroups, type StepGroup } from "./step-groups.ts";

export interface HttpStepRunnerOptions {
  /** Which hosts the steps may call (BATON_HTTP_STEP_HOSTS). */
  policy: HostPolicy;
  /** Per-host circuit breakers (default: open after 5 failures in a row, half-open after 30 s). */
  breaker?: Partial<BreakerSettings>;
  /** The BATON_SECRET_* variables that header values may name. */
  secrets?: Readonly<Record<string, string>>;
  logger?: Logger;
  /** Where /metrics reads the breakers and call counts from (default: not registered). */
  metrics?: Registry;
  /** How often the stored definitions are looked at for HTTP steps (default 5000 ms). */
  refreshMs?: number;
  /** How long an acquire of the runner's workers waits on the engine (default 20000 ms). */
  pollWaitMs?: number;
  /** How long calls in flight may finish when the runner stops, before they are left to their leases (default 10000 ms). */
  stopDeadlineMs?: number;
}

export interface HttpStepRunner {
  /** The id under which the runner holds leases (and appears in the workers list). */
  readonly workerId: string;
  /** Looks at the stored definitions now; resolves when the workers serve what it found. */
  refresh(): Promise<void>;
  /** The queues served now. */
  queues(): string[];
  /** The circuit breakers of the hosts an instance's HTTP steps call; empty when it has none. */
  circuitsFor(instance: { namespace: string; workflowName: string; workflowVersion: number }): Promise<HttpCircuitView[]>;
  /** Stops acquiring, lets calls in flight finish (up to the deadline), and stops every worker. */
  stop(): Promise<void>;
}

/**
 * Baton as the fenced worker of `transport: http` steps: one in-process worker (the worker SDK
 * on the engine, no HTTP in between) per group of HTTP-step queues, acquiring tasks like any
 * worker, with the step's `maxInFlight` as its concurrency and nothing leased ahead. It looks at
 * the stored definitions every few seconds (every version: running instances keep theirs) and
 * runs no worker at all while none has an HTTP step, so starting it with every server is cheap.
 * @example
 * const runner = await startHttpStepRunner(engine, { policy: HostPolicy.parse("payments.internal") });
 * // ... on shutdown, before the engine closes:
 * await runner.stop();
 */
export async function startHttpStepRunner(engine: Engine, options: HttpStepRunnerOptions): Promise<HttpStepRunner> {
  const logger = options.logger ?? pino({ level: "silent" });
  const workerId = `baton-http-steps-${crypto.randomUUID().slice(0, 8)}`;
  const breakers = new CircuitBreakers({ ...DEFAULT_BREAKER, ...options.breaker }, (host, state, failures) => {
    if (state === "open")
      logger.warn({ host, failures }, "HTTP steps: circuit breaker opened; calls to this host fail at once until a trial call succeeds");
    else logger.info({ host }, "HTTP steps: circuit breaker closed");
  });
  const count = options.metrics ? registerHttpStepMetrics(options.metrics, breakers) : () => {};
  const deps: StepCallDeps = { policy: options.policy, breakers, secrets: options.secrets ?? {}, onOutcome: count };
  const stopDeadlineMs = options.stopDeadlineMs ?? 10_000;

  // Definition versions never change: each is read once.
  const definitions = new Map<string, WorkflowDefinition>();
  const definitionOf = async (namespace: string, name: string, version: number) => {
    const key = `${namespace}\u0000${name}\u0000${version}`;
    let definition = definitions.get(key);
    if (!definition) {
      definition = (await engine.workflows.getDefinition(name, namespace, version)).definition;
      definitions.set(key, definition);
    }
    return definition;
  };

  const run = async (ctx: HandlerContext<unknown>): Promise<unknown> => {
    const definition = await engine.workflows.instanceDefinition(ctx.instanceId);
    const step = definition.steps.find((s) => s.name === ctx.step);
    const call = ctx.kind === "DO" ? step?.http?.do : step?.http?.undo;
    if (!call) {
      throw new NonRetryableError(
        `step ${ctx.taskId} (${ctx.kind}) of ${definition.namespace}/${definition.name} is not an HTTP call (transport ` +
          `${step?.transport ?? "unknown"}), but its queue ${ctx.queue} is served by Baton's HTTP-step runner, because an ` +
          "HTTP step uses that queue too: give one of them a queue of its own",
      );
    }
    return callHttpStep(ctx, call, deps);
  };

  const workers = new Map<string, Worker>();
  const startWorker = (group: StepGroup): Worker => {
    const handlers: Handlers = {};
    for (const queue of group.queues) handlers[queue] = { queue, do: run };
    return createWorker({
      engine,
      handlers,
      workerId,
      concurrency: group.concurrency,
      prefetch: 0,
      pollWaitMs: options.pollWaitMs ?? 20_000,
      logger: logger.child({ component: "http-steps" }),
    });
  };

  let stopped = false;
  const refresh = async () => {
    if (stopped) return;
    const found: WorkflowDefinition[] = [];
    for (const key of await engine.workflows.listDefinitionVersions()) found.push(await definitionOf(key.namespace, key.name, key.version));
    const wanted = new Map(httpStepGroups(found).map((g) => [g.key, g]));
    const gone = [...workers].filter(([key]) => !wanted.has(key));
    // A group that changed is stopped before its successor starts, so its limit is never exceeded.
    await Promise.all(
      gone.map(async ([key, worker]) => {
        workers.delete(key);
        await worker.stop({ deadlineMs: stopDeadlineMs });
      }),
    );
    for (const [key, group] of wanted) {
      if (workers.has(key)) continue;
      workers.set(key, startWorker(group));
      logger.info({ queues: group.queues, maxInFlight: group.concurrency, workerId }, "HTTP steps: serving queues");
    }
  };
  const refresher = startPeriodicPass("HTTP steps: looking up HTTP steps", options.refreshMs ?? 5000, refresh, logger);
  await refresher.runNow();
  const hosts = options.policy.entries;
  logger.info(
    { workerId, hosts, queues: [...workers.values()].flatMap((w) => w.queues) },
    hosts.length > 0
      ? "HTTP steps: runner started"
      : "HTTP steps: runner started; BATON_HTTP_STEP_HOSTS is not set, so HTTP steps may call no host",
  );

  let stopping: Promise<void> | undefined;
  return {
    workerId,
    refresh: () => refresher.runNow(),
    queues: () => [...workers.values()].flatMap((w) => w.queues),
    async circuitsFor(instance) {
      const definition = await definitionOf(instance.namespace, instance.workflowName, instance.workflowVersion);
      const stepsByHost = new Map<string, string[]>();
      for (const step of definition.steps) {
        for (const call of [step.http?.do, step.http?.undo]) {
          if (!call) continue;
          const host = new URL(urlTemplateOrigin(call.url)).host;
          const steps = stepsByHost.get(host) ?? [];
          if (!steps.includes(step.name)) steps.push(step.name);
          stepsByHost.set(host, steps);
        }
      }
      return [...stepsByHost].map(([host, steps]) => {
        const { state, consecutiveFailures } = breakers.state(host);
        return { host, state, consecutiveFailures, steps };
      });
    },
    stop() {
      stopping ??= (async () => {
        stopped = true;
        await refresher.stop();
        await Promise.all([...workers.values()].map((w) => w.stop({ deadlineMs: stopDeadlineMs })));
        workers.clear();
        logger.info({ workerId }, "HTTP steps: runner stopped");
      })();
      return stopping;
    },
  };
}
