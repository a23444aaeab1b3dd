/**
 * Receipts (DESIGN.md, wire protocol v1): the receiver's signed statement that it received,
 * decrypted and verified an envelope — or why it refused it. A PS256 JWS with
 * `typ: "mlax-receipt+jws"`, signed with the receiver's sign key. `messageSha256` is the SHA-256 of
 * the message JWS compact string, so a third party can check message and receipt together without
 * any decryption key.
 */
import type { X509Certificate } from "node:crypto";
import { z } from "zod";
import { type ErrorCode, EvidenceError, InputError, isMlaxError } from "../errors.ts";
import { parseJwsHeader, signJws, verifyJws } from "./jws.ts";
import { LIMITS } from "./limits.ts";
import { authorityIdSchema, SHA256_HEX_PATTERN, UUID_PATTERN } from "./message.ts";
import type { MessageHead } from "./open.ts";
import type { LocalKey, PinnedCertificate, TrustView } from "./trust.ts";
import { uuidv7 } from "./uuid.ts";

export const RECEIPT_TYP = "mlax-receipt+jws";
export const RECEIPT_STATUSES = ["accepted", "rejected"] as const;
export type ReceiptStatus = (typeof RECEIPT_STATUSES)[number];

const sha256Hex = z.string().regex(SHA256_HEX_PATTERN);

export const receiptSchema = z
  .strictObject({
    v: z.literal(1),
    type: z.literal("receipt"),
    id: z.string().regex(UUID_PATTERN),
    messageId: z.string().regex(UUID_PATTERN),
    /** The receiver: the authority of the signing key. */
    from: authorityIdSchema,
    /** The original sender. */
    to: authorityIdSchema,
    receivedAt: z.iso.datetime({ offset: false, precision: 3 }),
    status: z.enum(RECEIPT_STATUSES),
    /**
     * An mlax error code (docs/PROTOCOL.md). Checked by shape, not against our own catalogue, so
     * that a peer running a newer version with a new code still gets its receipt through.
     */
    reason: z
      .string()
      .regex(/^[A-Z][A-Z0-9_]{0,63}$/)
      .optional(),
    messageSha256: sha256Hex,
    envelopeSha256: sha256Hex,
    /** SHA-256 of each attachment ciphertext as received, in manifest order. */
    attachmentsSha256: z.array(sha256Hex).max(100),
  })
  .refine((r) => (r.status === "rejected") === (r.reason !== undefined), {
    message: "a rejected receipt states its reason; an accepted one has none",
    path: ["reason"],
  });

export type Receipt = z.infer<typeof receiptSchema>;

export interface CreateReceiptInput {
  /** The received message's id, from and to (from an Opened or a RefusedMessage). */
  readonly message: MessageHead;
  readonly messageSha256: string;
  readonly envelopeSha256: string;
  readonly attachmentsSha256?: readonly string[];
  readonly status: ReceiptStatus;
  /** Required when rejected: the code the message was refused with. */
  readonly reason?: ErrorCode;
  readonly receivedAt: Date;
  /** The receiver's sign key. Its authority is the receipt's `from`. */
  readonly signer: LocalKey;
  /** Certificates after the signer's in `x5c` (the network CA). */
  readonly chain?: readonly X509Certificate[];
  /** Random source for the receipt id (tests). */
  readonly random?: (size: number) => Uint8Array;
}

const encoder = new TextEncoder();

/**
 * Signs a receipt. `from` is the signer's authority, not `message.to`: a node that refuses a
 * message addressed to someone else (MESSAGE_WRONG_RECIPIENT) still speaks for itself.
 */
export async function createReceipt(input: CreateReceiptInput): Promise<string> {
  const candidate = {
    v: 1,
    type: "receipt",
    id: uuidv7(input.receivedAt, input.random),
    messageId: input.message.id,
    from: input.signer.authorityId,
    to: input.message.from,
    receivedAt: input.receivedAt.toISOString(),
    status: input.status,
    ...(input.reason !== undefined ? { reason: input.reason } : {}),
    messageSha256: input.messageSha256,
    envelopeSha256: input.envelopeSha256,
    attachmentsSha256: [...(input.attachmentsSha256 ?? [])],
  };
  const parsed = receiptSchema.safeParse(candidate);
  if (!parsed.success) {
    throw new InputError("INPUT_INVALID", "the receipt does not match the receipt schema", {
      details: { issues: parsed.error.issues },
    });
  }
  return signJws(encoder.encode(JSON.stringify(parsed.data)), {
    typ: RECEIPT_TYP,
    key: input.signer,
    chain: input.chain,
  });
}

