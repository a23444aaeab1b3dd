/**
 * Attachments of the offline commands (`mlax seal --attach`, `mlax open`), so a request travels
 * with its evidence files over any channel. The cipher, the manifest and the checks are those of
 * the nodes (src/peer/attachments.ts, steps 1, 3 and 4); only the carrier differs: instead of
 * multipart `attachment` parts, attachment i is the file `<envelope>.att<i>` next to the envelope.
 *
 *   seal  One fresh attachmentKey per message. Each `--attach` file, in command-line order
 *         (= manifest index i), streams through the byte caps (ATTACHMENT_LIMITS), the plaintext
 *         digest and `createEncryptStream(key, i)` into a temporary file (0600, fsync'd) next to
 *         the envelope; once the message is sealed each is renamed to `<out>.att<i>`, and stale
 *         `<out>.att<j>` (j ≥ the count) from an earlier seal are removed.
 *   open  The parts are the files `<name of the envelope>.att<i>` (canonical decimal i) in the
 *         envelope's folder or `--parts DIR`. There must be exactly one per manifest entry, of
 *         `ciphertextSize(size)` bytes, decrypting under (attachmentKey, i) to the signed size and
 *         SHA-256; anything else (a missing, extra, cut, flipped or swapped part) is a
 *         MESSAGE_ATTACHMENT_INVALID refusal. The receipt lists the SHA-256 of every part found
 *         (the ciphertext, in index order) in `attachmentsSha256`, accepted or rejected alike.
 *         With `--attachments-dir DIR` the plaintexts are decrypted to temporary files in DIR and,
 *         once every part has verified, linked to `<i>-<display name reduced to [A-Za-z0-9._-]>`
 *         (never the raw name as a path; an existing file is never replaced).
 */

import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import {
  type FileHandle,
  link,
  lstat,
  mkdir,
  open,
  readdir,
  rename,
  rm,
  stat,
  unlink,
} from "node:fs/promises";
import { basename, dirname, extname, join } from "node:path";
import { type Transform, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  createDecryptStream,
  createDigestStream,
  createEncryptStream,
  digestPlaintext,
  generateAttachmentKey,
} from "../envelope/attachment-stream.ts";
import type { AttachmentManifest, Message } from "../envelope/message.ts";
import { EnvelopeError, InputError, isMlaxError, type MlaxError } from "../errors.ts";
import { attachmentDisplayName } from "../operator/attachment-name.ts";
import { ATTACHMENT_LIMITS, byteBudget, ciphertextSize } from "../peer/attachments.ts";
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from "./files.ts";

/**
 * Manifest media types by file extension, for `mlax seal --attach` and `mlax send --attach` alike;
 * anything else is application/octet-stream.
 */
export const ATTACHMENT_MEDIA_TYPES: Readonly<Record<string, string>> = Object.freeze({
  ".pdf": "application/pdf",
  ".txt": "text/plain",
  ".csv": "text/csv",
  ".json": "application/json",
  ".xml": "application/xml",
  ".html": "text/html",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".tif": "image/tiff",
  ".tiff": "image/tiff",
  ".gif": "image/gif",
  ".doc": "application/msword",
  ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  ".odt": "application/vnd.oasis.opendocument.text",
  ".zip": "application/zip",
  ".eml": "message/rfc822",
  ".mp3": "audio/mpeg",
  ".wav": "audio/wav",
  ".mp4": "video/mp4",
});
const FALLBACK_MEDIA_TYPE = "application/octet-stream";
/** Room left for `<index>-` and the file system's 255-byte name limit. */
const MAX_SAFE_NAME_CHARS = 200;

export function attachmentMediaType(path: string): string {
  return ATTACHMENT_MEDIA_TYPES[extname(path).toLowerCase()] ?? FALLBACK_MEDIA_TYPE;
}

/** Where attachment `index` of the envelope at `envelopePath` travels. */
export function partPath(envelopePath: string, index: number): string {
  return `${envelopePath}.att${index}`;
}

/** `<index>-<display name with everything outside [A-Za-z0-9._-] replaced by _>`. */
export function safeAttachmentFileName(name: string, index: number): string {
  const reduced = [...attachmentDisplayName(name, index)]
    .map((c) => (/^[A-Za-z0-9._-]$/.test(c) ? c : "_"))
    .join("")
    .slice(0, MAX_SAFE_NAME_CHARS);
  return `${index}-${reduced}`;
}

function fileError(path: string, cause: unknown): MlaxError {
  if (isMlaxError(cause)) return cause;
  const reason = (cause as NodeJS.ErrnoException)?.code ?? "unreadable";
  return new InputError("FILE_UNREADABLE", `${path}: ${reason}`, { cause, details: { path } });
}

