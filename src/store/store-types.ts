/**
 * The store's public contract: what the peer server, the outbox worker and the operator API call.
 * Implemented over better-sqlite3 by `openStore`; a PostgreSQL store can implement it later
 * (DESIGN.md, non-goals). All methods are synchronous except `checkpointAudit`, and every write is
 * one transaction. Failures throw StoreError (STORE_FAILED / STORE_CORRUPT); bad arguments throw
 * InputError (INPUT_INVALID).
 */
import type { AttachmentManifest, Message } from "../envelope/message.ts";
import type { AuditKind } from "./audit-hash.ts";

export type Direction = "in" | "out";
export type Box = "inbox" | "outbox";
export type OutboxState = "queued" | "sending" | "delivered" | "rejected" | "failed";
export type ReceiptStatus = "accepted" | "rejected";

// --- attachments (migration 2; files by blob-store.ts) ---

/** The ciphertext file of one attachment, as the `attachments` table names it. */
export interface AttachmentBlob {
  /** The file under <dataDir>/blobs (BLOB_NAME_PATTERN: random, never taken from input). */
  readonly blobName: string;
  /** SHA-256 hex of the ciphertext file (a receipt's `attachmentsSha256` entry). */
  readonly ciphertextSha256: string;
  /** Ciphertext bytes (at least 16: one GCM tag). */
  readonly size: number;
}

export interface StoredAttachment extends AttachmentBlob {
  /** 0-based position in the signed manifest. */
  readonly index: number;
}

/** One attachment of a stored message: its signed manifest entry and, when kept, its blob. */
export interface AttachmentRecord {
  readonly box: Box;
  readonly messageId: string;
  /** The signed message JWS compact: its payload holds the `attachmentKey`. */
  readonly jws: string;
  readonly manifest: AttachmentManifest;
  /** Absent when the ciphertext was not kept (an inbound message that was rejected). */
  readonly blob?: StoredAttachment;
}

// --- inbound (peer API) ---

export interface RecordInboundInput {
  /** The verified message. */
  readonly message: Message;
  /** Its signed JWS compact, byte for byte. */
  readonly jws: string;
  /** SHA-256 hex of `jws` (checked). */
  readonly payloadSha256: string;
  /** SHA-256 hex of the JWE compact as received. */
  readonly envelopeSha256: string;
  /** The receipt we signed for this message, stored and replayed byte for byte. */
  readonly receiptJws: string;
  readonly receiptStatus: ReceiptStatus;
  /** The rejection reason code (required when `receiptStatus` is `rejected`). */
  readonly reason?: string;
  readonly receivedAt: Date;
  /** For listing and triage; default false / 0. */
  readonly urgent?: boolean;
  /** Higher first; default 0. */
  readonly priority?: number;
  /**
   * The verified ciphertext blobs, in manifest order: exactly one per manifest entry when
   * accepted, none when rejected (default []). The files must already be in place (fsync'd).
   */
  readonly attachments?: readonly AttachmentBlob[];
}

export type RecordInboundResult =
  /** Message, issued receipt and audit rows committed: answer `receiptJws`. */
  | { readonly outcome: "stored"; readonly receiptJws: string }
  /** Same from + id + payload seen before: answer the stored receipt, deliver nothing. */
  | {
      readonly outcome: "duplicate";
      readonly receiptJws: string;
      readonly receiptStatus: ReceiptStatus;
    }
  /**
   * Same from + id, another payload: the original is kept, and a `duplicate_conflict` security
   * event (plus audit `security`) was committed in the same transaction. Answer 409
   * DUPLICATE_CONFLICT.
   */
  | {
      readonly outcome: "conflict";
      readonly storedPayloadSha256: string;
      readonly securityEventId: number;
    };

export interface InboundRecord {
  readonly payloadSha256: string;
  readonly receiptJws: string;
  readonly receiptStatus: ReceiptStatus;
}

