import { type ChildProcess, type StdioOptions, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/**
 * Node options for the processes the bench starts, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to
 * profile the HTTP server (Node refuses --cpu-prof in NODE_OPTIONS).
 */
const CHILD_NODE_ARGS = (process.env.BENCH_CHILD_NODE_ARGS ?? "").split(" ").filter(Boolean);

/**
 * Starts `node --import tsx <script>` from the repository root (where tsx is installed), the way
 * `pnpm start` runs TypeScript: a separate process whose memory is its own. Workspace packages
 * resolve to their source, as in the bench itself, never to a dist/ an earlier build left behind.
 * @param script a path relative to the repository root
 */
export function spawnTypeScript(script: string, args: string[], env: Record<string, string>, stdio: StdioOptions): ChildProcess {
  return spawnNode(["--conditions=@baton/source", "--import", "tsx", script, ...args], env, stdio);
}

/** Starts `node <args>` from the repository root, e.g. a bundled JavaScript file. */
export function spawnNode(args: string[], env: Record<string, string>, stdio: StdioOptions): ChildProcess {
  const child = spawn(process.execPath, [...CHILD_NODE_ARGS, ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio });
  running.add(child);
  child.once("exit", () => running.delete(child));
  return child;
}

const running = new Set<ChildProcess>();

/** Kills every child still running (an interrupted bench must not leave servers behind). */
export function killChildren(): void {
  for (const child of running) child.kill("SIGKILL");
}