function invalid(message: string, attachmentIndex?: number): EnvelopeError {
  return new EnvelopeError("MESSAGE_ATTACHMENT_INVALID", message, {
    details: attachmentIndex === undefined ? undefined : { attachmentIndex },
  });
}

function tempPath(dir: string): string {
  return join(dir, `.${randomBytes(6).toString("hex")}.tmp`);
}

async function writeAll(handle: FileHandle, chunk: Buffer): Promise<void> {
  let offset = 0;
  while (offset < chunk.length) {
    offset += (await handle.write(chunk, offset, chunk.length - offset)).bytesWritten;
  }
}

/** Streams `source` through `transforms` into a new file (exclusive, 0600, fsync'd); removed on failure. */
async function writeNewFile(
  path: string,
  source: NodeJS.ReadableStream,
  transforms: readonly Transform[],
): Promise<void> {
  const handle = await open(path, "wx", PRIVATE_FILE_MODE);
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      writeAll(handle, chunk).then(() => callback(), callback);
    },
  });
  try {
    await pipeline([source, ...transforms, sink]);
    await handle.chmod(PRIVATE_FILE_MODE);
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await rm(path, { force: true }).catch(() => undefined);
    throw error;
  }
  await handle.close();
}

/** fsync a folder so that renames in it are durable (best effort where the OS cannot). */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r").catch(() => undefined);
  await handle?.sync().catch(() => undefined);
  await handle?.close().catch(() => undefined);
}

// ---------------------------------------------------------------------------------------- seal

export interface SealedPart {
  readonly index: number;
  readonly manifest: AttachmentManifest;
  /** Where the ciphertext lands (`<out>.att<index>`). */
  readonly part: string;
  readonly partSize: number;
  readonly partSha256: string;
}

export interface PreparedAttachments {
  /** The message's attachmentKey (undefined without attachments). */
  readonly key: string | undefined;
  readonly manifest: readonly AttachmentManifest[];
  readonly parts: readonly SealedPart[];
  /** Renames the parts into place and removes stale `<out>.att<j>`; call once the message is sealed. */
  commit(): Promise<void>;
  /** Removes the temporary files (after a failure). */
  discard(): Promise<void>;
}

/** A readable regular file within the per-file cap; its size. */
export async function attachableSize(path: string): Promise<number> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch (cause) {
    throw fileError(path, cause);
  }
  if (!info.isFile()) {
    throw new InputError("FILE_UNREADABLE", `${path} is not a regular file`, {
      details: { path },
    });
  }
  if (info.size > ATTACHMENT_LIMITS.maxFileBytes) {
    throw new InputError(
      "INPUT_TOO_LARGE",
      `${path} is ${info.size} bytes, over ${ATTACHMENT_LIMITS.maxFileBytes} per attachment`,
      { details: { path } },
    );
  }
  return info.size;
}

/**
 * Encrypts `files` (in order = manifest index) under one fresh key into temporary files next to
 * `out`, in constant memory. Nothing lands at `<out>.att<i>` before `commit()`.
 */
export async function prepareAttachments(
  files: readonly string[],
  out: string,
): Promise<PreparedAttachments> {
  if (files.length > ATTACHMENT_LIMITS.maxFiles) {
    throw new InputError(
      "INPUT_TOO_LARGE",
      `${files.length} attachments, over ${ATTACHMENT_LIMITS.maxFiles} per message`,
    );
  }
  let total = 0;
  for (const path of files) total += await attachableSize(path);
  if (total > ATTACHMENT_LIMITS.maxMessageBytes) {
    throw new InputError(
      "INPUT_TOO_LARGE",
      `the attachments add up to ${total} bytes, over ${ATTACHMENT_LIMITS.maxMessageBytes} per message`,
    );
  }
  const key = files.length > 0 ? generateAttachmentKey() : undefined;
  const dir = dirname(out);
  // The caps hold while streaming too, should a file grow after it was measured.
  const message = byteBudget(ATTACHMENT_LIMITS.maxMessageBytes, "the attachments of one message");
  const temps: string[] = [];
  const parts: SealedPart[] = [];
  const discard = async () => {
    await Promise.all(temps.map((t) => rm(t, { force: true }).catch(() => undefined)));
  };
  try {
    for (const [index, path] of files.entries()) {
      const tmp = tempPath(dir);
      temps.push(tmp);
      const plain = createDigestStream();
      const cipher = createDigestStream();
      try {
        await writeNewFile(tmp, createReadStream(path), [
          byteBudget(ATTACHMENT_LIMITS.maxFileBytes, `the bytes of ${path}`).meter(),
          message.meter(),
          plain,
          createEncryptStream(key as string, index),
          cipher,
        ]);
      } catch (cause) {
        throw fileError((cause as NodeJS.ErrnoException)?.path ?? path, cause);
      }
      const p = plain.result();
      const c = cipher.result();
      parts.push({
        index,
        manifest: {
          name: attachmentDisplayName(basename(path), index),
          mediaType: attachmentMediaType(path),
          size: p.size,
          sha256: p.sha256,
        },
        part: partPath(out, index),
        partSize: c.size,
        partSha256: c.sha256,
      });
    }
  } catch (error) {
    await discard();
    throw error;
  }
  return {
    key,
    manifest: parts.map((p) => p.manifest),
    parts,
    discard,
    async commit() {
      try {
        for (const [i, part] of parts.entries()) await rename(temps[i] as string, part.part);
      } catch (cause) {
        await discard();
        throw fileError(out, cause);
      }
      // A stale part of an earlier seal to the same path would make `open` refuse this one.
      const stale = await findPartFiles(dir, basename(out));
      for (const s of stale) {
        if (s.index >= parts.length) await rm(s.path, { force: true }).catch(() => undefined);
      }
      await syncDir(dir);
    },
  };
}