// --- outbound (operator API enqueues, outbox worker delivers) ---

export interface EnqueueOutboundInput {
  readonly message: Message;
  readonly jws: string;
  /** SHA-256 hex of `jws` (checked). */
  readonly payloadSha256: string;
  /** The sealed JWE compact; every attempt sends these same bytes. */
  readonly envelope: string;
  readonly urgent: boolean;
  /** Higher first. */
  readonly priority: number;
  /** Default: the store clock. Also the first `nextAttemptAt`. */
  readonly queuedAt?: Date;
  /**
   * The ciphertext blobs, one per manifest entry in manifest order (default []); every attempt
   * sends these same files. They must already be in place (fsync'd).
   */
  readonly attachments?: readonly AttachmentBlob[];
}

export interface EnqueueOutboundResult {
  /** `duplicate`: the same id with the same payload was already queued; nothing changed. */
  readonly outcome: "queued" | "duplicate";
  readonly id: string;
}

/** An outbound message moved to `sending` by `claimDue`. */
export interface ClaimedMessage {
  readonly id: string;
  readonly from: string;
  readonly to: string;
  readonly type: string;
  readonly threadId: string;
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly urgent: boolean;
  readonly priority: number;
  readonly jws: string;
  readonly payloadSha256: string;
  readonly envelope: string;
  /** The ciphertext blobs to send as `attachment` parts, in manifest order. */
  readonly attachments: readonly StoredAttachment[];
  /** Attempts including this one. */
  readonly attempts: number;
  readonly queuedAt: string;
}

export interface DeliveryFailure {
  /** An ErrorCode such as PEER_UNREACHABLE, or a peer's problem code. */
  readonly code: string;
  readonly message: string;
}

export interface ReceiptInput {
  /** The peer's receipt JWS compact, already verified by the caller. */
  readonly receiptJws: string;
  readonly at: Date;
}

// --- listing (operator API) ---

export type ListMessagesQuery =
  | {
      readonly box: "inbox";
      readonly state?: ReceiptStatus;
      readonly limit?: number;
      readonly cursor?: string;
    }
  | {
      readonly box: "outbox";
      readonly state?: OutboxState;
      readonly limit?: number;
      readonly cursor?: string;
    };

export interface MessageSummary {
  readonly box: Box;
  readonly id: string;
  readonly from: string;
  readonly to: string;
  readonly type: string;
  readonly threadId: string;
  readonly inReplyTo: string | null;
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly urgent: boolean;
  readonly priority: number;
  /** received_at (inbox) or queued_at (outbox). */
  readonly storedAt: string;
  /** Receipt status for the inbox; delivery state for the outbox. */
  readonly state: ReceiptStatus | OutboxState;
  readonly body: Record<string, unknown>;
  readonly attachments: Message["attachments"];
}

export interface MessagePage {
  readonly items: readonly MessageSummary[];
  /** Pass back as `cursor` for the next page; absent on the last page. */
  readonly nextCursor?: string;
}

export interface DeliveryInfo {
  readonly state: OutboxState;
  readonly attempts: number;
  readonly nextAttemptAt: string;
  readonly lastErrorCode: string | null;
  readonly lastError: string | null;
  readonly updatedAt: string;
  readonly deliveredAt: string | null;
}

export interface StoredReceipt {
  readonly direction: "issued" | "received";
  readonly jws: string;
  readonly sha256: string;
  readonly status: ReceiptStatus;
  readonly reason: string | null;
  readonly recordedAt: string;
}

export interface MessageDetail extends MessageSummary {
  readonly jws: string;
  readonly payloadSha256: string;
  /** Inbound only. */
  readonly envelopeSha256: string | null;
  /** Outbound only. */
  readonly delivery?: DeliveryInfo;
  readonly receipt?: StoredReceipt;
}

