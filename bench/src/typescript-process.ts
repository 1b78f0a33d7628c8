import { type ChildProcess, type StdioOptions, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/**
 * Starts `node --import tsx <script>` from the repository root (where tsx is installed), the way
 * `pnpm start` runs TypeScript: a separate process whose memory is its own.
 * @param script a path relative to the repository root
 */
export function spawnTypeScript(script: string, args: string[], env: Record<string, string>, stdio: StdioOptions): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", script, ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio });
}