// ---------------------------------------------------------------------------------------- open

/** A part file found next to an envelope, with its (ciphertext) size. */
export interface FoundPart {
  readonly index: number;
  readonly path: string;
  readonly size: number;
}

async function findPartFiles(
  dir: string,
  envelopeName: string,
): Promise<{ index: number; path: string }[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (cause) {
    throw fileError(dir, cause);
  }
  const prefix = `${envelopeName}.att`;
  return names
    .filter((n) => n.startsWith(prefix) && /^(0|[1-9][0-9]{0,8})$/.test(n.slice(prefix.length)))
    .map((n) => ({ index: Number(n.slice(prefix.length)), path: join(dir, n) }))
    .sort((a, b) => a.index - b.index);
}

/**
 * The parts that came with the envelope: `<envelope name>.att<i>` in `partsDir` (default: the
 * envelope's folder), by index. Like a node's multipart limits, more parts than a message may
 * carry, or a part larger than the largest attachment ciphertext, is INPUT_TOO_LARGE (no receipt).
 */
export async function findParts(envelopePath: string, partsDir?: string): Promise<FoundPart[]> {
  const files = await findPartFiles(partsDir ?? dirname(envelopePath), basename(envelopePath));
  if (files.length > ATTACHMENT_LIMITS.maxFiles) {
    throw new InputError(
      "INPUT_TOO_LARGE",
      `${files.length} attachment parts, over ${ATTACHMENT_LIMITS.maxFiles} per message`,
    );
  }
  const found: FoundPart[] = [];
  for (const f of files) {
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(f.path);
    } catch (cause) {
      throw fileError(f.path, cause);
    }
    if (!info.isFile()) {
      throw new InputError("FILE_UNREADABLE", `${f.path} is not a regular file`, {
        details: { path: f.path },
      });
    }
    if (info.size > ciphertextSize(ATTACHMENT_LIMITS.maxFileBytes)) {
      throw new InputError("INPUT_TOO_LARGE", `${f.path} is larger than any attachment can be`, {
        details: { path: f.path },
      });
    }
    found.push({ ...f, size: info.size });
  }
  return found;
}

/** The SHA-256 of each part's bytes (the ciphertext), in index order: the receipt's list. */
export async function digestParts(parts: readonly FoundPart[]): Promise<string[]> {
  const digests: string[] = [];
  for (const p of parts) {
    try {
      digests.push((await digestPlaintext(createReadStream(p.path))).sha256);
    } catch (cause) {
      throw fileError(p.path, cause);
    }
  }
  return digests;
}

/** Where the plaintext of each manifest entry goes under `dir`, checked not to exist yet. */
export async function planAttachmentFiles(
  dir: string,
  manifest: readonly AttachmentManifest[],
): Promise<string[]> {
  try {
    await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  } catch (cause) {
    throw fileError(dir, cause);
  }
  const targets = manifest.map((entry, i) => join(dir, safeAttachmentFileName(entry.name, i)));
  for (const target of targets) {
    const exists = await lstat(target).then(
      () => true,
      () => false,
    );
    if (exists) {
      throw new InputError("INPUT_INVALID", `${target} exists: refusing to overwrite it`, {
        details: { path: target },
      });
    }
  }
  return targets;
}

export interface CheckedAttachments {
  /** SHA-256 of each part found (ciphertext), in index order: the receipt's `attachmentsSha256`. */
  readonly partsSha256: readonly string[];
  /** MESSAGE_ATTACHMENT_INVALID when the parts are not the manifest's ciphertexts. */
  readonly error?: EnvelopeError;
  /** With targets and no error: moves the plaintexts into place (never replacing a file). */
  commit(): Promise<void>;
  discard(): Promise<void>;
}

