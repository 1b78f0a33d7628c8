import { spawnSync } from "node:child_process";
import { mkdir, rmdir, stat } from "node:fs/promises";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = fileURLToPath(new URL("../", import.meta.url));
const LOCK = new URL("../node_modules/.cache/baton-build.lock", import.meta.url);

/**
 * Runs `pnpm build` (tsc -b is incremental: seconds when nothing changed) so tests of the compiled
 * packages need no build beforehand and never run a stale one. Test files of both database projects
 * run at once, so a lock directory lets one build while the others wait. Other packages' type errors
 * are the typecheck's to report: the build still emits, and a missing entry is what fails here.
 */
export async function ensureBuilt(): Promise<void> {
  await mkdir(new URL("./", LOCK), { recursive: true });
  const deadline = Date.now() + 300_000;
  for (;;) {
    try {
      await mkdir(LOCK);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      // A lock left by a killed run is older than any build takes.
      const age = Date.now() - (await stat(LOCK).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs;
      if (age > 300_000) await rmdir(LOCK).catch(() => {});
      if (Date.now() > deadline) throw new Error("waited 5 minutes for another test's build");
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
  try {
    const build = spawnSync("pnpm", ["-s", "build"], { cwd: REPO_ROOT, encoding: "utf8", timeout: 280_000 });
    const entry = await stat(new URL("../packages/api/dist/main.js", import.meta.url)).catch(() => null);
    if (!entry) throw new Error(`pnpm build made no packages/api/dist/main.js (exit ${build.status}):\n${build.stdout}${build.stderr}`);
  } finally {
    await rmdir(LOCK).catch(() => {});
  }
}

/** The environment of a production process: this one's, less the source condition the workspace adds. */
export function productionEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const { NODE_OPTIONS: _sourceCondition, ...rest } = process.env;
  return { ...rest, ...env };
}
