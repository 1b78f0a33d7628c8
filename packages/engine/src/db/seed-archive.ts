import { closeSync, createReadStream, mkdirSync, openSync, renameSync, writeSync } from "node:fs";
import { dirname, join, normalize, sep } from "node:path";
import { createGunzip } from "node:zlib";

const BLOCK = 512;

/**
 * Unpacks a gzipped tar of a PGlite data directory (what `dumpDataDir("gzip")` writes: ustar
 * entries, regular files and directories only) into `dataDir` on disk. PGlite's own `loadDataDir`
 * would do the same, but only inside a started PGlite, which costs a second start of the WASM
 * Postgres and keeps its memory; written straight to disk, one start opens the database. The
 * archive is read as a stream (about 40 MB unpacked), so the server's memory does not grow by it.
 * `PG_VERSION`, which says a data directory holds a database, is written last: an unpacking cut
 * short leaves a directory the next start unpacks into again.
 */
export async function unpackSeedArchive(archive: string, dataDir: string): Promise<void> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const reader = new TarReader(archive, dataDir);
  for await (const chunk of createReadStream(archive, { highWaterMark: 1 << 20 }).pipe(createGunzip({ chunkSize: 1 << 20 }))) {
    reader.take(chunk as Buffer);
    if (reader.ended) break;
  }
  reader.finish();
  if (!reader.sawVersion) throw new Error(`The seed archive ${archive} holds no PG_VERSION: it is not a data directory`);
  renameSync(join(dataDir, PENDING_VERSION_FILE), join(dataDir, "PG_VERSION"));
}

/** Where `PG_VERSION` is written until everything else is on disk. */
const PENDING_VERSION_FILE = "PG_VERSION.unpacking";

/** Reads ustar entries from chunks as they come, writing each file's data as it arrives. */
class TarReader {
  ended = false;
  sawVersion = false;
  private header = Buffer.alloc(0);
  private file: { fd: number; left: number; padding: number } | null = null;
  private skip = 0;

  constructor(
    private readonly archive: string,
    private readonly dataDir: string,
  ) {}

  take(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length && !this.ended) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - at);
        this.skip -= n;
        at += n;
      } else if (this.file) {
        const n = Math.min(this.file.left, chunk.length - at);
        writeSync(this.file.fd, chunk, at, n);
        this.file.left -= n;
        at += n;
        if (this.file.left === 0) {
          closeSync(this.file.fd);
          this.skip = this.file.padding;
          this.file = null;
        }
      } else {
        const n = Math.min(BLOCK - this.header.length, chunk.length - at);
        this.header = Buffer.concat([this.header, chunk.subarray(at, at + n)]);
        at += n;
        if (this.header.length === BLOCK) {
          this.entry(this.header);
          this.header = Buffer.alloc(0);
        }
      }
    }
  }

  finish(): void {
    if (!this.ended || this.file) throw new Error(`The seed archive ${this.archive} ends before its last entry does`);
  }

  private entry(header: Buffer): void {
    if (header.every((byte) => byte === 0)) {
      this.ended = true;
      return;
    }
    const name = entryName(header);
    const size = Number.parseInt(field(header, 124, 12) || "0", 8);
    const type = String.fromCharCode(header[156] ?? 0);
    const path = insideDataDir(this.dataDir, name);
    const isVersion = path === join(this.dataDir, "PG_VERSION");
    this.sawVersion ||= isVersion;
    const target = isVersion ? join(this.dataDir, PENDING_VERSION_FILE) : path;
    const padding = (BLOCK - (size % BLOCK)) % BLOCK;
    if (type === "5") {
      mkdirSync(target, { recursive: true, mode: 0o700 });
      this.skip = size + padding;
    } else if (type === "0" || type === "\0") {
      mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
      const fd = openSync(target, "w", 0o600);
      if (size === 0) {
        closeSync(fd);
        this.skip = padding;
      } else {
        this.file = { fd, left: size, padding };
      }
    } else {
      throw new Error(
        `The seed archive ${this.archive} holds an entry of type '${type}' (${name}); only files and directories are expected`,
      );
    }
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
  if (target !== root && !target.startsWith(root + sep)) {
    throw new Error(`The seed archive names a path outside the data directory: ${name}`);
  }
  return target;
}
