export { type BreakerSettings, CircuitBreakers, type CircuitState, DEFAULT_BREAKER } from "./circuit-breakers.ts";
export { HOSTS_VARIABLE, HostPolicy, HostRefusedError, specialAddressKind } from "./host-policy.ts";
export { type HttpStepRunner, type HttpStepRunnerOptions, startHttpStepRunner } from "./step-runner.ts";
