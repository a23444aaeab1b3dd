/**
 * Numbered schema migrations (STYLE.md 9). Each `up` runs in one immediate transaction together
 * with `PRAGMA user_version = version`; a store whose user_version is above the last version here
 * was written by a newer mlax and is refused. Never edit a released migration: append a new one.
 *
 * Conventions: times are RFC 3339 UTC strings with milliseconds (`Date.toISOString`), which sort
 * lexicographically; digests are lowercase hex SHA-256; tables are STRICT.
 */
export interface Migration {
  readonly version: number;
  readonly up: string;
}

const V1_SCHEMA = `
-- One row per signed message, inbound or outbound. seq is internal (keyset pagination, foreign
-- keys); the message id is only unique per (direction, from) because peers choose their ids.
CREATE TABLE messages (
  seq INTEGER PRIMARY KEY,
  direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
  id TEXT NOT NULL,
  from_authority TEXT NOT NULL,
  to_authority TEXT NOT NULL,
  type TEXT NOT NULL,
  thread_id TEXT NOT NULL,
  in_reply_to TEXT,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  urgent INTEGER NOT NULL CHECK (urgent IN (0, 1)),
  priority INTEGER NOT NULL,
  -- the signed JWS compact, byte for byte (evidence)
  jws TEXT NOT NULL,
  -- SHA-256 of the JWS compact: the receipt's messageSha256 and the dedupe digest
  payload_sha256 TEXT NOT NULL CHECK (length(payload_sha256) = 64),
  -- SHA-256 of the JWE compact as received (inbound only)
  envelope_sha256 TEXT CHECK (envelope_sha256 IS NULL OR length(envelope_sha256) = 64),
  body_json TEXT NOT NULL,
  attachments_json TEXT NOT NULL,
  -- received_at (in) or queued_at (out)
  stored_at TEXT NOT NULL,
  UNIQUE (direction, from_authority, id),
  CHECK ((direction = 'in') = (envelope_sha256 IS NOT NULL))
) STRICT;
CREATE UNIQUE INDEX messages_out_id ON messages (id) WHERE direction = 'out';
CREATE INDEX messages_by_id ON messages (id);
CREATE INDEX messages_by_thread ON messages (thread_id, seq);
CREATE INDEX messages_listing ON messages (direction, seq);

-- Delivery state of outbound messages (DESIGN.md, Delivery). envelope is the sealed JWE compact,
-- kept so that every retry sends the same bytes.
CREATE TABLE outbox (
  message_seq INTEGER PRIMARY KEY REFERENCES messages (seq),
  state TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'delivered', 'rejected', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_at TEXT NOT NULL,
  last_error_code TEXT,
  last_error TEXT,
  envelope TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  delivered_at TEXT
) STRICT;
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);

-- At most one receipt per message: issued by us for an inbound message, received from the peer
-- for an outbound one. receipt_jws is kept byte for byte (a replay gets the same bytes back).
CREATE TABLE receipts (
  message_seq INTEGER PRIMARY KEY REFERENCES messages (seq),
  direction TEXT NOT NULL CHECK (direction IN ('issued', 'received')),
  receipt_jws TEXT NOT NULL,
  receipt_sha256 TEXT NOT NULL CHECK (length(receipt_sha256) = 64),
  status TEXT NOT NULL CHECK (status IN ('accepted', 'rejected')),
  reason TEXT,
  recorded_at TEXT NOT NULL
) STRICT;

CREATE TABLE security_events (
  id INTEGER PRIMARY KEY,
  at TEXT NOT NULL,
  kind TEXT NOT NULL,
  peer_authority TEXT,
  message_id TEXT,
  detail_json TEXT NOT NULL
) STRICT;
CREATE INDEX security_events_by_peer ON security_events (peer_authority, id);

-- Append-only hash chain (DESIGN.md, Evidence and audit):
-- hash = SHA-256(prev_hash || canonical JSON of {seq, time, kind, messageId, detail}).
CREATE TABLE audit_log (
  seq INTEGER PRIMARY KEY CHECK (seq >= 1),
  time TEXT NOT NULL,
  kind TEXT NOT NULL,
  message_id TEXT,
  detail_json TEXT NOT NULL,
  prev_hash TEXT NOT NULL CHECK (length(prev_hash) = 64),
  hash TEXT NOT NULL CHECK (length(hash) = 64)
) STRICT;

-- A new row must extend the chain: next seq, and prev_hash = hash of the last row (or 64 zeros).
CREATE TRIGGER audit_log_extends_chain BEFORE INSERT ON audit_log
WHEN NEW.seq IS NOT (SELECT coalesce(max(seq), 0) + 1 FROM audit_log)
  OR NEW.prev_hash IS NOT coalesce(
    (SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1),
    '0000000000000000000000000000000000000000000000000000000000000000')
BEGIN SELECT RAISE(ABORT, 'audit_log: the row does not extend the chain'); END;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

-- Signed checkpoints of the chain head; signature_jws is made by the caller with its sign key.
CREATE TABLE audit_checkpoints (
  seq INTEGER PRIMARY KEY REFERENCES audit_log (seq),
  hash TEXT NOT NULL CHECK (length(hash) = 64),
  signature_jws TEXT NOT NULL,
  created_at TEXT NOT NULL
) STRICT;
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;

-- Signed messages and receipts are evidence: they never change once written.
CREATE TRIGGER messages_no_update BEFORE UPDATE ON messages
BEGIN SELECT RAISE(ABORT, 'messages are immutable'); END;
CREATE TRIGGER receipts_no_update BEFORE UPDATE ON receipts
BEGIN SELECT RAISE(ABORT, 'receipts are immutable'); END;

-- Operator API bearer tokens: only the SHA-256 of the secret is stored.
CREATE TABLE tokens (
  id TEXT PRIMARY KEY,
  label TEXT NOT NULL,
  secret_sha256 TEXT NOT NULL UNIQUE CHECK (length(secret_sha256) = 64),
  created_at TEXT NOT NULL,
  last_used_at TEXT,
  revoked_at TEXT
) STRICT;

-- Small key/value facts about this node (e.g. the highest directory serial accepted).
CREATE TABLE node_state (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  updated_at TEXT NOT NULL
) STRICT;
`;

