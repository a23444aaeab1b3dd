/**
 * Attachment stream cipher (DESIGN.md, wire protocol v1, "Attachments"): chunked AES-256-GCM in the
 * STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár, "Online Authenticated-Encryption and
 * its Nonce-Reuse Misuse-Resistance", CRYPTO 2015, §7), so files of any size are encrypted and
 * decrypted in constant memory and truncation, reordering or splicing is detected.
 *
 * Format, version 1 (exact bytes; a second implementation must reproduce them):
 *
 *   K        attachmentKey: 32 random bytes, carried base64url (43 characters) only inside the
 *            signed and encrypted message.
 *   i        the attachment's 0-based index in the signed manifest, uint32.
 *   okm      HKDF-SHA256(IKM = K, salt = "" (empty), info = "mlax attachment v1" ‖ uint32be(i),
 *            L = 39)  (RFC 5869)
 *   subkey   okm[0..32)   the AES-256-GCM key of attachment i
 *   prefix   okm[32..39)  7 bytes
 *   P_j      record j of the plaintext (j = 0, 1, …): exactly 65536 bytes for every record but the
 *            last; the last holds 0..65536 bytes. An empty plaintext is one empty, final record.
 *   nonce_j  prefix (7) ‖ uint32be(j) (4) ‖ last (1: 0x01 for the final record, 0x00 otherwise)
 *   C_j      AES-256-GCM(subkey, nonce_j, AAD = "", P_j) ‖ tag (16)
 *   stream   C_0 ‖ C_1 ‖ … ‖ C_n: no header, no lengths; every record but the last is 65552 bytes,
 *            the last 16..65552 bytes.
 *
 * Why it holds: each attachment has its own subkey and prefix, so no nonce repeats under one key;
 * the counter in the nonce detects reordering and dropped or duplicated records; the last flag
 * detects a stream cut at a record boundary (the new last record was sealed as non-final) and data
 * appended after the final record (it was sealed as final); a record from another attachment or
 * message fails its tag under this subkey. A decrypting stream passes on each record only after its
 * tag verified, but a truncated stream is only known at its end: consumers must treat the output as
 * provisional until the stream finishes without error (write to a temporary file, then rename).
 *
 * node:crypto only, no I/O: streams are passed in by the caller.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  type Hash,
  hkdfSync,
  randomBytes,
} from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import { EnvelopeError, MlaxError } from "../errors.ts";

/** Plaintext bytes per record (64 KiB). */
export const ATTACHMENT_RECORD_SIZE = 64 * 1024;
/** GCM tag bytes per record. */
export const ATTACHMENT_TAG_SIZE = 16;
/** Ciphertext bytes of every record but the last. */
export const ATTACHMENT_CIPHER_RECORD_SIZE = ATTACHMENT_RECORD_SIZE + ATTACHMENT_TAG_SIZE;
const KEY_BYTES = 32;
const PREFIX_BYTES = 7;
const HKDF_INFO = Buffer.from("mlax attachment v1", "ascii");
const MAX_INDEX = 0xffff_ffff;
const MAX_COUNTER = 0xffff_ffff;

/** The per-message key: base64url (as in the message's `attachmentKey`) or 32 raw bytes. */
export type AttachmentKey = string | Uint8Array;

interface RecordKeys {
  readonly subkey: Buffer;
  readonly prefix: Buffer;
  readonly index: number;
}

function invalid(message: string, details?: Record<string, unknown>): EnvelopeError {
  return new EnvelopeError("MESSAGE_ATTACHMENT_INVALID", message, { details });
}

/** A fresh random attachment key, base64url (43 characters), for one message. */
export function generateAttachmentKey(): string {
  return randomBytes(KEY_BYTES).toString("base64url");
}

function keyBytes(key: AttachmentKey): Buffer {
  if (typeof key === "string") {
    const bytes = Buffer.from(key, "base64url");
    if (!/^[A-Za-z0-9_-]{43}$/.test(key) || bytes.toString("base64url") !== key) {
      throw invalid("the attachment key is not 32 bytes of canonical base64url");
    }
    return bytes;
  }
  if (key.byteLength !== KEY_BYTES) throw invalid("the attachment key is not 32 bytes");
  return Buffer.from(key);
}

