import os from "node:os";
import type { PgServer } from "./database.ts";
import { GRAPHILE_WORKER_VERSION } from "./systems/graphile.ts";
import { PG_BOSS_VERSION } from "./systems/pgboss.ts";

const SETTINGS = ["shared_buffers", "synchronous_commit", "fsync", "max_connections"];

/** What a reader needs to judge a run: the machine, the database server, the versions, the command. */
export async function describeRun(server: PgServer, command: string): Promise<string[]> {
  const cpus = os.cpus();
  const [version] = await server.query<{ server_version: string }>("SHOW server_version");
  const settings = await server.query<{ name: string; setting: string; unit: string | null }>(
    "SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1) ORDER BY name",
    [SETTINGS],
  );
  const shown = settings.map((s) => `${s.name}=${showSetting(s.setting, s.unit)}`).join(", ");
  const target = new URL(server.url);
  return [
    `command:  ${command}`,
    `date:     ${new Date().toISOString()}`,
    `machine:  ${cpus.length} CPU × ${cpus[0]?.model.trim() ?? "unknown"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, ${os.type()} ${os.release()}`,
    `node:     ${process.version}`,
    `postgres: ${version?.server_version ?? "?"} at ${target.hostname}:${target.port || 5432}; ${shown}`,
    `peers:    graphile-worker ${GRAPHILE_WORKER_VERSION}, pg-boss ${PG_BOSS_VERSION}`,
  ];
}

/** pg_settings gives shared_buffers in 8 kB pages. */
function showSetting(setting: string, unit: string | null): string {
  if (unit === "8kB") return `${Math.round((Number(setting) * 8) / 1024)}MB`;
  return unit ? `${setting}${unit}` : setting;
}
