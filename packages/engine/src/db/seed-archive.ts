import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, normalize, sep } from "node:path";
import { gunzipSync } from "node:zlib";

const BLOCK = 512;

/**
 * Unpacks a gzipped tar of a PGlite data directory (what `dumpDataDir("gzip")` writes: ustar
 * entries, regular files and directories only) into `dataDir` on disk. PGlite's own `loadDataDir`
 * would do the same, but only inside a started PGlite, which costs a second start of the WASM
 * Postgres and keeps its memory; written straight to disk, one start opens the database.
 */
export function unpackSeedArchive(archive: string, dataDir: string): void {
  const tar = gunzipSync(readFileSync(archive));
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  for (let at = 0; at + BLOCK <= tar.length; ) {
    const header = tar.subarray(at, at + BLOCK);
    if (header.every((byte) => byte === 0)) break; // the archive's end
    const name = entryName(header);
    const size = Number.parseInt(field(header, 124, 12) || "0", 8);
    const type = String.fromCharCode(header[156] ?? 0);
    const target = insideDataDir(dataDir, name);
    at += BLOCK;
    if (type === "5") {
      mkdirSync(target, { recursive: true, mode: 0o700 });
    } else if (type === "0" || type === "\0") {
      mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
      writeFileSync(target, tar.subarray(at, at + size), { mode: 0o600 });
    } else {
      throw new Error(`The seed archive ${archive} holds an entry of type '${type}' (${name}); only files and directories are expected`);
    }
    at += Math.ceil(size / BLOCK) * BLOCK;
  }
}

function field(header: Uint8Array, offset: number, length: number): string {
  const bytes = header.subarray(offset, offset + length);
  const end = bytes.indexOf(0);
  return Buffer.from(end === -1 ? bytes : bytes.subarray(0, end))
    .toString("utf8")
    .trim();
}

/** ustar splits long names into a prefix (offset 345) and a name (offset 0). */
function entryName(header: Uint8Array): string {
  const prefix = field(header, 345, 155);
  const name = field(header, 0, 100);
  return prefix ? `${prefix}/${name}` : name;
}

/** An entry's path on disk; one that would land outside the data directory is refused. */
function insideDataDir(dataDir: string, name: string): string {
  const target = normalize(join(dataDir, name));
  const root = normalize(dataDir).replace(/[/\\]$/, "");
  if (target !== root && !target.startsWith(root + sep))
    throw new Error(`The seed archive names a path outside the data directory: ${name}`);
  return target;
}
