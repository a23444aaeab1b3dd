/**
 * What `GET /api/v1/messages/:id` answers: the stored message with its delivery state (outbound),
 * and its receipt both raw (the JWS compact, byte for byte, for offline verification) and decoded.
 * The receipt was verified before it was stored (outbound) or signed by this node (inbound), so the
 * payload is decoded here, not verified again.
 */
import type { Receipt } from "../envelope/receipt.ts";
import type { MessageDetail, StoredReceipt } from "../store/index.ts";

export interface ReceiptView extends StoredReceipt {
  /** The decoded receipt payload; absent only if the stored JWS cannot be decoded. */
  readonly payload?: Receipt;
}

export interface MessageView extends Omit<MessageDetail, "receipt"> {
  readonly receipt?: ReceiptView;
}

function decodePayload(jws: string): Receipt | undefined {
  const part = jws.split(".")[1];
  if (part === undefined) return undefined;
  try {
    return JSON.parse(Buffer.from(part, "base64url").toString("utf8")) as Receipt;
  } catch {
    return undefined;
  }
}

export function toMessageView(detail: MessageDetail): MessageView {
  const { receipt, ...rest } = detail;
  if (receipt === undefined) return rest;
  const payload = decodePayload(receipt.jws);
  return { ...rest, receipt: { ...receipt, ...(payload ? { payload } : {}) } };
}
