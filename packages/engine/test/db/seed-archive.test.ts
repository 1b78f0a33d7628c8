import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { unpackSeedArchive } from "../../src/db/seed-archive.ts";

// A ustar archive as PGlite's dumpDataDir writes one: a 512-byte header per entry (name, octal
// size, type flag, "ustar" magic), the data padded to 512 bytes, two zero blocks at the end.
function tarEntry(name: string, type: "0" | "5" | "2", data = Buffer.alloc(0), prefix = ""): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, "utf8");
  header.write(data.length.toString(8).padStart(11, "0"), 124, "ascii");
  header.write(type, 156, "ascii");
  header.write("ustar\u000000", 257, "ascii");
  header.write(prefix, 345, "utf8");
  return Buffer.concat([header, data, Buffer.alloc((512 - (data.length % 512)) % 512)]);
}

const archiveOf = (...entries: Buffer[]) => gzipSync(Buffer.concat([...entries, Buffer.alloc(1024)]));

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "baton-seed-test-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("unpacking the build's seed database", () => {
  test("writes every file and directory under the data directory, long names included", async () => {
    const deepName = `${"d".repeat(120)}/PG_VERSION`;
    const archive = join(dir, "seed.tar.gz");
    await writeFile(
      archive,
      archiveOf(
        tarEntry("/base", "5"),
        tarEntry("/base/1/2619", "0", Buffer.alloc(8192 + 3, 7)),
        tarEntry("/PG_VERSION", "0", Buffer.from("15\n")),
        tarEntry("PG_VERSION", "0", Buffer.from("deep\n"), deepName.slice(0, deepName.lastIndexOf("/"))),
      ),
    );
    const dataDir = join(dir, "data");
    await unpackSeedArchive(archive, dataDir);
    expect(await readFile(join(dataDir, "PG_VERSION"), "utf8")).toBe("15\n");
    expect((await readFile(join(dataDir, "base/1/2619"))).equals(Buffer.alloc(8192 + 3, 7))).toBe(true);
    expect(await readFile(join(dataDir, deepName), "utf8")).toBe("deep\n");
  });

  test("refuses an entry that would land outside the data directory, and one that is not a file or directory", async () => {
    const escaping = join(dir, "escaping.tar.gz");
    await writeFile(escaping, archiveOf(tarEntry("../outside", "0", Buffer.from("x"))));
    await expect(unpackSeedArchive(escaping, join(dir, "data"))).rejects.toThrow(/outside the data directory: \.\.\/outside/);
    expect(existsSync(join(dir, "outside"))).toBe(false);

    const linking = join(dir, "linking.tar.gz");
    await writeFile(linking, archiveOf(tarEntry("/pg_wal", "2")));
    await expect(unpackSeedArchive(linking, join(dir, "data2"))).rejects.toThrow(/type '2' \(\/pg_wal\)/);
  });

  test("an archive cut short leaves no PG_VERSION, so the next start unpacks again", async () => {
    const whole = Buffer.concat([tarEntry("/PG_VERSION", "0", Buffer.from("15\n")), tarEntry("/base/1/2619", "0", Buffer.alloc(4096, 1))]);
    const cut = join(dir, "cut.tar.gz");
    await writeFile(cut, gzipSync(whole.subarray(0, 512 + 512 + 512 + 1000)));
    const dataDir = join(dir, "data");
    await expect(unpackSeedArchive(cut, dataDir)).rejects.toThrow(/ends before its last entry/);
    expect(existsSync(join(dataDir, "PG_VERSION"))).toBe(false);
  });
});