export interface ReceiptExpectations {
  readonly messageId?: string;
  readonly messageSha256?: string;
  readonly envelopeSha256?: string;
  /** The receiver. */
  readonly from?: string;
  /** The original sender. */
  readonly to?: string;
}

const EXPECTABLE = ["messageId", "messageSha256", "envelopeSha256", "from", "to"] as const;

export interface VerifyReceiptOptions {
  readonly trust: TrustView;
  /** More instants at which the signer certificate must be valid (besides `receivedAt`). */
  readonly at?: readonly Date[];
  readonly expect?: ReceiptExpectations;
}

export interface VerifiedReceipt {
  readonly receipt: Receipt;
  readonly signer: PinnedCertificate;
}

/**
 * Verifies a receipt: shape, PS256 signature by a pinned sign certificate valid at `receivedAt`
 * (and at every `at`), `from` = the signer's authority, then the caller's expectations. A rejected
 * receipt is returned, not thrown: the caller decides what it means.
 */
export async function verifyReceipt(
  token: unknown,
  options: VerifyReceiptOptions,
): Promise<VerifiedReceipt> {
  try {
    return await verifyReceiptUnchecked(token, options);
  } catch (cause) {
    if (isMlaxError(cause)) {
      if (cause.code === "ENVELOPE_MALFORMED" || cause.code === "ENVELOPE_HEADER_INVALID") {
        throw new EvidenceError("RECEIPT_MALFORMED", cause.message, { cause });
      }
      throw cause;
    }
    throw new EvidenceError("INTERNAL", "unexpected failure while verifying a receipt", { cause });
  }
}

async function verifyReceiptUnchecked(
  token: unknown,
  options: VerifyReceiptOptions,
): Promise<VerifiedReceipt> {
  const { parts } = parseJwsHeader(token, RECEIPT_TYP, LIMITS.maxReceiptChars, "RECEIPT_MALFORMED");
  // The claimed receivedAt is read before the signature is checked only to name the instant at
  // which the signer certificate must be valid; it can only add a condition, never lift one.
  const claimed = parseReceipt(Buffer.from(parts[1] ?? "", "base64url"));
  const verified = await verifyJws(token, {
    typ: RECEIPT_TYP,
    trust: options.trust,
    role: "sign",
    at: [new Date(claimed.receivedAt), ...(options.at ?? [])],
    maxChars: LIMITS.maxReceiptChars,
    malformedCode: "RECEIPT_MALFORMED",
    signatureCode: "RECEIPT_SIGNATURE_INVALID",
  });
  const receipt = parseReceipt(verified.payload);
  const signer = verified.signer;
  if (receipt.from !== signer.authorityId) {
    throw new EvidenceError(
      "SIGNER_MISMATCH",
      `receipt.from is ${receipt.from} but it is signed by ${signer.authorityId}`,
    );
  }
  const expect = options.expect ?? {};
  for (const field of EXPECTABLE) {
    const expected = expect[field];
    if (expected === undefined) continue;
    const actual = receipt[field];
    if (actual !== expected) {
      throw new EvidenceError("RECEIPT_MISMATCH", `receipt ${field} does not match`, {
        details: { field, expected, actual },
      });
    }
  }
  return { receipt, signer };
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function parseReceipt(bytes: Uint8Array): Receipt {
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(bytes));
  } catch (cause) {
    throw new EvidenceError("RECEIPT_MALFORMED", "the receipt payload is not UTF-8 JSON", {
      cause,
    });
  }
  const parsed = receiptSchema.safeParse(value);
  if (!parsed.success) {
    throw new EvidenceError("RECEIPT_MALFORMED", "the receipt does not match the receipt schema", {
      details: { issues: parsed.error.issues },
    });
  }
  return parsed.data;
}
