export * from "@baton/contract";
export { AccessCoordinator, type ApiKeyView, type NewApiKey } from "./coordinators/access-coordinator.ts";
export { createEngine, type Engine, type EngineOptions } from "./coordinators/engine.ts";
export type { EventsPublisher, EventsRelay, EventsRelayOptions, RelayLogger } from "./coordinators/events-relay.ts";
export { InstanceEndWaiter, MAX_END_WAITERS, type WaitForEndOptions } from "./coordinators/instance-end-waiter.ts";
export { type PassLogger, type PeriodicPass, startPeriodicPass } from "./coordinators/periodic-pass.ts";
export {
  type RegisterServiceParams,
  type Registrant,
  type RegistrationListParams,
  ServiceRegistry,
  type StepRef,
  type StepServing,
} from "./coordinators/service-registry.ts";
export { type LeaseWrite, MAX_ACQUIRE, type OutcomeReport, TaskCoordinator, type TaskFinished } from "./coordinators/task-coordinator.ts";
export { TaskDispatcher, type WaitingAcquire } from "./coordinators/task-dispatcher.ts";
export { type NamespaceScope, WorkerCoordinator } from "./coordinators/worker-coordinator.ts";
export {
  type ListParams,
  type Requester,
  type StartManyParams,
  type StartParams,
  WorkflowCoordinator,
} from "./coordinators/workflow-coordinator.ts";
export type { Database, DatabaseConfig } from "./db/database.ts";
export type { DatabaseProbeFailure } from "./db/database-probe.ts";
export { migrateDatabase } from "./db/migrate.ts";
// What the coordinators answer with; the store's functions stay inside (see internal.ts).
export type { DefinitionRow } from "./store/definitions.ts";
export type { RelayEventRow } from "./store/events-relay.ts";
export type { InstanceStanding } from "./store/instances.ts";
export type { LeaseHolderRow, QueueLoadRow } from "./store/queue-load.ts";
export type { WorkerPollRow } from "./store/workers.ts";
