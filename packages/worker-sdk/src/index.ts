export type { AcquiredTask, EventView, InstancePage, InstanceSummary, InstanceView, StartResult, TaskView } from "@baton/contract";
export { type Client, type ClientOptions, createClient, TERMINAL_STATES, type WaitForOptions } from "./client.ts";
export {
  BatonError,
  type ErrorCode,
  isBatonError,
  isLeaseConflict,
  isTransientError,
  LEASE_ERROR_CODES,
  NonRetryableError,
  RetryLaterError,
  WaitTimeoutError,
} from "./errors.ts";
export type { HandlerContext, HandlerFn, Handlers, StepHandler } from "./handler.ts";
export {
  createKafkaWorker,
  type KafkaHandlerContext,
  type KafkaHandlerFn,
  type KafkaWorker,
  type KafkaWorkerOptions,
} from "./kafka-worker.ts";
export { consoleLogger, type Logger, silentLogger } from "./logger.ts";
export { DEFAULT_RETRY_POLICY, type RetryPolicy } from "./retry-policy.ts";
export { WorkerStoppedError } from "./task-run.ts";
export { timelineLine } from "./timeline.ts";
export type { ConnectOptions } from "./transport/connect.ts";
export { createHttpTransport, type HttpTransportOptions } from "./transport/http.ts";
export { createInProcessTransport, type InProcessEngine } from "./transport/in-process.ts";
export type {
  AcquireParams,
  CompleteReport,
  FailReport,
  InstanceState,
  ItemAnswer,
  LeaseRef,
  ListParams,
  RetryResult,
  StartParams,
  StartWaitResult,
  Transport,
} from "./transport/transport.ts";
export { createWorker, type StopOptions, type Worker, type WorkerOptions } from "./worker.ts";
export type { WorkerEvent } from "./worker-events.ts";
