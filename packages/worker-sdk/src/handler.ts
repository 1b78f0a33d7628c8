import type { AcquiredTask } from "@baton/contract";

/** What a handler gets for one attempt of one step. */
export interface HandlerContext<Input = Record<string, unknown>> {
  /**
   * The step's input: the workflow input merged with the outputs of the steps it depends on. For an
   * element of a fan-out step (`forEach`), that input without the list, plus `element` (the list's
   * element) and `elementIndex`.
   */
  input: Input;
  /** 1 for the first attempt of this step's DO (or UNDO), then 2, 3, ... */
  attempt: number;
  executionId: string;
  instanceId: string;
  workflowName: string;
  /** The step's name, or `<step>#<index>` for an element of a fan-out step. */
  taskId: string;
  /** The step's name. */
  step: string;
  /** For an element of a fan-out step, its index in the list (from 0); else null. */
  elementIndex: number | null;
  kind: AcquiredTask["kind"];
  queue: string;
  /**
   * This attempt's fence token. Tokens increase strictly across attempts, so a downstream service
   * can keep the highest one it has seen per step and refuse writes that carry a lower one.
   */
  fenceToken: number;
  /**
   * Aborted when this attempt's result can no longer count: the lease was lost (a heartbeat was
   * refused: it expired, the instance was cancelled, the task was handed to someone else) or the
   * worker was stopped past its deadline. `signal.reason` says which. Pass it to fetch and friends.
   */
  signal: AbortSignal;
  /**
   * Extends the lease now. The worker already heartbeats about every third of the lease; call this
   * inside long synchronous stretches. Rejects with a `BatonError` when the lease is lost.
   */
  heartbeat(): Promise<void>;
}

/** Runs one attempt; what it returns (JSON) is the step's output. Throw to fail the attempt. */
export type HandlerFn<Input = Record<string, unknown>> = (context: HandlerContext<Input>) => unknown;

/** The DO (and optional UNDO) of one step. */
export interface StepHandler<Input = Record<string, unknown>> {
  /** The step's queue; default `<workflow>.<step>`, as the engine names it. */
  queue?: string;
  do: HandlerFn<Input>;
  /** The compensating action, run on `<queue>.undo` (or `undoQueue`) when the workflow is undone. */
  undo?: HandlerFn<Input>;
  undoQueue?: string;
}

/**
 * Handlers keyed by step name. A plain function handles the step's DO only.
 * biome-ignore lint/suspicious/noExplicitAny: handlers declare their own input types
 */
export type Handlers = Record<string, HandlerFn<any> | StepHandler<any>>;

export interface QueueRoute {
  step: string;
  kind: AcquiredTask["kind"];
  run: HandlerFn<unknown>;
}

/**
 * Maps every queue the worker polls to the handler that serves it. Throws a TypeError naming the
 * step when a queue cannot be worked out or two handlers claim the same one.
 */
export function routeHandlers(handlers: Handlers, workflow: string | undefined): Map<string, QueueRoute> {
  const routes = new Map<string, QueueRoute>();
  const add = (queue: string, route: QueueRoute) => {
    const taken = routes.get(queue);
    if (taken) {
      throw new TypeError(`handlers.${route.step}: queue '${queue}' is already served by handlers.${taken.step} (${taken.kind})`);
    }
    routes.set(queue, route);
  };
  for (const [step, handler] of Object.entries(handlers)) {
    const spec: StepHandler<unknown> = typeof handler === "function" ? { do: handler } : handler;
    if (typeof spec?.do !== "function") throw new TypeError(`handlers.${step}: expected a function or { do, undo? }`);
    if (spec.undo !== undefined && typeof spec.undo !== "function") throw new TypeError(`handlers.${step}.undo: expected a function`);
    const queue = spec.queue ?? (workflow ? `${workflow}.${step}` : undefined);
    if (!queue) {
      throw new TypeError(
        `handlers.${step}: no queue; give the worker a \`workflow\` (queue '<workflow>.${step}') or the handler a \`queue\``,
      );
    }
    add(queue, { step, kind: "DO", run: spec.do });
    if (spec.undo) add(spec.undoQueue ?? `${queue}.undo`, { step, kind: "UNDO", run: spec.undo });
  }
  if (routes.size === 0) throw new TypeError("handlers: give at least one step handler");
  return routes;
}