/** HKDF-SHA256(K, "", "mlax attachment v1" ‖ uint32be(index), 39) → subkey ‖ prefix. */
function deriveRecordKeys(key: AttachmentKey, index: number): RecordKeys {
  if (!Number.isInteger(index) || index < 0 || index > MAX_INDEX) {
    throw invalid(`attachment index ${index} is not a uint32`);
  }
  const info = Buffer.alloc(HKDF_INFO.length + 4);
  HKDF_INFO.copy(info);
  info.writeUInt32BE(index, HKDF_INFO.length);
  const okm = Buffer.from(
    hkdfSync("sha256", keyBytes(key), Buffer.alloc(0), info, KEY_BYTES + PREFIX_BYTES),
  );
  return { subkey: okm.subarray(0, KEY_BYTES), prefix: okm.subarray(KEY_BYTES), index };
}

function recordNonce(keys: RecordKeys, counter: number, last: boolean): Buffer {
  if (counter > MAX_COUNTER)
    throw invalid("the attachment has more records than the counter allows");
  const nonce = Buffer.alloc(PREFIX_BYTES + 5);
  keys.prefix.copy(nonce);
  nonce.writeUInt32BE(counter, PREFIX_BYTES);
  nonce[PREFIX_BYTES + 4] = last ? 1 : 0;
  return nonce;
}

function sealRecord(keys: RecordKeys, counter: number, last: boolean, plaintext: Buffer): Buffer {
  const cipher = createCipheriv("aes-256-gcm", keys.subkey, recordNonce(keys, counter, last), {
    authTagLength: ATTACHMENT_TAG_SIZE,
  });
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

function openRecord(keys: RecordKeys, counter: number, last: boolean, record: Buffer): Buffer {
  if (record.length < ATTACHMENT_TAG_SIZE) {
    throw invalid(
      counter === 0 ? "the attachment stream is empty" : "the attachment stream is truncated",
      { attachmentIndex: keys.index, record: counter },
    );
  }
  const tagAt = record.length - ATTACHMENT_TAG_SIZE;
  const decipher = createDecipheriv("aes-256-gcm", keys.subkey, recordNonce(keys, counter, last), {
    authTagLength: ATTACHMENT_TAG_SIZE,
  });
  decipher.setAuthTag(record.subarray(tagAt));
  try {
    return Buffer.concat([decipher.update(record.subarray(0, tagAt)), decipher.final()]);
  } catch (cause) {
    // One answer for a flipped bit, a wrong key or index, a reordered, cut or extended stream.
    throw new EnvelopeError(
      "MESSAGE_ATTACHMENT_INVALID",
      "an attachment record does not authenticate",
      { cause, details: { attachmentIndex: keys.index, record: counter } },
    );
  }
}

/** A FIFO of chunks that hands out exact byte counts (at most one record is ever held). */
class ChunkQueue {
  private chunks: Buffer[] = [];
  length = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  take(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const head = this.chunks[0]!;
      const used = Math.min(head.length, n - filled);
      head.copy(out, filled, 0, used);
      filled += used;
      if (used === head.length) this.chunks.shift();
      else this.chunks[0] = head.subarray(used);
    }
    this.length -= n;
    return out;
  }
}

function asBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
  throw invalid("attachment streams carry bytes, not strings or objects");
}

