/**
 * The `attachments` rows (migration 2): one per attachment ciphertext blob of a message, in
 * manifest order. Shared by the inbox, the outbox and the listing.
 */
import type Database from "better-sqlite3";
import { InputError } from "../errors.ts";
import { BLOB_NAME_PATTERN } from "./blob-store.ts";
import { checkSha256 } from "./store-context.ts";
import type { AttachmentBlob, StoredAttachment } from "./store-types.ts";

interface AttachmentRow {
  idx: number;
  blob_name: string;
  ciphertext_sha256: string;
  size: number;
}

/** STREAM ciphertext of an empty plaintext: one final record holding only its 16-byte tag. */
const MIN_CIPHERTEXT_BYTES = 16;

/** Checks the blobs of a message: `expected` of them, each well formed (InputError INPUT_INVALID). */
export function checkAttachmentBlobs(blobs: readonly AttachmentBlob[], expected: number): void {
  if (blobs.length !== expected) {
    throw new InputError(
      "INPUT_INVALID",
      `${blobs.length} attachment blob(s) for ${expected} manifest entr${expected === 1 ? "y" : "ies"}`,
    );
  }
  const names = new Set<string>();
  for (const blob of blobs) {
    if (!BLOB_NAME_PATTERN.test(blob.blobName) || names.has(blob.blobName)) {
      throw new InputError("INPUT_INVALID", "an attachment blob name is malformed or repeated");
    }
    names.add(blob.blobName);
    checkSha256(blob.ciphertextSha256, "ciphertextSha256");
    if (!Number.isSafeInteger(blob.size) || blob.size < MIN_CIPHERTEXT_BYTES) {
      throw new InputError("INPUT_INVALID", "an attachment blob size is not a ciphertext size");
    }
  }
}

export function createAttachmentRows(db: Database.Database) {
  const insertStmt = db.prepare(
    `INSERT INTO attachments (message_seq, idx, blob_name, ciphertext_sha256, size)
     VALUES (?, ?, ?, ?, ?)`,
  );
  const listStmt = db.prepare<[number], AttachmentRow>(
    "SELECT idx, blob_name, ciphertext_sha256, size FROM attachments WHERE message_seq = ? ORDER BY idx",
  );
  const oneStmt = db.prepare<[number, number], AttachmentRow>(
    "SELECT idx, blob_name, ciphertext_sha256, size FROM attachments WHERE message_seq = ? AND idx = ?",
  );
  const toStored = (row: AttachmentRow): StoredAttachment => ({
    index: row.idx,
    blobName: row.blob_name,
    ciphertextSha256: row.ciphertext_sha256,
    size: row.size,
  });
  return {
    /** Inserts the blobs of message `seq` (call inside the transaction that inserts the message). */
    insert(seq: number, blobs: readonly AttachmentBlob[]): void {
      blobs.forEach((blob, idx) => {
        insertStmt.run(seq, idx, blob.blobName, blob.ciphertextSha256, blob.size);
      });
    },
    list(seq: number): StoredAttachment[] {
      return listStmt.all(seq).map(toStored);
    },
    get(seq: number, index: number): StoredAttachment | undefined {
      const row = oneStmt.get(seq, index);
      return row === undefined ? undefined : toStored(row);
    },
  };
}
