/**
 * The `messages` row: how a verified Message and its JWS are written, and how a row reads back as
 * a MessageSummary. Shared by the inbox, the outbox and the listing.
 */
import type Database from "better-sqlite3";
import type { Message } from "../envelope/message.ts";
import { InputError } from "../errors.ts";
import type { Direction, MessageSummary, OutboxState, ReceiptStatus } from "./store-types.ts";

export interface MessageRow {
  seq: number;
  direction: Direction;
  id: string;
  from_authority: string;
  to_authority: string;
  type: string;
  thread_id: string;
  in_reply_to: string | null;
  created_at: string;
  expires_at: string;
  urgent: 0 | 1;
  priority: number;
  jws: string;
  payload_sha256: string;
  envelope_sha256: string | null;
  body_json: string;
  attachments_json: string;
  stored_at: string;
}

export interface NewMessage {
  readonly direction: Direction;
  readonly message: Message;
  readonly jws: string;
  readonly payloadSha256: string;
  readonly envelopeSha256: string | null;
  readonly urgent: boolean;
  readonly priority: number;
  readonly storedAt: string;
}

export function checkPriority(priority: number): void {
  if (!Number.isSafeInteger(priority)) {
    throw new InputError("INPUT_INVALID", "priority must be an integer");
  }
}

/** Returns a function inserting one message row and answering its seq. */
export function prepareInsertMessage(db: Database.Database): (row: NewMessage) => number {
  const stmt = db.prepare(
    `INSERT INTO messages (direction, id, from_authority, to_authority, type, thread_id,
       in_reply_to, created_at, expires_at, urgent, priority, jws, payload_sha256,
       envelope_sha256, body_json, attachments_json, stored_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  return (row) => {
    const m = row.message;
    const result = stmt.run(
      row.direction,
      m.id,
      m.from,
      m.to,
      m.type,
      m.threadId,
      m.inReplyTo ?? null,
      m.createdAt,
      m.expiresAt,
      row.urgent ? 1 : 0,
      row.priority,
      row.jws,
      row.payloadSha256,
      row.envelopeSha256,
      JSON.stringify(m.body),
      JSON.stringify(m.attachments),
      row.storedAt,
    );
    return Number(result.lastInsertRowid);
  };
}

export function toSummary(row: MessageRow, state: ReceiptStatus | OutboxState): MessageSummary {
  return {
    box: row.direction === "in" ? "inbox" : "outbox",
    id: row.id,
    from: row.from_authority,
    to: row.to_authority,
    type: row.type,
    threadId: row.thread_id,
    inReplyTo: row.in_reply_to,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    urgent: row.urgent === 1,
    priority: row.priority,
    storedAt: row.stored_at,
    state,
    body: JSON.parse(row.body_json) as Record<string, unknown>,
    attachments: JSON.parse(row.attachments_json) as MessageSummary["attachments"],
  };
}
