import { readFileSync } from "node:fs";

/** Peak resident set size (VmHWM) of a process in MB, or null where /proc has no such field. */
export function peakRssMb(pid: number | "self" = "self"): number | null {
  try {
    const match = /^VmHWM:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}
