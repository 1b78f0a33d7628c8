import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { REPO_ROOT } from "../../../../test-support/build.ts";

// One version for the workspace, set by `pnpm release:version` from the root package.json; the
// packages a service installs carry what npm needs to install and to describe them.
const readJson = async (path: string) => JSON.parse(await readFile(join(REPO_ROOT, path), "utf8"));
const root = await readJson("package.json");
// A folder without a package.json is not a workspace package (e.g. what a tool left behind).
const packagesIn = async (dir: string) =>
  (await readdir(join(REPO_ROOT, dir))).map((p) => `${dir}/${p}`).filter((p) => existsSync(join(REPO_ROOT, p, "package.json")));
const folders = ["bench", "chaos", ...(await packagesIn("packages")), ...(await packagesIn("examples"))];
const PUBLISHED = ["packages/contract", "packages/engine", "packages/worker-sdk", "packages/api"];

describe("package metadata", () => {
  test("every package of the workspace carries the root's version, and CHANGELOG.md has its section", async () => {
    for (const folder of folders)
      expect({ folder, version: (await readJson(`${folder}/package.json`)).version }).toEqual({ folder, version: root.version });
    const changelog = await readFile(join(REPO_ROOT, "CHANGELOG.md"), "utf8");
    expect(changelog).toMatch(new RegExp(`^## ${root.version.replaceAll(".", "\\.")}\\b`, "m"));
  });

  test.each(PUBLISHED)("%s can be packed: license, repository, engines, files, types, exports of the build", async (folder) => {
    const pkg = await readJson(`${folder}/package.json`);
    expect(pkg.private).toBeUndefined();
    expect(pkg).toMatchObject({
      license: expect.any(String),
      repository: { type: "git", directory: folder },
      engines: { node: root.engines.node },
      type: "module",
      main: "./dist/index.js",
      types: "./dist/index.d.ts",
      files: expect.arrayContaining(["dist"]),
    });
    for (const [subpath, target] of Object.entries(pkg.exports as Record<string, unknown>)) {
      if (subpath === "./package.json") continue;
      // The build for every consumer; the TypeScript source only under the workspace's own condition.
      expect(target).toMatchObject({
        types: expect.stringMatching(/^\.\/dist\/.*\.d\.ts$/),
        default: expect.stringMatching(/^\.\/dist\/.*\.js$/),
      });
      expect(Object.keys(target as object)[0]).toBe("@baton/source");
    }
  });
});