// Attachment ciphertexts (DESIGN.md wire protocol v1: files `attachment`, in manifest order). The
// STREAM ciphertext of attachment `idx` is the file <dataDir>/blobs/<blob_name> (a random name,
// never derived from peer or operator input); the row pins its SHA-256 and size, so every retry
// sends the same bytes and a receipt's attachmentsSha256 can be checked. Outbound messages have one
// row per manifest entry from the moment they are queued; inbound ones only when accepted. The blob
// file is fsync'd and renamed into place before the row commits: a crash leaves at most an orphan
// file, never a row without its file.
const V2_ATTACHMENTS = `
CREATE TABLE attachments (
  message_seq INTEGER NOT NULL REFERENCES messages (seq),
  idx INTEGER NOT NULL CHECK (idx >= 0 AND idx < 100),
  blob_name TEXT NOT NULL UNIQUE
    CHECK (length(blob_name) = 37 AND blob_name GLOB '[0-9a-f]*.blob'),
  -- SHA-256 and byte size of the ciphertext file (the plaintext ones are in the signed manifest)
  ciphertext_sha256 TEXT NOT NULL CHECK (length(ciphertext_sha256) = 64),
  size INTEGER NOT NULL CHECK (size >= 16),
  PRIMARY KEY (message_seq, idx)
) STRICT;
CREATE TRIGGER attachments_no_update BEFORE UPDATE ON attachments
BEGIN SELECT RAISE(ABORT, 'attachments are immutable'); END;
`;

export const MIGRATIONS: readonly Migration[] = [
  { version: 1, up: V1_SCHEMA },
  { version: 2, up: V2_ATTACHMENTS },
];

/** The schema version this code writes; a store above it is refused. */
export const LATEST_SCHEMA_VERSION = MIGRATIONS.reduce((max, m) => Math.max(max, m.version), 0);
