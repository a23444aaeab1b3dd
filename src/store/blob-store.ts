/**
 * Attachment blob files (DESIGN.md architecture: "src/store/ … blob files"). The STREAM ciphertext
 * of every stored attachment is one file, named at random, never after anything a peer or an
 * operator sent:
 *
 *   <dataDir>/blobs/<32 hex>.blob     committed ciphertexts (mode 0600), named by the `attachments`
 *                                     table (migration 2)
 *   <dataDir>/blobs/.tmp-<32 hex>     a blob being written; renamed to its .blob name once complete
 *                                     and fsync'd, then the folder is fsync'd
 *   <dataDir>/incoming/<32 hex>.part  attachment parts received by the peer API, kept only until the
 *                                     message is opened and the parts verified: then moved into
 *                                     blobs/ (`adopt`) or removed (`discard`)
 *
 * A blob is durable before the row that names it commits, so a crash leaves at most an orphan file
 * (or a stale temporary one, which `sweep` removes), never a row without its file. Both folders
 * are mode 0700.
 */
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, createReadStream, mkdirSync, type ReadStream } from "node:fs";
import { type FileHandle, open, readdir, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { type Readable, type Transform, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { InputError } from "../errors.ts";

/** `<32 lowercase hex>.blob`: the only names `path`, `read` and `remove` accept. */
export const BLOB_NAME_PATTERN = /^[0-9a-f]{32}\.blob$/;
const PART_NAME_PATTERN = /^[0-9a-f]{32}\.part$/;
const TMP_PREFIX = ".tmp-";
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

export interface WrittenFile {
  /** Bytes written (after the transforms). */
  readonly size: number;
  /** Lowercase hex SHA-256 of the bytes written. */
  readonly sha256: string;
}

/** A committed blob: its name under blobs/, size and SHA-256 of the file. */
export interface WrittenBlob extends WrittenFile {
  readonly name: string;
}

/** A received part under incoming/, not yet verified. */
export interface IncomingFile extends WrittenFile {
  readonly path: string;
}

export interface BlobStore {
  readonly dir: string;
  readonly incomingDir: string;
  /** The absolute path of a committed blob (INPUT_INVALID for a name that is not a blob name). */
  path(name: string): string;
  read(name: string): ReadStream;
  /** Streams `source` through `transforms` into a new committed blob (temporary name, fsync, rename). */
  write(source: Readable, transforms?: readonly Transform[]): Promise<WrittenBlob>;
  /** Streams `source` into a new file under incoming/ (fsync'd; removed again on failure). */
  writeIncoming(source: Readable, transforms?: readonly Transform[]): Promise<IncomingFile>;
  /** Moves a verified incoming file into blobs/ under a fresh name (fsync'd folder); its name. */
  adopt(incomingPath: string): Promise<string>;
  /** Removes a committed blob (nothing if it is gone). */
  remove(name: string): Promise<void>;
  /** Removes an incoming file (nothing if it is gone, or if the path is not under incoming/). */
  discard(incomingPath: string): Promise<void>;
  /** Removes incoming and temporary files older than `olderThanMs` (left by a crash); the count. */
  sweep(olderThanMs: number, now?: Date): Promise<number>;
  /**
   * Removes committed blobs older than `olderThanMs` that no stored attachment references: a
   * crash between a blob's rename and its transaction's commit leaves one. The count.
   */
  sweepOrphans(
    isReferenced: (name: string) => boolean,
    olderThanMs: number,
    now?: Date,
  ): Promise<number>;
}

function randomName(): string {
  return randomBytes(16).toString("hex");
}

async function writeAll(handle: FileHandle, chunk: Buffer): Promise<void> {
  let offset = 0;
  while (offset < chunk.length) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset);
    offset += bytesWritten;
  }
}

