/**
 * Attachments end to end (DESIGN.md wire protocol v1: "files `attachment` (0..n, in manifest
 * order) = attachment ciphertexts"; the cipher is src/envelope/attachment-stream.ts). This file
 * holds the limits every side shares and the receiver's check; the steps live in:
 *
 * 1. Sender (src/operator/attachment-upload.ts, src/node/send-message.ts). `POST /api/v1/messages`
 *    also takes multipart/form-data: one field `message` (the JSON of the JSON route) and 0..20
 *    files `attachment`. One fresh `generateAttachmentKey()` per message. Each file, in the order
 *    received (= manifest index i), streams through a byte cap, `createDigestStream` (plaintext
 *    size and SHA-256) and `createEncryptStream(key, i)` into a new blob (blobs/.tmp-*, fsync,
 *    rename, fsync folder; src/store/blob-store.ts). The manifest entry is `{name, mediaType, size,
 *    sha256}`: `name` is the client's file name reduced to a display name (last path segment,
 *    control and format characters dropped, ≤ 255; `attachment-<i>` when nothing is left), never a
 *    path; `mediaType` the part's type when it is a plain `type/subtype`, else
 *    application/octet-stream. The message (manifest + `attachmentKey`) is then checked, signed,
 *    sealed and queued; the `attachments` table (migration 2) commits with it and names each blob
 *    with its ciphertext SHA-256 and size, so every retry sends the same bytes. If anything fails
 *    before the commit, the blobs written for the request are removed.
 * 2. Delivery (src/delivery/outbox-worker.ts, peer-client.ts). The worker posts the envelope and
 *    the blobs as `attachment` parts in manifest order, each a file-backed Blob (`fs.openAsBlob`),
 *    so nothing is read into memory; part file names are `attachment-<i>.bin` and carry no
 *    meaning. An accepted receipt must list exactly the SHA-256 of the blobs sent
 *    (`attachmentsSha256`), or it is not a delivery (RECEIPT_MISMATCH, retried, security event).
 * 3. Receiver (src/peer/app.ts, incoming-storage.ts, receive-envelope.ts). multer writes the parts
 *    to incoming/ under random names (0600), hashing each part as it is written; every multer limit
 *    is set (PEER_MULTIPART_LIMITS) and the parts of one request are capped in total. After
 *    `open()`, the TLS client = signer check, the dedupe lookup and the domain checks,
 *    `verifyAttachments`: as many parts as manifest entries, each exactly `ciphertextSize(size)`
 *    bytes and decrypting under (attachmentKey, i) to the manifest size and SHA-256. Any mismatch:
 *    a signed `rejected` receipt MESSAGE_ATTACHMENT_INVALID (the message is stored as rejected,
 *    its parts are not kept). Accepted: the parts are renamed into blobs/ (fsync'd) *before* the
 *    transaction that stores message, receipt and `attachments` rows; a crash leaves at most an
 *    orphan blob, never a stored message without its blob. incoming/ files are removed whatever
 *    happens (before the answer; multer removes them itself on a multipart error), and files older
 *    than STALE_TEMP_MS are swept when the peer app is built.
 * 4. Receipts: `attachmentsSha256` lists the SHA-256 of each `attachment` part as received — the
 *    **ciphertext**, in the order received (manifest order when accepted) — in accepted and
 *    rejected receipts alike. The plaintext SHA-256 is in the signed manifest. A resend of a stored
 *    message (same from, id and JWS) gets the stored receipt byte for byte, whatever parts it
 *    carries.
 * 5. Reading (src/operator/attachment-download.ts). `GET /api/v1/messages/:id/attachments/:index`
 *    streams the plaintext, decrypted with the key inside the stored signed message and checked
 *    against the manifest while it streams (a mismatch is STORE_CORRUPT before the first byte, and
 *    cuts the response short after it), with the manifest media type, `X-Content-Type-Options:
 *    nosniff`, a sandboxing CSP and an RFC 6266 `attachment` disposition (ASCII `filename`
 *    fallback + RFC 8187 `filename*`). Inbound attachments of a rejected message are not kept (404).
 *    CLI: `mlax send --attach FILE` (repeatable), `mlax show` lists the manifest,
 *    `mlax attachment <id> <index> -o FILE` (checks size and SHA-256 against the manifest).
 */
import { createReadStream } from "node:fs";
import { Transform, type TransformCallback, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  ATTACHMENT_RECORD_SIZE,
  ATTACHMENT_TAG_SIZE,
  createDecryptStream,
} from "../envelope/attachment-stream.ts";
import type { Message } from "../envelope/message.ts";
import { EnvelopeError, InputError, isMlaxError } from "../errors.ts";

