/**
 * Profiles Baton's in-process drain alone (no peers): one fresh database, a backlog loaded with
 * startMany, then engine loops drain it. Prints tasks/s, the engine process's CPU per task and,
 * when Postgres preloads pg_stat_statements, the drain's statements by total time; writes a CPU
 * profile of the drain alone (not the load) to `drain.cpuprofile` for Chrome DevTools.
 *
 *   pnpm bench:profile [tasks] [loops] [batch]
 */
import { readFile, writeFile } from "node:fs/promises";
import { Session } from "node:inspector/promises";
import { postgresCpuMicros } from "./cpu.ts";
import { analyze, PgServer } from "./database.ts";
import { drainWithLoops, ONE_STEP, openBaton, startRuns } from "./systems/baton.ts";

const [tasks = 20_000, loops = 10, batch = 50] = process.argv.slice(2).map(Number);
const server = new PgServer(process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres");

await server.withFreshDatabase("profile", async (url) => {
  const engine = await openBaton({ kind: "postgres", url, pool: Math.min(loops + 1, 20) });
  try {
    await engine.workflows.registerWorkflow(ONE_STEP);
    await startRuns(engine, ONE_STEP.name, tasks, 1000);
    await analyze(url);
    const statements = await server
      .query("SELECT count(*)::int AS n FROM pg_extension WHERE extname = 'pg_stat_statements'")
      .catch(() => []);
    const tracked = (statements[0] as { n?: number } | undefined)?.n === 1;
    if (tracked) await server.query("SELECT pg_stat_statements_reset()");
    const inspector = new Session();
    inspector.connect();
    await inspector.post("Profiler.enable");
    // 200 µs between samples (the default is 1 ms): a drain of a few seconds then gives a usable profile.
    await inspector.post("Profiler.setSamplingInterval", { interval: 200 });
    await inspector.post("Profiler.start");
    const ioBefore = await bytesMoved();
    const postgresBefore = postgresCpuMicros();
    const cpuBefore = process.cpuUsage();
    const rate = await drainWithLoops(engine, tasks, loops, batch);
    const cpu = process.cpuUsage(cpuBefore);
    const io = await bytesMoved();
    const postgresCpu = postgresCpuMicros() - postgresBefore;
    const { profile } = await inspector.post("Profiler.stop");
    await writeFile("drain.cpuprofile", JSON.stringify(profile));
    inspector.disconnect();
    console.log(
      `drain: ${Math.round(rate)} tasks/s; engine process: ${Math.round((cpu.user + cpu.system) / tasks)} µs CPU (${Math.round(cpu.system / tasks)} in the kernel), ` +
        `${Math.round((io.written - ioBefore.written) / tasks)} bytes sent and ${Math.round((io.read - ioBefore.read) / tasks)} received per task` +
        (postgresCpu > 0 ? `; Postgres processes on this machine: ${Math.round(postgresCpu / tasks)} µs CPU per task` : ""),
    );
    if (tracked) {
      const top = await server.query(
        `SELECT calls, round(total_exec_time::numeric, 1) AS ms, round((total_plan_time * 1000 / $1)::numeric, 1) AS plan_us_per_task, round((total_exec_time * 1000 / $1)::numeric, 1) AS us_per_task, left(regexp_replace(query, '\\s+', ' ', 'g'), 90) AS query
         FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) OR true
         ORDER BY total_exec_time DESC LIMIT 12`,
        [tasks],
      );
      console.table(top);
    }
  } finally {
    await engine.close();
  }
});

/** Bytes this process wrote and read through system calls (sockets included), from /proc. */
async function bytesMoved(): Promise<{ written: number; read: number }> {
  const text = await readFile("/proc/self/io", "utf8").catch(() => "");
  const field = (name: string) => Number(new RegExp(`^${name}: (\\d+)`, "m").exec(text)?.[1] ?? 0);
  return { written: field("wchar"), read: field("rchar") };
}
