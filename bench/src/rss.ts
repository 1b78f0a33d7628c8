import { readFileSync, writeFileSync } from "node:fs";

/** Peak resident set size (VmHWM) of a process in MB, or null where /proc has no such field. */
export function peakRssMb(pid: number | "self" = "self"): number | null {
  try {
    const match = /^VmHWM:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/**
 * Resets this process's peak RSS to its current RSS (Linux: writing 5 to clear_refs), so a later
 * peakRssMb() covers only what ran since. False when the kernel does not allow it.
 */
export function resetPeakRss(): boolean {
  try {
    writeFileSync("/proc/self/clear_refs", "5");
    return true;
  } catch {
    return false;
  }
}