export interface AttachmentLimits {
  /** Files per message. */
  readonly maxFiles: number;
  /** Plaintext bytes per file. */
  readonly maxFileBytes: number;
  /** Plaintext bytes of all files of one message. */
  readonly maxMessageBytes: number;
}

/** Caps on attachments, the same at the sender (plaintext) and the receiver (their ciphertext). */
export const ATTACHMENT_LIMITS: AttachmentLimits = Object.freeze({
  maxFiles: 20,
  maxFileBytes: 256 * 1024 * 1024,
  maxMessageBytes: 512 * 1024 * 1024,
});

/** How old a file left in incoming/ (or a blobs/.tmp-* file) must be before a sweep removes it. */
export const STALE_TEMP_MS = 60 * 60_000;

/** STREAM ciphertext bytes of a plaintext of `size` bytes: one 16-byte tag per record, ≥ 1 record. */
export function ciphertextSize(size: number): number {
  return size + ATTACHMENT_TAG_SIZE * Math.max(1, Math.ceil(size / ATTACHMENT_RECORD_SIZE));
}

/** The most ciphertext bytes the attachments of one message can add up to under `limits`. */
export function maxCiphertextTotal(limits: AttachmentLimits): number {
  const records = Math.ceil(limits.maxMessageBytes / ATTACHMENT_RECORD_SIZE) + limits.maxFiles;
  return limits.maxMessageBytes + ATTACHMENT_TAG_SIZE * records;
}

/** A byte total shared by the files of one request (multer limits files one by one only). */
export interface ByteBudget {
  /** A pass-through that adds what flows to the total; INPUT_TOO_LARGE once it exceeds the cap. */
  meter(): Transform;
  used(): number;
}

export function byteBudget(max: number, what: string): ByteBudget {
  let used = 0;
  return {
    used: () => used,
    meter: () =>
      new Transform({
        transform(chunk: Buffer, _encoding, callback: TransformCallback) {
          used += chunk.length;
          if (used > max) {
            callback(new InputError("INPUT_TOO_LARGE", `${what} exceed ${max} bytes in total`));
            return;
          }
          callback(null, chunk);
        },
      }),
  };
}

/** A received `attachment` part on disk, with the size and SHA-256 of its bytes (ciphertext). */
export interface ReceivedPart {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

function invalid(message: string, attachmentIndex?: number): EnvelopeError {
  return new EnvelopeError("MESSAGE_ATTACHMENT_INVALID", message, {
    details: attachmentIndex === undefined ? undefined : { attachmentIndex },
  });
}

/**
 * Checks the received parts against the signed manifest (DESIGN.md wire protocol: files in
 * manifest order): one part per entry, each the STREAM ciphertext of that entry under the message's
 * attachmentKey and index, of exactly the signed plaintext size and SHA-256. The plaintext is
 * discarded. Throws EnvelopeError MESSAGE_ATTACHMENT_INVALID; an I/O failure is rethrown as is.
 */
export async function verifyAttachments(
  message: Pick<Message, "attachments" | "attachmentKey">,
  parts: readonly ReceivedPart[],
): Promise<void> {
  const manifest = message.attachments;
  if (parts.length !== manifest.length) {
    throw invalid(`${parts.length} attachment part(s) for ${manifest.length} manifest entries`);
  }
  if (manifest.length === 0) return;
  const key = message.attachmentKey;
  if (key === undefined) throw invalid("the message has attachments but no attachmentKey");
  for (const [i, entry] of manifest.entries()) {
    const part = parts[i] as ReceivedPart;
    // The ciphertext length follows from the plaintext length: a cheap check before decrypting.
    if (part.size !== ciphertextSize(entry.size)) {
      throw invalid(`attachment ${i} is ${part.size} bytes, not the ciphertext of its size`, i);
    }
    const discard = new Writable({
      write(_chunk, _encoding, callback) {
        callback();
      },
    });
    try {
      await pipeline(
        createReadStream(part.path),
        createDecryptStream(key, i, { expect: { size: entry.size, sha256: entry.sha256 } }),
        discard,
      );
    } catch (error) {
      if (isMlaxError(error) && error.code === "MESSAGE_ATTACHMENT_INVALID") {
        throw invalid(`attachment ${i}: ${error.message}`, i);
      }
      throw error;
    }
  }
}
