export * from "./evidence.ts";
export type { Violation } from "./invariants.ts";
export { type CheckOptions, type CheckResult, printSummary, runCheck } from "./run-check.ts";
