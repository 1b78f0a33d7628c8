import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { chmod, chown, mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";

/*
 * `pnpm image:check`: what can be checked of the Docker image on a machine without a Docker engine.
 *   1. the Dockerfile is linted (dockerfile-utils) and docker-compose.yml validated against the
 *      Compose schema (dclint, errors only);
 *   2. the image's /app is made the way its build stage makes it (`pnpm build`, then
 *      `pnpm --filter @baton/api deploy --prod --legacy`);
 *   3. the runtime stage's CMD runs in that /app with the stage's ENV, WORKDIR and an unprivileged
 *      user (the image's `node` user is `nobody` here), on the embedded database in an empty data
 *      directory, until the HEALTHCHECK command (run the same way) passes; then SIGTERM must end it
 *      with exit 0. Not run: `docker build` itself, the node:20-bookworm-slim base, compose up.
 */
const ROOT = fileURLToPath(new URL("../", import.meta.url));
const dockerfile = await readFile(join(ROOT, "Dockerfile"), "utf8");
const runtime = runtimeStage(dockerfile);
const work = await mkdtemp(join(tmpdir(), "baton-image-"));
let server: ChildProcess | undefined;
try {
  step("lint the Dockerfile (dockerfile-utils)", () => run("pnpm", ["exec", "dockerfile-utils", "lint", "Dockerfile"]));
  step("validate docker-compose.yml (dclint: the Compose schema and its error rules)", () =>
    run("pnpm", ["exec", "dclint", "--quiet", "docker-compose.yml"]),
  );
  const app = join(work, "app");
  step("build /app as the build stage does", () => {
    run("pnpm", ["-s", "build"]);
    run("pnpm", ["--filter", "@baton/api", "deploy", "--prod", "--legacy", app]);
  });
  // mkdtemp makes 0700: the unprivileged user must reach /app (read) and /data (write).
  await chmod(work, 0o755);
  const data = join(work, "data");
  await mkdir(data);
  const user = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
  if (user.uid !== undefined) await chown(data, user.uid, user.gid);
  const port = String(20_000 + Math.floor(Math.random() * 20_000));
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", ...runtime.env, PORT: port, BATON_DATA_DIR: data };
  const cwd = join(app, runtime.workdir === "/app" ? "" : runtime.workdir);
  const [command = "node", ...args] = runtime.cmd;
  console.log(
    `\n> ${runtime.cmd.join(" ")}  (cwd /app, user ${user.uid === undefined ? "current (not root)" : "nobody"}, ENV of the image)`,
  );
  const started = Date.now();
  const child = spawn(command, args, { cwd, env, ...user, stdio: ["ignore", "inherit", "inherit"] });
  server = child;
  const healthy = await waitHealthy(runtime.healthcheck, { cwd, env, ...user }, child, 120_000);
  if (!healthy) throw new Error("the HEALTHCHECK command never passed");
  console.log(`HEALTHCHECK passed ${Date.now() - started} ms after start (first start: the embedded database was created)`);
  const children = await readFile(`/proc/${child.pid}/task/${child.pid}/children`, "utf8");
  if (children.trim() !== "") throw new Error(`the server runs child processes: ${children}`);
  const stopping = Date.now();
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const [code] = await exited;
  server = undefined;
  if (code !== 0) throw new Error(`SIGTERM ended the server with exit code ${code}`);
  console.log(`SIGTERM: exit 0 after ${Date.now() - stopping} ms`);
  console.log("\nimage check passed (not run here: docker build, the base image, docker compose up)");
} finally {
  server?.kill("SIGKILL");
  await rm(work, { recursive: true, force: true });
  // pnpm's legacy deploy can compute its virtual store relative to the wrong folder (seen with the
  // repository itself under /tmp) and leave it in packages/; it is ours to remove.
  await rm(join(ROOT, "packages", basename(work)), { recursive: true, force: true });
}

interface RuntimeStage {
  env: Record<string, string>;
  workdir: string;
  cmd: string[];
  healthcheck: string[];
}

/** The last stage's ENV, WORKDIR, CMD and HEALTHCHECK CMD (exec form), as Docker would read them. */
function runtimeStage(text: string): RuntimeStage {
  const lines = text.replace(/\\\n\s*/g, " ").split("\n");
  const stage = lines.slice(lines.findLastIndex((l) => /^FROM\s/i.test(l)));
  const env: Record<string, string> = {};
  for (const line of stage.filter((l) => /^ENV\s/i.test(l))) {
    for (const [, key, value] of line.slice(4).matchAll(/([A-Z_][A-Z0-9_]*)=("[^"]*"|\S+)/gi))
      env[key as string] = (value as string).replace(/^"|"$/g, "");
  }
  const last = (instruction: RegExp) => stage.filter((l) => instruction.test(l)).at(-1) ?? "";
  const workdir = last(/^WORKDIR\s/i)
    .replace(/^WORKDIR\s+/i, "")
    .trim();
  const cmd = JSON.parse(last(/^CMD\s/i).replace(/^CMD\s+/i, "")) as string[];
  const healthcheck = JSON.parse(last(/^HEALTHCHECK\s/i).replace(/^.*?\sCMD\s+/i, "")) as string[];
  return { env, workdir, cmd, healthcheck };
}

async function waitHealthy(
  check: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; uid?: number; gid?: number },
  server: ChildProcess,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  const [command = "node", ...args] = check;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`the server exited with code ${server.exitCode}`);
    if (spawnSync(command, args, { ...options, timeout: 3000 }).status === 0) return true;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return false;
}

function step(title: string, action: () => void): void {
  console.log(`\n== ${title}`);
  action();
}

function run(command: string, args: string[]): void {
  // The image's tools, without the workspace's source condition.
  const { NODE_OPTIONS: _source, ...env } = process.env;
  execFileSync(command, args, { cwd: ROOT, env, stdio: "inherit" });
}
