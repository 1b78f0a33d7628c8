/*
 * One circuit breaker per host (host:port) that HTTP steps call, in this process. It opens after
 * `failureThreshold` failures in a row (5xx, 408, 429, timeouts, connection errors), so a service
 * that is down is not hammered: while open, calls are refused at once. After `coolDownMs` it is
 * half-open: one trial call goes out, and its result closes the breaker or opens it again.
 */

export type CircuitState = "closed" | "open" | "half-open";

export interface BreakerSettings {
  /** Failures in a row that open a host's breaker. */
  failureThreshold: number;
  /** How long an open breaker refuses calls before it lets one trial call through. */
  coolDownMs: number;
}

export const DEFAULT_BREAKER: BreakerSettings = { failureThreshold: 5, coolDownMs: 30_000 };

/** How a call let through went, for the breaker: the service failed, answered, or it tells nothing (aborted by us). */
export type CallVerdict = "success" | "failure" | "neutral";

/** A call the breaker let through; report how it went exactly once. */
export interface CircuitPermit {
  readonly trial: boolean;
  done(verdict: CallVerdict): void;
}

/** Why a call was not let through. */
export interface CircuitRefusal {
  state: "open" | "half-open";
  /** How long until a trial call may go out (0 while another trial call is in flight). */
  retryInMs: number;
}

export interface CircuitSnapshot {
  host: string;
  state: CircuitState;
  consecutiveFailures: number;
}

interface HostCircuit {
  failures: number;
  /** When the breaker last opened; null while closed. */
  openedAt: number | null;
  /** A half-open trial call is in flight. */
  trialInFlight: boolean;
}

export class CircuitBreakers {
  private readonly hosts = new Map<string, HostCircuit>();

  constructor(
    private readonly settings: BreakerSettings = DEFAULT_BREAKER,
    /** Called when a host's breaker opens or closes (for the log). */
    private readonly onChange: (host: string, state: CircuitState, failures: number) => void = () => {},
  ) {}

  /** Lets a call to `host` through (a permit), or refuses it while the breaker is open. */
  admit(host: string): CircuitPermit | CircuitRefusal {
    const circuit = this.circuit(host);
    const state = this.stateOf(circuit);
    if (state === "open") {
      return { state, retryInMs: Math.max(0, (circuit.openedAt ?? 0) + this.settings.coolDownMs - Date.now()) };
    }
    if (state === "half-open") {
      if (circuit.trialInFlight) return { state, retryInMs: 0 };
      circuit.trialInFlight = true;
      return this.permit(host, circuit, true);
    }
    return this.permit(host, circuit, false);
  }

  state(host: string): CircuitSnapshot {
    const circuit = this.hosts.get(host);
    return { host, state: circuit ? this.stateOf(circuit) : "closed", consecutiveFailures: circuit?.failures ?? 0 };
  }

  /** Every host called so far, with its breaker's state. */
  snapshot(): CircuitSnapshot[] {
    return [...this.hosts.keys()].sort().map((host) => this.state(host));
  }

  private circuit(host: string): HostCircuit {
    let circuit = this.hosts.get(host);
    if (!circuit) {
      circuit = { failures: 0, openedAt: null, trialInFlight: false };
      this.hosts.set(host, circuit);
    }
    return circuit;
  }

  private stateOf(circuit: HostCircuit): CircuitState {
    if (circuit.openedAt === null) return "closed";
    return Date.now() - circuit.openedAt < this.settings.coolDownMs ? "open" : "half-open";
  }

  private permit(host: string, circuit: HostCircuit, trial: boolean): CircuitPermit {
    let reported = false;
    return {
      trial,
      done: (verdict) => {
        if (reported) return;
        reported = true;
        if (trial) circuit.trialInFlight = false;
        if (verdict === "success") {
          const wasOpen = circuit.openedAt !== null;
          circuit.failures = 0;
          circuit.openedAt = null;
          if (wasOpen) this.onChange(host, "closed", 0);
        } else if (verdict === "failure") {
          circuit.failures++;
          // A failed trial opens the breaker again for a full cool-down.
          if (trial || (circuit.openedAt === null && circuit.failures >= this.settings.failureThreshold)) {
            circuit.openedAt = Date.now();
            this.onChange(host, "open", circuit.failures);
          }
        }
      },
    };
  }
}
