/**
 * Inbound messages (DESIGN.md, Delivery and wire protocol v1): the receiver stores the message and
 * its receipt in one transaction before answering, and decides dedupe inside that transaction:
 * same from + id + payload → the stored receipt byte for byte, no second delivery; same from + id
 * with another payload → conflict, security event, original kept (THREATS.md).
 */
import { sha256Hex } from "../envelope/digest.ts";
import { InputError } from "../errors.ts";
import { checkAttachmentBlobs, createAttachmentRows } from "./attachment-rows.ts";
import type { AuditLog } from "./audit-log.ts";
import { checkPriority, prepareInsertMessage } from "./message-rows.ts";
import type { SecurityEvents } from "./security-events.ts";
import {
  checkPayloadDigest,
  checkSha256,
  clip,
  isoTime,
  type StoreContext,
} from "./store-context.ts";
import { guard } from "./store-errors.ts";
import type {
  InboundRecord,
  ReceiptStatus,
  RecordInboundInput,
  RecordInboundResult,
} from "./store-types.ts";

interface InboundRow {
  payload_sha256: string;
  receipt_jws: string;
  status: ReceiptStatus;
}

export function createInbox(ctx: StoreContext, audit: AuditLog, security: SecurityEvents) {
  const { db } = ctx;
  const insertMessage = prepareInsertMessage(db);
  const attachments = createAttachmentRows(db);
  const findStmt = db.prepare<[string, string], InboundRow>(
    `SELECT m.payload_sha256, r.receipt_jws, r.status
       FROM messages m JOIN receipts r ON r.message_seq = m.seq
      WHERE m.direction = 'in' AND m.from_authority = ? AND m.id = ?`,
  );
  const insertReceiptStmt = db.prepare(
    `INSERT INTO receipts (message_seq, direction, receipt_jws, receipt_sha256, status, reason,
       recorded_at)
     VALUES (?, 'issued', ?, ?, ?, ?, ?)`,
  );

  function record(input: RecordInboundInput, receivedAt: string): RecordInboundResult {
    const { message } = input;
    const existing = findStmt.get(message.from, message.id);
    if (existing !== undefined) {
      if (existing.payload_sha256 === input.payloadSha256) {
        return {
          outcome: "duplicate",
          receiptJws: existing.receipt_jws,
          receiptStatus: existing.status,
        };
      }
      const securityEventId = security.record({
        kind: "duplicate_conflict",
        peerAuthority: message.from,
        messageId: message.id,
        detail: {
          storedPayloadSha256: existing.payload_sha256,
          offeredPayloadSha256: input.payloadSha256,
          offeredEnvelopeSha256: input.envelopeSha256,
        },
      });
      return { outcome: "conflict", storedPayloadSha256: existing.payload_sha256, securityEventId };
    }

    const seq = insertMessage({
      direction: "in",
      message,
      jws: input.jws,
      payloadSha256: input.payloadSha256,
      envelopeSha256: input.envelopeSha256,
      urgent: input.urgent ?? false,
      priority: input.priority ?? 0,
      storedAt: receivedAt,
    });
    attachments.insert(seq, input.attachments ?? []);
    const receiptSha256 = sha256Hex(input.receiptJws);
    const reason = input.reason === undefined ? null : clip(input.reason, 200);
    insertReceiptStmt.run(
      seq,
      input.receiptJws,
      receiptSha256,
      input.receiptStatus,
      reason,
      receivedAt,
    );
    const now = ctx.now().toISOString();
    audit.append(
      "received",
      message.id,
      {
        direction: "in",
        from: message.from,
        to: message.to,
        type: message.type,
        threadId: message.threadId,
        receivedAt,
        payloadSha256: input.payloadSha256,
        envelopeSha256: input.envelopeSha256,
      },
      now,
    );
    audit.append(
      input.receiptStatus,
      message.id,
      {
        direction: "in",
        from: message.from,
        receiptSha256,
        reason,
      },
      now,
    );
    return { outcome: "stored", receiptJws: input.receiptJws };
  }

  function recordInbound(input: RecordInboundInput): RecordInboundResult {
    checkPayloadDigest(input.jws, input.payloadSha256);
    checkSha256(input.envelopeSha256, "envelopeSha256");
    checkPriority(input.priority ?? 0);
    if (input.receiptJws.length === 0) {
      throw new InputError("INPUT_INVALID", "receiptJws is empty");
    }
    if (input.receiptStatus === "rejected" && !input.reason) {
      throw new InputError("INPUT_INVALID", "a rejected receipt needs a reason");
    }
    // A stored, accepted message always has its blobs; a rejected one keeps none.
    checkAttachmentBlobs(
      input.attachments ?? [],
      input.receiptStatus === "accepted" ? input.message.attachments.length : 0,
    );
    const receivedAt = isoTime(input.receivedAt, "receivedAt");
    return guard("record the inbound message", () =>
      db.transaction(record).immediate(input, receivedAt),
    );
  }

  function findInbound(from: string, id: string): InboundRecord | undefined {
    const row = guard("look up the inbound message", () => findStmt.get(from, id));
    return row === undefined
      ? undefined
      : {
          payloadSha256: row.payload_sha256,
          receiptJws: row.receipt_jws,
          receiptStatus: row.status,
        };
  }

  return { recordInbound, findInbound };
}
