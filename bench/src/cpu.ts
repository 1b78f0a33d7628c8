import { readdirSync, readFileSync } from "node:fs";

/*
 * Where a scenario's CPU went, read from /proc: this process, a server process, and every process
 * named `postgres` on this machine (with a local database, its half of the cost). On a 2-core
 * machine a latency target is a CPU budget, so the latency rows say what each workflow cost.
 */

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** CPU time (µs) a process has used so far, or 0 where /proc cannot tell. */
export function processCpuMicros(pid: number): number {
  return ticksOf(`/proc/${pid}/stat`, () => true);
}

/** CPU time (µs) used so far by the processes named `postgres` on this machine (0 off Linux). */
export function postgresCpuMicros(): number {
  let total = 0;
  let pids: string[] = [];
  try {
    pids = readdirSync("/proc").filter((name) => /^\d+$/.test(name));
  } catch {
    return 0;
  }
  for (const pid of pids) total += ticksOf(`/proc/${pid}/stat`, (command) => command.startsWith("postgres"));
  return total;
}

function ticksOf(path: string, wanted: (command: string) => boolean): number {
  let stat: string;
  try {
    stat = readFileSync(path, "utf8");
  } catch {
    return 0; // the process ended, or there is no /proc
  }
  // The command name sits in parentheses; utime and stime are the 12th and 13th fields after it.
  const close = stat.lastIndexOf(")");
  if (!wanted(stat.slice(stat.indexOf("(") + 1, close))) return 0;
  const fields = stat.slice(close + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1_000_000) / TICKS_PER_SECOND;
}

/**
 * Starts counting the CPU of this process, of `serverPid` when given, and of Postgres; `perItem`
 * then says what each of `items` cost, in ms: "server 4.0 + bench 1.7 + Postgres 2.1 ms CPU per run".
 */
export function cpuMeter(serverPid?: number): { perItem(items: number, noun: string): string } {
  const bench = process.cpuUsage();
  const server = serverPid === undefined ? 0 : processCpuMicros(serverPid);
  const postgres = postgresCpuMicros();
  return {
    perItem(items, noun) {
      const used = process.cpuUsage(bench);
      const parts = [
        ...(serverPid === undefined ? [] : [`server ${ms((processCpuMicros(serverPid) - server) / items)}`]),
        `bench ${ms((used.user + used.system) / items)}`,
        `Postgres ${ms((postgresCpuMicros() - postgres) / items)}`,
      ];
      return `CPU per ${noun}: ${parts.join(" + ")} ms`;
    },
  };
}

const ms = (micros: number) => (micros / 1000).toFixed(2);
