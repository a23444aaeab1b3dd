/**
 * Message listings for the operator API: the inbox and the outbox, newest first, with keyset
 * pagination on the internal seq (no gaps or repeats while rows are added), and one message with
 * its delivery state and receipt.
 */
import type { AttachmentManifest } from "../envelope/message.ts";
import { createAttachmentRows } from "./attachment-rows.ts";
import { type MessageRow, toSummary } from "./message-rows.ts";
import { decodeCursor, encodeCursor } from "./page-cursor.ts";
import type { StoreContext } from "./store-context.ts";
import { checkLimit } from "./store-context.ts";
import { guard } from "./store-errors.ts";
import type {
  AttachmentRecord,
  Box,
  Direction,
  GetMessageOptions,
  ListMessagesQuery,
  MessageDetail,
  MessagePage,
  OutboxState,
  ReceiptStatus,
  StoredReceipt,
  ThreadEntry,
} from "./store-types.ts";

export const MAX_PAGE = 200;
const DEFAULT_PAGE = 50;

type ListedRow = MessageRow & { state: ReceiptStatus | OutboxState };

interface ListParams {
  before: number;
  state: string | null;
  limit: number;
}

interface OutboxDetailRow {
  state: OutboxState;
  attempts: number;
  next_attempt_at: string;
  last_error_code: string | null;
  last_error: string | null;
  updated_at: string;
  delivered_at: string | null;
}

interface ThreadRow {
  direction: Direction;
  id: string;
  type: string;
  from_authority: string;
  to_authority: string;
  created_at: string;
  body_json: string;
}

interface ReceiptRow {
  direction: "issued" | "received";
  receipt_jws: string;
  receipt_sha256: string;
  status: ReceiptStatus;
  reason: string | null;
  recorded_at: string;
}