export interface ThreadEntry {
  readonly direction: Direction;
  readonly id: string;
  readonly type: string;
  readonly from: string;
  readonly to: string;
  readonly createdAt: string;
  readonly body: Record<string, unknown>;
}

export interface GetMessageOptions {
  readonly box?: Box;
  /** Narrows inbound ids, which are unique per sender only. */
  readonly from?: string;
}

// --- security events and audit ---

export type SecurityEventKind =
  | "duplicate_conflict"
  | "client_mismatch"
  | "signer_mismatch"
  | "envelope_rejected"
  | "receipt_invalid"
  | "directory_rollback";

export interface SecurityEventInput {
  readonly kind: SecurityEventKind;
  readonly peerAuthority?: string;
  readonly messageId?: string;
  readonly detail?: Record<string, unknown>;
  /** Default: the store clock. */
  readonly at?: Date;
}

export interface SecurityEvent {
  readonly id: number;
  readonly at: string;
  readonly kind: SecurityEventKind;
  readonly peerAuthority: string | null;
  readonly messageId: string | null;
  readonly detail: Record<string, unknown>;
}

export interface AuditEntry {
  readonly seq: number;
  readonly time: string;
  readonly kind: AuditKind;
  readonly messageId: string | null;
  readonly detail: Record<string, unknown>;
  readonly prevHash: string;
  readonly hash: string;
}

export interface AuditHead {
  readonly seq: number;
  readonly hash: string;
}

export interface AuditCheckpoint extends AuditHead {
  readonly signatureJws: string;
  readonly createdAt: string;
}

export type AuditBreak =
  | "seq_gap"
  | "prev_hash_mismatch"
  | "hash_mismatch"
  | "row_unreadable"
  | "checkpoint_mismatch"
  | "checkpoint_beyond_head";

export type AuditChainResult =
  | { readonly ok: true; readonly count: number; readonly head?: AuditHead }
  | { readonly ok: false; readonly brokenAt: number; readonly reason: AuditBreak };

// --- tokens and node state ---

export interface TokenInfo {
  readonly id: string;
  readonly label: string;
  readonly createdAt: string;
  readonly lastUsedAt: string | null;
  readonly revokedAt: string | null;
}

export interface CreatedToken {
  readonly id: string;
  /** `mlax_` + 32 random bytes base64url. Shown once; only its SHA-256 is stored. */
  readonly secret: string;
}

export type IntegrityResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly problems: readonly string[] };

/** The connection settings as SQLite reports them (for tests and `status`). */
export interface StorePragmas {
  readonly journalMode: string;
  /** 2 = FULL. */
  readonly synchronous: number;
  readonly foreignKeys: boolean;
  readonly busyTimeoutMs: number;
  readonly schemaVersion: number;
}

export interface Store {
  readonly path: string;
  close(): void;
  /** `PRAGMA integrity_check` (full) and `PRAGMA foreign_key_check`. */
  integrityCheck(): IntegrityResult;
  pragmas(): StorePragmas;

  /** Stores message + issued receipt + audit `received` and `accepted`/`rejected` atomically. */
  recordInbound(input: RecordInboundInput): RecordInboundResult;
  /** Fast-path dedupe lookup before signing a receipt; `recordInbound` decides again. */
  findInbound(from: string, id: string): InboundRecord | undefined;

  /** Commits message + outbox row (`queued`) + audit `queued` before any send. */
  enqueueOutbound(input: EnqueueOutboundInput): EnqueueOutboundResult;
  /**
   * Atomically moves up to `limit` due `queued` rows to `sending` (attempts + 1) and returns them:
   * urgent first, then higher priority, then earlier nextAttemptAt, then earlier queuedAt.
   */
  claimDue(now: Date, limit: number): ClaimedMessage[];
  /** `sending` → `delivered`, storing the peer's accepted receipt; audit `delivered`. */
  markDelivered(id: string, receipt: ReceiptInput): void;
  /** `sending` → `rejected`, storing the peer's rejected receipt; audit `rejected`. */
  markRejected(id: string, receipt: ReceiptInput & { readonly reason: string }): void;
  /** `sending` → `queued` with the error, due again at `nextAttemptAt`. */
  scheduleRetry(id: string, error: DeliveryFailure, nextAttemptAt: Date): void;
  /** `sending` or `queued` → `failed`; audit `failed`. */
  markFailed(id: string, error: DeliveryFailure, at: Date): void;
  /** At start-up: `sending` → `queued` (a crash mid-send loses nothing). Returns the count. */
  recoverInFlight(): number;