/** Encrypts a plaintext stream into attachment records (see the format above). */
export function createEncryptStream(key: AttachmentKey, index: number): Transform {
  const keys = deriveRecordKeys(key, index);
  const queue = new ChunkQueue();
  let counter = 0;
  return new Transform({
    transform(chunk: unknown, _encoding, callback: TransformCallback) {
      try {
        queue.push(asBuffer(chunk));
        // A full record is non-final only once a byte beyond it has arrived.
        while (queue.length > ATTACHMENT_RECORD_SIZE) {
          this.push(sealRecord(keys, counter++, false, queue.take(ATTACHMENT_RECORD_SIZE)));
        }
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
    flush(callback: TransformCallback) {
      try {
        callback(null, sealRecord(keys, counter, true, queue.take(queue.length)));
      } catch (error) {
        callback(error as Error);
      }
    },
  });
}

export interface DecryptStreamOptions {
  /**
   * The signed manifest entry of this attachment: the plaintext must have exactly this size and
   * SHA-256 (lowercase hex). The size is enforced while streaming; the digest before the final
   * record is passed on.
   */
  readonly expect?: { readonly size: number; readonly sha256: string };
}

/** Decrypts attachment records into the plaintext; errors with MESSAGE_ATTACHMENT_INVALID. */
export function createDecryptStream(
  key: AttachmentKey,
  index: number,
  options: DecryptStreamOptions = {},
): Transform {
  const keys = deriveRecordKeys(key, index);
  const queue = new ChunkQueue();
  const expect = options.expect;
  const hash: Hash | undefined = expect ? createHash("sha256") : undefined;
  let counter = 0;
  let size = 0;
  const account = (plaintext: Buffer): void => {
    size += plaintext.length;
    if (expect && size > expect.size) {
      throw invalid("the attachment is larger than its signed manifest size", {
        attachmentIndex: index,
      });
    }
    hash?.update(plaintext);
  };
  return new Transform({
    transform(chunk: unknown, _encoding, callback: TransformCallback) {
      try {
        queue.push(asBuffer(chunk));
        // A full-size record is the final one only if the stream ends right after it.
        while (queue.length > ATTACHMENT_CIPHER_RECORD_SIZE) {
          const plaintext = openRecord(
            keys,
            counter++,
            false,
            queue.take(ATTACHMENT_CIPHER_RECORD_SIZE),
          );
          account(plaintext);
          this.push(plaintext);
        }
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
    flush(callback: TransformCallback) {
      try {
        const plaintext = openRecord(keys, counter, true, queue.take(queue.length));
        account(plaintext);
        if (expect && (size !== expect.size || hash?.digest("hex") !== expect.sha256)) {
          throw invalid("the attachment does not match its signed manifest size and SHA-256", {
            attachmentIndex: index,
          });
        }
        callback(null, plaintext);
      } catch (error) {
        callback(error as Error);
      }
    },
  });
}

/** Encrypts a small attachment held in memory (same format as the stream). */
export function encryptBuffer(key: AttachmentKey, index: number, plaintext: Uint8Array): Buffer {
  const keys = deriveRecordKeys(key, index);
  const input = asBuffer(plaintext);
  const out: Buffer[] = [];
  let counter = 0;
  let offset = 0;
  while (input.length - offset > ATTACHMENT_RECORD_SIZE) {
    out.push(
      sealRecord(keys, counter++, false, input.subarray(offset, offset + ATTACHMENT_RECORD_SIZE)),
    );
    offset += ATTACHMENT_RECORD_SIZE;
  }
  out.push(sealRecord(keys, counter, true, input.subarray(offset)));
  return Buffer.concat(out);
}

/** Decrypts a small attachment held in memory; errors with MESSAGE_ATTACHMENT_INVALID. */
export function decryptBuffer(key: AttachmentKey, index: number, ciphertext: Uint8Array): Buffer {
  const keys = deriveRecordKeys(key, index);
  const input = asBuffer(ciphertext);
  const out: Buffer[] = [];
  let counter = 0;
  let offset = 0;
  while (input.length - offset > ATTACHMENT_CIPHER_RECORD_SIZE) {
    const end = offset + ATTACHMENT_CIPHER_RECORD_SIZE;
    out.push(openRecord(keys, counter++, false, input.subarray(offset, end)));
    offset = end;
  }
  out.push(openRecord(keys, counter, true, input.subarray(offset)));
  return Buffer.concat(out);
}

export interface PlaintextDigest {
  /** Lowercase hex SHA-256, as in the manifest. */
  readonly sha256: string;
  readonly size: number;
}

/** A pass-through stream that measures what flows through it; `result()` once it has ended. */
export interface DigestStream extends Transform {
  result(): PlaintextDigest;
}

/** Computes the plaintext SHA-256 and size of an attachment while it streams past. */
export function createDigestStream(): DigestStream {
  const hash = createHash("sha256");
  let size = 0;
  let digest: PlaintextDigest | undefined;
  const stream = new Transform({
    transform(chunk: unknown, _encoding, callback: TransformCallback) {
      try {
        const bytes = asBuffer(chunk);
        hash.update(bytes);
        size += bytes.length;
        callback(null, bytes);
      } catch (error) {
        callback(error as Error);
      }
    },
    flush(callback: TransformCallback) {
      digest = { sha256: hash.digest("hex"), size };
      callback();
    },
  }) as DigestStream;
  stream.result = () => {
    if (!digest) throw new MlaxError("INTERNAL", "the digest stream has not finished");
    return digest;
  };
  return stream;
}

/** The plaintext SHA-256 and size of a whole source (a file stream, say), read to its end. */
export async function digestPlaintext(
  source: AsyncIterable<Uint8Array | string>,
): Promise<PlaintextDigest> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of source) {
    const bytes = asBuffer(chunk);
    hash.update(bytes);
    size += bytes.length;
  }
  return { sha256: hash.digest("hex"), size };
}
