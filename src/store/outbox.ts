/**
 * The outbox (DESIGN.md, Delivery): a message is committed, with its sealed envelope, before any
 * send; the worker claims due rows (urgent first), then records the receipt, a retry or the
 * failure. State machine:
 *   queued → sending (claimDue) → delivered | rejected | queued (scheduleRetry) | failed
 *   queued → failed (markFailed, e.g. expired before a send);  sending → queued (recoverInFlight)
 */
import { sha256Hex } from "../envelope/digest.ts";
import { InputError, StoreError } from "../errors.ts";
import { checkAttachmentBlobs, createAttachmentRows } from "./attachment-rows.ts";
import type { AuditLog } from "./audit-log.ts";
import { checkPriority, prepareInsertMessage } from "./message-rows.ts";
import {
  checkLimit,
  checkPayloadDigest,
  clip,
  isoTime,
  type StoreContext,
} from "./store-context.ts";
import { guard } from "./store-errors.ts";
import type {
  ClaimedMessage,
  DeliveryFailure,
  EnqueueOutboundInput,
  EnqueueOutboundResult,
  OutboxState,
  ReceiptInput,
} from "./store-types.ts";

/** claimDue returns at most this many rows per call. */
export const MAX_CLAIM = 100;

interface ClaimRow {
  seq: number;
  id: string;
  from_authority: string;
  to_authority: string;
  type: string;
  thread_id: string;
  created_at: string;
  expires_at: string;
  urgent: 0 | 1;
  priority: number;
  jws: string;
  payload_sha256: string;
  envelope: string;
  attempts: number;
  stored_at: string;
}

interface OutboxRow {
  seq: number;
  to_authority: string;
  payload_sha256: string;
  state: OutboxState;
  attempts: number;
}

function checkFailure(error: DeliveryFailure): void {
  if (error.code.length === 0) throw new InputError("INPUT_INVALID", "error.code is empty");
}

