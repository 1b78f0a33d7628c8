/** The old services' health checks: probes, readable without a key like /healthz. */
export const COMPAT_HEALTH_PATHS = ["/api/orchestration/health", "/health"] as const;

// They report what /healthz reports beside their old `status`.
export { type HealthFacts, HealthFactsSchema, healthFacts } from "../../health.ts";
