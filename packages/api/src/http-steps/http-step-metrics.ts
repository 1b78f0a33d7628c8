import { Counter, Gauge, type Registry } from "prom-client";
import type { CircuitBreakers, CircuitState } from "./circuit-breakers.ts";
import type { CallOutcome } from "./step-call.ts";

const STATE_VALUE: Record<CircuitState, number> = { closed: 0, "half-open": 1, open: 2 };

/**
 * Registers the HTTP steps' metrics: each host's circuit breaker (read at scrape time) and the
 * calls by host and outcome. Answers the function that counts a call.
 */
export function registerHttpStepMetrics(registry: Registry, breakers: CircuitBreakers): (host: string, outcome: CallOutcome) => void {
  new Gauge({
    name: "baton_http_step_circuit_state",
    help: "Circuit breaker of each host HTTP steps call, in this process: 0 closed, 1 half-open, 2 open",
    labelNames: ["host"] as const,
    registers: [registry],
    collect() {
      for (const { host, state } of breakers.snapshot()) this.set({ host }, STATE_VALUE[state]);
    },
  });
  new Gauge({
    name: "baton_http_step_circuit_failures",
    help: "Failures in a row of each host HTTP steps call (the breaker opens at BATON_HTTP_BREAKER_FAILURES)",
    labelNames: ["host"] as const,
    registers: [registry],
    collect() {
      for (const { host, consecutiveFailures } of breakers.snapshot()) this.set({ host }, consecutiveFailures);
    },
  });
  const calls = new Counter({
    name: "baton_http_step_calls_total",
    help:
      "Attempts of HTTP steps by host and outcome: success, client_error, server_error, timeout, connection_error, " +
      "short_circuited (breaker open, no request), refused (host not allowed), invalid (redirect, body too large), aborted",
    labelNames: ["host", "outcome"] as const,
    registers: [registry],
  });
  return (host, outcome) => calls.inc({ host, outcome });
}