export function createOutbox(ctx: StoreContext, audit: AuditLog) {
  const { db } = ctx;
  const insertMessage = prepareInsertMessage(db);
  const attachments = createAttachmentRows(db);
  const existingStmt = db.prepare<[string], { payload_sha256: string }>(
    "SELECT payload_sha256 FROM messages WHERE direction = 'out' AND id = ?",
  );
  const insertOutboxStmt = db.prepare(
    `INSERT INTO outbox (message_seq, state, attempts, next_attempt_at, envelope, updated_at)
     VALUES (?, 'queued', 0, ?, ?, ?)`,
  );
  const dueStmt = db.prepare<[string, number], ClaimRow>(
    `SELECT m.seq, m.id, m.from_authority, m.to_authority, m.type, m.thread_id, m.created_at,
            m.expires_at, m.urgent, m.priority, m.jws, m.payload_sha256, o.envelope, o.attempts,
            m.stored_at
       FROM outbox o JOIN messages m ON m.seq = o.message_seq
      WHERE o.state = 'queued' AND o.next_attempt_at <= ?
        -- Within a thread, messages go out in the order they were queued: a follow-up waits while
        -- an earlier message of its thread is queued or sending (the receiver's thread state
        -- machine would refuse it for good otherwise).
        AND NOT EXISTS (
          SELECT 1 FROM messages p JOIN outbox po ON po.message_seq = p.seq
           WHERE p.direction = 'out' AND p.thread_id = m.thread_id AND p.seq < m.seq
             AND po.state IN ('queued', 'sending'))
      ORDER BY m.urgent DESC, m.priority DESC, o.next_attempt_at, m.stored_at, m.seq
      LIMIT ?`,
  );
  const claimStmt = db.prepare(
    `UPDATE outbox SET state = 'sending', attempts = attempts + 1, updated_at = ?
      WHERE message_seq = ? AND state = 'queued'`,
  );
  const rowStmt = db.prepare<[string], OutboxRow>(
    `SELECT m.seq, m.to_authority, m.payload_sha256, o.state, o.attempts
       FROM messages m JOIN outbox o ON o.message_seq = m.seq
      WHERE m.direction = 'out' AND m.id = ?`,
  );
  const finishStmt = db.prepare(
    `UPDATE outbox SET state = ?, updated_at = ?, delivered_at = ?
      WHERE message_seq = ?`,
  );
  const retryStmt = db.prepare(
    `UPDATE outbox SET state = 'queued', next_attempt_at = ?, last_error_code = ?,
            last_error = ?, updated_at = ?
      WHERE message_seq = ?`,
  );
  const failStmt = db.prepare(
    `UPDATE outbox SET state = 'failed', last_error_code = ?, last_error = ?, updated_at = ?
      WHERE message_seq = ?`,
  );
  const recoverStmt = db.prepare(
    "UPDATE outbox SET state = 'queued', updated_at = ? WHERE state = 'sending'",
  );
  const insertReceiptStmt = db.prepare(
    `INSERT INTO receipts (message_seq, direction, receipt_jws, receipt_sha256, status, reason,
       recorded_at)
     VALUES (?, 'received', ?, ?, ?, ?, ?)`,
  );

  function enqueue(input: EnqueueOutboundInput, queuedAt: string): EnqueueOutboundResult {
    const { message } = input;
    const existing = existingStmt.get(message.id);
    if (existing !== undefined) {
      if (existing.payload_sha256 === input.payloadSha256) {
        return { outcome: "duplicate", id: message.id };
      }
      throw new StoreError(
        "DUPLICATE_CONFLICT",
        "An outbound message with this id and another signed payload is already queued",
        { details: { messageId: message.id } },
      );
    }
    const seq = insertMessage({
      direction: "out",
      message,
      jws: input.jws,
      payloadSha256: input.payloadSha256,
      envelopeSha256: null,
      urgent: input.urgent,
      priority: input.priority,
      storedAt: queuedAt,
    });
    insertOutboxStmt.run(seq, queuedAt, input.envelope, queuedAt);
    attachments.insert(seq, input.attachments ?? []);
    audit.append(
      "queued",
      message.id,
      {
        direction: "out",
        from: message.from,
        to: message.to,
        type: message.type,
        threadId: message.threadId,
        payloadSha256: input.payloadSha256,
        urgent: input.urgent,
        priority: input.priority,
      },
      queuedAt,
    );
    return { outcome: "queued", id: message.id };
  }

  function enqueueOutbound(input: EnqueueOutboundInput): EnqueueOutboundResult {
    checkPayloadDigest(input.jws, input.payloadSha256);
    checkPriority(input.priority);
    if (input.envelope.length === 0) throw new InputError("INPUT_INVALID", "envelope is empty");
    checkAttachmentBlobs(input.attachments ?? [], input.message.attachments.length);
    const queuedAt = isoTime(input.queuedAt ?? ctx.now(), "queuedAt");
    return guard("queue the outbound message", () =>
      db.transaction(enqueue).immediate(input, queuedAt),
    );
  }

  function claimDue(now: Date, limit: number): ClaimedMessage[] {
    const at = isoTime(now, "now");
    checkLimit(limit, MAX_CLAIM);
    return guard("claim due outbound messages", () =>
      db
        .transaction(() =>
          dueStmt.all(at, limit).map((row): ClaimedMessage => {
            claimStmt.run(at, row.seq);
            return {
              id: row.id,
              from: row.from_authority,
              to: row.to_authority,
              type: row.type,
              threadId: row.thread_id,
              createdAt: row.created_at,
              expiresAt: row.expires_at,
              urgent: row.urgent === 1,
              priority: row.priority,
              jws: row.jws,
              payloadSha256: row.payload_sha256,
              envelope: row.envelope,
              attachments: attachments.list(row.seq),
              attempts: row.attempts + 1,
              queuedAt: row.stored_at,
            };
          }),
        )
        .immediate(),
    );
  }

  /** Loads the outbound row and checks that `allowed` contains its state (inside a transaction). */
  function load(id: string, allowed: readonly OutboxState[]): OutboxRow {
    const row = rowStmt.get(id);
    if (row === undefined) {
      throw new StoreError("STORE_FAILED", "No outbound message has this id", {
        details: { messageId: id },
      });
    }
    if (!allowed.includes(row.state)) {
      throw new StoreError(
        "STORE_FAILED",
        `The outbound message is ${row.state}, not ${allowed.join(" or ")}`,
        { details: { messageId: id, state: row.state } },
      );
    }
    return row;
  }

  function finishWithReceipt(
    id: string,
    receipt: ReceiptInput,
    status: "accepted" | "rejected",
    reason: string | null,
  ): void {
    if (receipt.receiptJws.length === 0) {
      throw new InputError("INPUT_INVALID", "receiptJws is empty");
    }
    const at = isoTime(receipt.at, "at");
    const doing =
      status === "accepted" ? "mark the message delivered" : "mark the message rejected";
    guard(doing, () =>
      db
        .transaction(() => {
          const row = load(id, ["sending"]);
          const receiptSha256 = sha256Hex(receipt.receiptJws);
          insertReceiptStmt.run(row.seq, receipt.receiptJws, receiptSha256, status, reason, at);
          finishStmt.run(
            status === "accepted" ? "delivered" : "rejected",
            at,
            status === "accepted" ? at : null,
            row.seq,
          );
          audit.append(
            status === "accepted" ? "delivered" : "rejected",
            id,
            {
              direction: "out",
              to: row.to_authority,
              receiptSha256,
              reason,
              attempts: row.attempts,
            },
            at,
          );
        })
        .immediate(),
    );
  }

  function markDelivered(id: string, receipt: ReceiptInput): void {
    finishWithReceipt(id, receipt, "accepted", null);
  }

  function markRejected(id: string, receipt: ReceiptInput & { reason: string }): void {
    if (receipt.reason.length === 0) throw new InputError("INPUT_INVALID", "reason is empty");
    finishWithReceipt(id, receipt, "rejected", clip(receipt.reason, 200));
  }

  function scheduleRetry(id: string, error: DeliveryFailure, nextAttemptAt: Date): void {
    checkFailure(error);
    const next = isoTime(nextAttemptAt, "nextAttemptAt");
    guard("schedule a retry", () =>
      db
        .transaction(() => {
          const row = load(id, ["sending"]);
          retryStmt.run(
            next,
            clip(error.code, 100),
            clip(error.message),
            ctx.now().toISOString(),
            row.seq,
          );
        })
        .immediate(),
    );
  }

  function markFailed(id: string, error: DeliveryFailure, at: Date): void {
    checkFailure(error);
    const failedAt = isoTime(at, "at");
    guard("mark the message failed", () =>
      db
        .transaction(() => {
          const row = load(id, ["sending", "queued"]);
          const code = clip(error.code, 100);
          const message = clip(error.message);
          failStmt.run(code, message, failedAt, row.seq);
          audit.append(
            "failed",
            id,
            {
              direction: "out",
              to: row.to_authority,
              code,
              message,
              attempts: row.attempts,
            },
            failedAt,
          );
        })
        .immediate(),
    );
  }

  function recoverInFlight(): number {
    return guard(
      "recover in-flight messages",
      () => recoverStmt.run(ctx.now().toISOString()).changes,
    );
  }

  return {
    enqueueOutbound,
    claimDue,
    markDelivered,
    markRejected,
    scheduleRetry,
    markFailed,
    recoverInFlight,
  };
}