/** Writes a new file (exclusive create, 0600), hashing what it writes; fsync'd, removed on failure. */
async function writeNewFile(
  path: string,
  source: Readable,
  transforms: readonly Transform[],
): Promise<WrittenFile> {
  const handle = await open(path, "wx", FILE_MODE);
  const hash = createHash("sha256");
  let size = 0;
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      size += chunk.length;
      writeAll(handle, chunk).then(() => callback(), callback);
    },
  });
  try {
    await pipeline([source, ...transforms, sink]);
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await rm(path, { force: true }).catch(() => undefined);
    throw error;
  }
  await handle.close();
  return { size, sha256: hash.digest("hex") };
}

/** fsync a folder so that a rename in it is durable (best effort where the OS cannot). */
async function syncDir(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, "r");
    await handle.sync();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (!["EISDIR", "EINVAL", "EPERM", "EBADF", "ENOTSUP"].includes(code ?? "")) throw error;
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

function ensureDir(path: string): void {
  mkdirSync(path, { recursive: true, mode: DIR_MODE });
  chmodSync(path, DIR_MODE);
}

/** Opens (creating them, mode 0700) the blobs/ and incoming/ folders of a node's data folder. */
export function openBlobStore(dataDir: string): BlobStore {
  const dir = join(dataDir, "blobs");
  const incomingDir = join(dataDir, "incoming");
  ensureDir(dir);
  ensureDir(incomingDir);

  function path(name: string): string {
    if (!BLOB_NAME_PATTERN.test(name)) {
      throw new InputError("INPUT_INVALID", "not a blob name");
    }
    return join(dir, name);
  }

  function isIncoming(p: string): boolean {
    return dirname(p) === incomingDir && PART_NAME_PATTERN.test(basename(p));
  }

  async function sweepDir(
    folder: string,
    match: (name: string) => boolean,
    before: number,
  ): Promise<number> {
    let removed = 0;
    for (const name of await readdir(folder).catch(() => [] as string[])) {
      if (!match(name)) continue;
      const full = join(folder, name);
      const info = await stat(full).catch(() => undefined);
      if (info?.isFile() && info.mtimeMs < before) {
        await rm(full, { force: true });
        removed++;
      }
    }
    return removed;
  }

  return {
    dir,
    incomingDir,
    path,
    read: (name) => createReadStream(path(name)),
    async write(source, transforms = []) {
      const tmp = join(dir, `${TMP_PREFIX}${randomName()}`);
      const written = await writeNewFile(tmp, source, transforms);
      const name = `${randomName()}.blob`;
      try {
        await rename(tmp, join(dir, name));
        await syncDir(dir);
      } catch (error) {
        await rm(tmp, { force: true }).catch(() => undefined);
        await rm(join(dir, name), { force: true }).catch(() => undefined);
        throw error;
      }
      return { ...written, name };
    },
    async writeIncoming(source, transforms = []) {
      const p = join(incomingDir, `${randomName()}.part`);
      return { ...(await writeNewFile(p, source, transforms)), path: p };
    },
    async adopt(incomingPath) {
      if (!isIncoming(incomingPath)) {
        throw new InputError("INPUT_INVALID", "not a file under incoming/");
      }
      const name = `${randomName()}.blob`;
      await rename(incomingPath, join(dir, name));
      await syncDir(dir);
      return name;
    },
    async remove(name) {
      await rm(path(name), { force: true });
    },
    async discard(incomingPath) {
      if (isIncoming(incomingPath)) await rm(incomingPath, { force: true });
    },
    async sweepOrphans(isReferenced, olderThanMs, now = new Date()) {
      return sweepDir(
        dir,
        (n) => BLOB_NAME_PATTERN.test(n) && !isReferenced(n),
        now.getTime() - olderThanMs,
      );
    },
    async sweep(olderThanMs, now = new Date()) {
      const before = now.getTime() - olderThanMs;
      return (
        (await sweepDir(incomingDir, (n) => PART_NAME_PATTERN.test(n), before)) +
        (await sweepDir(dir, (n) => n.startsWith(TMP_PREFIX), before))
      );
    },
  };
}
