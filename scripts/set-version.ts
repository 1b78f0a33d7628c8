import { readdir, readFile, writeFile } from "node:fs/promises";

/*
 * `pnpm release:version <x.y.z>`: sets Baton's version, the root package.json's, in every package of
 * the workspace (they are released together). The server's /healthz and `baton --version` read it
 * from @baton/api's package.json. Add the version's section to CHANGELOG.md in the same commit.
 */
const version = process.argv[2];
if (!version || !/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(version)) {
  console.error("usage: pnpm release:version <major.minor.patch[-prerelease]>");
  process.exit(2);
}

const root = new URL("../", import.meta.url);
const folders = [".", "bench", "chaos", ...(await children("packages")), ...(await children("examples"))];
for (const folder of folders) {
  const file = new URL(`${folder}/package.json`, root);
  const text = await readFile(file, "utf8");
  // Only the version line changes, so the rest of each file stays as written.
  const updated = text.replace(/^(\s*"version":\s*)"[^"]*"/m, `$1"${version}"`);
  if (updated === text && !text.includes(`"version": "${version}"`)) throw new Error(`${folder}/package.json has no version field`);
  await writeFile(file, updated);
}
console.log(`version ${version} set in ${folders.length} package.json files; now add its section to CHANGELOG.md`);

async function children(folder: string): Promise<string[]> {
  const entries = await readdir(new URL(folder, root), { withFileTypes: true });
  return entries.filter((e) => e.isDirectory()).map((e) => `${folder}/${e.name}`);
}