export function createListing(ctx: StoreContext) {
  const { db } = ctx;
  const inboxStmt = db.prepare<ListParams, ListedRow>(
    `SELECT m.*, r.status AS state
       FROM messages m JOIN receipts r ON r.message_seq = m.seq
      WHERE m.direction = 'in' AND m.seq < @before AND (@state IS NULL OR r.status = @state)
      ORDER BY m.seq DESC LIMIT @limit`,
  );
  const outboxStmt = db.prepare<ListParams, ListedRow>(
    `SELECT m.*, o.state AS state
       FROM messages m JOIN outbox o ON o.message_seq = m.seq
      WHERE m.direction = 'out' AND m.seq < @before AND (@state IS NULL OR o.state = @state)
      ORDER BY m.seq DESC LIMIT @limit`,
  );
  const byIdStmt = db.prepare<
    { id: string; direction: string | null; from: string | null },
    MessageRow
  >(
    `SELECT * FROM messages
      WHERE id = @id AND (@direction IS NULL OR direction = @direction)
        AND (@from IS NULL OR from_authority = @from)
      ORDER BY direction = 'out' DESC, seq LIMIT 1`,
  );
  const outboxRowStmt = db.prepare<[number], OutboxDetailRow>(
    "SELECT * FROM outbox WHERE message_seq = ?",
  );
  const receiptStmt = db.prepare<[number], ReceiptRow>(
    "SELECT * FROM receipts WHERE message_seq = ?",
  );
  const attachments = createAttachmentRows(db);

  const threadStmt = db.prepare<[string], ThreadRow>(
    `SELECT m.direction, m.id, m.type, m.from_authority, m.to_authority, m.created_at, m.body_json
       FROM messages m
       LEFT JOIN receipts r ON r.message_seq = m.seq
       LEFT JOIN outbox o ON o.message_seq = m.seq
      WHERE m.thread_id = ?
        AND ((m.direction = 'in' AND r.status = 'accepted')
          OR (m.direction = 'out' AND o.state NOT IN ('rejected', 'failed')))
      ORDER BY m.created_at, m.seq
      LIMIT 10000`,
  );

  function threadMessages(threadId: string): ThreadEntry[] {
    return guard("read the thread", () =>
      threadStmt.all(threadId).map((r) => ({
        direction: r.direction,
        id: r.id,
        type: r.type,
        from: r.from_authority,
        to: r.to_authority,
        createdAt: r.created_at,
        body: JSON.parse(r.body_json) as Record<string, unknown>,
      })),
    );
  }

  function listMessages(query: ListMessagesQuery): MessagePage {
    const limit = query.limit ?? DEFAULT_PAGE;
    checkLimit(limit, MAX_PAGE);
    const state = query.state ?? null;
    const before =
      query.cursor === undefined
        ? Number.MAX_SAFE_INTEGER
        : decodeCursor(query.cursor, { box: query.box, state });
    const stmt = query.box === "inbox" ? inboxStmt : outboxStmt;
    return guard("list messages", () => {
      // One extra row tells whether another page follows.
      const rows = stmt.all({ before, state, limit: limit + 1 });
      const page = rows.slice(0, limit);
      const items = page.map((row) => toSummary(row, row.state));
      const last = page.at(-1);
      return rows.length > limit && last !== undefined
        ? { items, nextCursor: encodeCursor({ box: query.box, state, seq: last.seq }) }
        : { items };
    });
  }

  function getMessage(id: string, options: GetMessageOptions = {}): MessageDetail | undefined {
    const direction = options.box === undefined ? null : options.box === "inbox" ? "in" : "out";
    return guard("read the message", () =>
      db.transaction((): MessageDetail | undefined => {
        const row = byIdStmt.get({ id, direction, from: options.from ?? null });
        if (row === undefined) return undefined;
        const outbox = row.direction === "out" ? outboxRowStmt.get(row.seq) : undefined;
        const receipt = receiptStmt.get(row.seq);
        const state = outbox?.state ?? receipt?.status ?? "queued";
        return {
          ...toSummary(row, state),
          jws: row.jws,
          payloadSha256: row.payload_sha256,
          envelopeSha256: row.envelope_sha256,
          ...(outbox === undefined
            ? {}
            : {
                delivery: {
                  state: outbox.state,
                  attempts: outbox.attempts,
                  nextAttemptAt: outbox.next_attempt_at,
                  lastErrorCode: outbox.last_error_code,
                  lastError: outbox.last_error,
                  updatedAt: outbox.updated_at,
                  deliveredAt: outbox.delivered_at,
                },
              }),
          ...(receipt === undefined ? {} : { receipt: toStoredReceipt(receipt) }),
        };
      })(),
    );
  }

  function getAttachment(
    id: string,
    index: number,
    options: GetMessageOptions = {},
  ): AttachmentRecord | undefined {
    if (!Number.isSafeInteger(index) || index < 0) return undefined;
    const direction = options.box === undefined ? null : options.box === "inbox" ? "in" : "out";
    return guard("read the attachment", () =>
      db.transaction((): AttachmentRecord | undefined => {
        const row = byIdStmt.get({ id, direction, from: options.from ?? null });
        if (row === undefined) return undefined;
        const manifest = (JSON.parse(row.attachments_json) as AttachmentManifest[])[index];
        if (manifest === undefined) return undefined;
        const blob = attachments.get(row.seq, index);
        return {
          box: row.direction === "in" ? "inbox" : "outbox",
          messageId: row.id,
          jws: row.jws,
          manifest,
          ...(blob === undefined ? {} : { blob }),
        };
      })(),
    );
  }

  const blobReferencedStmt = db.prepare<[string], { one: number }>(
    "SELECT 1 AS one FROM attachments WHERE blob_name = ?",
  );

  function isBlobReferenced(name: string): boolean {
    return guard("read the attachments", () => blobReferencedStmt.get(name) !== undefined);
  }

  const countInboxStmt = db.prepare<[], { state: string; n: number }>(
    `SELECT r.status AS state, count(*) AS n FROM messages m JOIN receipts r ON r.message_seq = m.seq
      WHERE m.direction = 'in' GROUP BY r.status`,
  );
  const countOutboxStmt = db.prepare<[], { state: string; n: number }>(
    `SELECT o.state AS state, count(*) AS n FROM messages m JOIN outbox o ON o.message_seq = m.seq
      WHERE m.direction = 'out' GROUP BY o.state`,
  );

  function countMessages(box: Box): Record<string, number> {
    return guard("count messages", () =>
      Object.fromEntries(
        (box === "inbox" ? countInboxStmt : countOutboxStmt).all().map((r) => [r.state, r.n]),
      ),
    );
  }

  return {
    listMessages,
    getMessage,
    getAttachment,
    threadMessages,
    isBlobReferenced,
    countMessages,
  };
}

function toStoredReceipt(row: ReceiptRow): StoredReceipt {
  return {
    direction: row.direction,
    jws: row.receipt_jws,
    sha256: row.receipt_sha256,
    status: row.status,
    reason: row.reason,
    recordedAt: row.recorded_at,
  };
}