  /** Newest first, keyset-paged; limit 1..200 (default 50). */
  listMessages(query: ListMessagesQuery): MessagePage;
  /**
   * One message with its delivery state and receipt. Without options an outbound message wins
   * over an inbound one with the same id, and the earliest inbound one over later ones.
   */
  getMessage(id: string, options?: GetMessageOptions): MessageDetail | undefined;
  /**
   * Attachment `index` of the message `getMessage(id, options)` finds: its manifest entry and blob.
   * Undefined when there is no such message or no such index.
   */
  getAttachment(
    id: string,
    index: number,
    options?: GetMessageOptions,
  ): AttachmentRecord | undefined;
  /** How many messages of a box are in each state (receipt status or delivery state). */
  countMessages(box: Box): Record<string, number>;
  /** Whether a committed blob file belongs to a stored attachment (orphan sweeping). */
  isBlobReferenced(name: string): boolean;

  /**
   * The messages of a thread that count for its state (inbound accepted, outbound not rejected or
   * failed), oldest first — the input of the thread state machine.
   */
  threadMessages(threadId: string): ThreadEntry[];

  /** Stores a security event and its audit `security` row; returns the event id. */
  recordSecurityEvent(input: SecurityEventInput): number;
  /** Newest first. */
  listSecurityEvents(options?: {
    readonly limit?: number;
    readonly beforeId?: number;
  }): SecurityEvent[];

  /**
   * Walks the hash chain and the checkpoints. Incremental by default: from the head this
   * connection verified last (if its row is unchanged); `full` rehashes everything.
   */
  verifyAuditChain(options?: { readonly full?: boolean }): AuditChainResult;
  auditHead(): AuditHead | undefined;
  /** In seq order, for export and offline verification. */
  readAuditLog(options?: { readonly afterSeq?: number; readonly limit?: number }): AuditEntry[];
  /** Stores a checkpoint the caller signed; `hash` must be the row hash at `seq`. */
  recordAuditCheckpoint(checkpoint: {
    readonly seq: number;
    readonly hash: string;
    readonly signatureJws: string;
    readonly at?: Date;
  }): AuditCheckpoint;
  /** Signs the current head with `sign` and stores it; undefined when the log is empty. */
  checkpointAudit(sign: (head: AuditHead) => Promise<string>): Promise<AuditCheckpoint | undefined>;
  listAuditCheckpoints(): AuditCheckpoint[];

  createToken(label: string): CreatedToken;
  /** The token id for a valid, unrevoked secret, else undefined. */
  verifyToken(secret: string): string | undefined;
  /** True when the token existed and was not yet revoked. */
  revokeToken(id: string): boolean;
  listTokens(): TokenInfo[];

  getState(key: string): string | undefined;
  setState(key: string, value: string): void;
  /** The highest directory serial accepted so far. */
  directorySerial(): number | undefined;
  /**
   * Records `serial` if it is not lower than the stored one (rollback protection, DESIGN.md trust
   * model). Returns false, changing nothing, for a lower serial.
   */
  raiseDirectorySerial(serial: number): boolean;
}

export interface OpenStoreOptions {
  /** The clock for rows stamped by the store. Default: `() => new Date()`. */
  readonly now?: () => Date;
  /** SQLite busy timeout in milliseconds. Default 5000. */
  readonly busyTimeoutMs?: number;
}