/** Links `tmp` to `target` unless `target` exists (rename after a check where links are not supported). */
async function placeNew(tmp: string, target: string): Promise<void> {
  try {
    await link(tmp, target);
    await unlink(tmp);
    return;
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === "EEXIST") {
      throw new InputError("INPUT_INVALID", `${target} exists: refusing to overwrite it`, {
        details: { path: target },
      });
    }
    if (!["EPERM", "ENOTSUP", "ENOSYS", "EOPNOTSUPP", "EXDEV"].includes(code ?? "")) {
      throw fileError(target, cause);
    }
  }
  // File systems without hard links (FAT on a USB stick): check, then rename.
  if (
    await lstat(target).then(
      () => true,
      () => false,
    )
  ) {
    throw new InputError("INPUT_INVALID", `${target} exists: refusing to overwrite it`, {
      details: { path: target },
    });
  }
  try {
    await rename(tmp, target);
  } catch (cause) {
    throw fileError(target, cause);
  }
}

/**
 * Checks the parts against the signed manifest (src/peer/attachments.ts, step 3): exactly one part
 * per entry (indices 0..n−1), each `ciphertextSize(size)` bytes and decrypting with `expect` (size,
 * SHA-256) under (attachmentKey, i). With `targets` the plaintexts are decrypted into temporary
 * files next to them, kept until `commit()` or `discard()`. A refusal is returned as `error`, not
 * thrown, with the part digests for the rejected receipt; I/O failures are thrown.
 */
export async function checkAttachments(
  message: Pick<Message, "attachments" | "attachmentKey">,
  parts: readonly FoundPart[],
  targets?: readonly string[],
): Promise<CheckedAttachments> {
  const manifest = message.attachments;
  const digests: (string | undefined)[] = parts.map(() => undefined);
  const temps: string[] = [];
  const discard = async () => {
    await Promise.all(temps.map((t) => rm(t, { force: true }).catch(() => undefined)));
  };
  const refuse = async (error: EnvelopeError): Promise<CheckedAttachments> => {
    await discard();
    const missing = parts.filter((_, k) => digests[k] === undefined);
    const computed = await digestParts(missing);
    const partsSha256 = digests.map((d) => d ?? (computed.shift() as string));
    return { partsSha256, error, commit: async () => undefined, discard };
  };

  const total = manifest.reduce((sum, e) => sum + e.size, 0);
  if (
    manifest.length > ATTACHMENT_LIMITS.maxFiles ||
    manifest.some((e) => e.size > ATTACHMENT_LIMITS.maxFileBytes) ||
    total > ATTACHMENT_LIMITS.maxMessageBytes
  ) {
    return refuse(invalid("the signed manifest exceeds the attachment limits"));
  }
  for (const [k, part] of parts.entries()) {
    if (part.index !== k) {
      return refuse(invalid(`attachment part ${k} is missing (${parts.length} part(s) found)`, k));
    }
  }
  if (parts.length !== manifest.length) {
    return refuse(
      invalid(`${parts.length} attachment part(s) for ${manifest.length} manifest entries`),
    );
  }
  const key = message.attachmentKey;
  if (manifest.length > 0 && key === undefined) {
    return refuse(invalid("the message has attachments but no attachmentKey"));
  }
  for (const [i, entry] of manifest.entries()) {
    const part = parts[i] as FoundPart;
    // The ciphertext length follows from the plaintext length: a cheap check before decrypting.
    if (part.size !== ciphertextSize(entry.size)) {
      return refuse(
        invalid(`attachment ${i} is ${part.size} bytes, not the ciphertext of its size`, i),
      );
    }
    const cipher = createDigestStream();
    const decrypt = createDecryptStream(key as string, i, {
      expect: { size: entry.size, sha256: entry.sha256 },
    });
    try {
      const target = targets?.[i];
      if (target) {
        const tmp = tempPath(dirname(target));
        temps.push(tmp);
        await writeNewFile(tmp, createReadStream(part.path), [cipher, decrypt]);
      } else {
        const discardSink = new Writable({
          write(_chunk, _encoding, callback) {
            callback();
          },
        });
        await pipeline(createReadStream(part.path), cipher, decrypt, discardSink);
      }
    } catch (error) {
      if (isMlaxError(error) && error.code === "MESSAGE_ATTACHMENT_INVALID") {
        return refuse(invalid(`attachment ${i}: ${error.message}`, i));
      }
      await discard();
      throw fileError(part.path, error);
    }
    digests[i] = cipher.result().sha256;
  }
  return {
    partsSha256: digests as string[],
    discard,
    async commit() {
      if (!targets) return;
      try {
        for (const [i, target] of targets.entries()) await placeNew(temps[i] as string, target);
      } finally {
        await discard();
      }
      if (targets.length > 0) await syncDir(dirname(targets[0] as string));
    },
  };
}
