import type { InstancePage, InstanceView, RegisterResult, StartResult } from "@baton/contract";
import { BatonError, MAX_RUN_WAIT_MS } from "@baton/contract";
import { isTransientError, WaitTimeoutError } from "./errors.ts";
import { DEFAULT_RETRY_POLICY, type RetryPolicy, sleep, withRetry } from "./retry-policy.ts";
import { type ConnectOptions, connect } from "./transport/connect.ts";
import type { InstanceState, ListParams, RetryResult, StartParams, StartWaitResult } from "./transport/transport.ts";

/** The states an instance never leaves (DESIGN §3). */
export const TERMINAL_STATES: readonly InstanceState[] = ["COMPLETED", "CANCELLED", "COMPENSATED", "COMPENSATION_FAILED", "FAILED"];

export type ClientOptions = ConnectOptions & {
  /** Retries of idempotent calls (register, start, get, list) on transient failures. */
  retry?: Partial<RetryPolicy>;
};

export interface WaitForOptions {
  /** Give up after this long with a `WaitTimeoutError` (default 60000 ms). */
  timeoutMs?: number;
  /** Time between polls (default 200 ms). */
  intervalMs?: number;
  signal?: AbortSignal;
  /** Sees every instance read while waiting (e.g. to print new events). */
  onPoll?: (instance: InstanceView) => void;
}

/** Manages workflows and instances: everything of the HTTP API except the worker calls. */
export interface Client {
  /** Registers a definition (a no-op when unchanged, else a new version). */
  register(definition: unknown): Promise<RegisterResult>;
  /**
   * Starts a run of the latest version. The start is idempotent by `runId`; without one the client
   * makes one up, so retrying a start whose answer was lost cannot start a second run. With
   * `waitMs` (0 to 60,000) the answer comes when the run has ended, with its output or error, or
   * when the wait runs out, with its state then (compare `state` with TERMINAL_STATES); the server
   * holds no database connection meanwhile. A `waitMs` out of bounds is a VALIDATION_ERROR before
   * anything is started.
   * @example const { state, output } = await client.start("tenantCreation", { input: { tenant: "acme" }, waitMs: 30_000 });
   */
  start(workflow: string, params: StartParams & { waitMs: number }): Promise<StartWaitResult>;
  start(workflow: string, params?: StartParams): Promise<StartResult>;
  get(instanceId: string): Promise<InstanceView>;
  list(params?: ListParams): Promise<InstancePage>;
  pause(instanceId: string): Promise<{ state: InstanceState }>;
  resume(instanceId: string): Promise<{ state: InstanceState }>;
  cancel(instanceId: string): Promise<{ state: InstanceState }>;
  /** Starts compensation by hand; with `fromTaskId`, only that step and what it depends on are undone. */
  compensate(instanceId: string, options?: { fromTaskId?: string }): Promise<{ state: InstanceState }>;
  /** Re-runs a failed step of a FAILED or COMPENSATION_FAILED instance, optionally with new input. */
  retry(instanceId: string, taskId: string, options?: { input?: unknown }): Promise<RetryResult>;
  /**
   * Polls the instance until its state is one of `states` (default: any terminal state) and
   * returns it; throws `WaitTimeoutError` (code WAIT_TIMEOUT) when that takes longer than `timeoutMs`.
   */
  waitFor(instanceId: string, states?: InstanceState | readonly InstanceState[], options?: WaitForOptions): Promise<InstanceView>;
}

/**
 * A client for Baton over HTTP (`url`) or in-process (`engine`). Failures are `BatonError`s
 * carrying the server's `code` (e.g. NOT_FOUND, RUN_ID_CONFLICT, INVALID_STATE).
 * @example
 * const client = createClient({ url: "http://localhost:8080" });
 * const { instanceId } = await client.start("tenantCreation", { runId: "acme", input: { tenant: "acme" } });
 * const done = await client.waitFor(instanceId, ["COMPLETED", "COMPENSATED"], { timeoutMs: 30_000 });
 */
export function createClient(options: ClientOptions): Client {
  const transport = connect(options, "createClient");
  const policy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
  const idempotent = <T>(call: () => Promise<T>) => withRetry(call, policy);
  return {
    register: (definition) => idempotent(() => transport.register(definition)),
    start: (async (workflow: string, params: StartParams = {}) => {
      checkWaitMs(params.waitMs);
      const withRunId = { ...params, runId: params.runId ?? crypto.randomUUID() };
      return idempotent(() => transport.start(workflow, withRunId));
    }) as Client["start"],
    get: (instanceId) => idempotent(() => transport.get(instanceId)),
    list: (params = {}) => idempotent(() => transport.list(params)),
    pause: (instanceId) => transport.pause(instanceId),
    resume: (instanceId) => transport.resume(instanceId),
    cancel: (instanceId) => transport.cancel(instanceId),
    compensate: (instanceId, opts = {}) => transport.compensate(instanceId, opts.fromTaskId),
    retry: (instanceId, taskId, opts = {}) => transport.retry(instanceId, taskId, opts.input),
    async waitFor(instanceId, states = TERMINAL_STATES, opts = {}) {
      const wanted: readonly InstanceState[] = typeof states === "string" ? [states] : states;
      const timeoutMs = opts.timeoutMs ?? 60_000;
      const intervalMs = opts.intervalMs ?? 200;
      const deadline = Date.now() + timeoutMs;
      const timeout = AbortSignal.timeout(timeoutMs);
      const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
      let lastState: InstanceState | null = null;
      for (;;) {
        try {
          const instance = await transport.get(instanceId);
          lastState = instance.state;
          opts.onPoll?.(instance);
          if (wanted.includes(instance.state)) return instance;
        } catch (error) {
          // A blip while waiting is not the answer; anything else (NOT_FOUND, ...) is.
          if (!isTransientError(error)) throw error;
        }
        if (opts.signal?.aborted) throw opts.signal.reason;
        if (Date.now() >= deadline) throw new WaitTimeoutError(instanceId, wanted, lastState, timeoutMs);
        await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())), signal);
      }
    },
  };
}

/** Refuses a `waitMs` the server would refuse, before the start is sent (in process it would start first). */
function checkWaitMs(waitMs: number | undefined): void {
  if (waitMs === undefined || (Number.isInteger(waitMs) && waitMs >= 0 && waitMs <= MAX_RUN_WAIT_MS)) return;
  throw new BatonError("VALIDATION_ERROR", `waitMs: a whole number of milliseconds from 0 to ${MAX_RUN_WAIT_MS}; got ${waitMs}`, {
    fields: [{ field: "waitMs", message: `0 to ${MAX_RUN_WAIT_MS}` }],
  });
}
