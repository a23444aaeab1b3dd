/**
 * Opening (DESIGN.md, wire protocol v1): the inverse of seal, as a receiving node does it. Every
 * step refuses with its own code; the HTTP layer decides what a peer is told (STYLE.md §3).
 *
 * - not opened, not authentic → EnvelopeError / PkiError (no receipt: problem+json);
 * - authentic but refused → MessageRefusedError carrying a RefusedMessage (signed rejected receipt).
 *
 * `open` throws nothing but MlaxError instances and does bounded work: sizes are capped before any
 * parsing, zip is refused, and the only crypto is one RSA-OAEP decryption, one AES-GCM decryption
 * and one PS256 verification.
 */
import { compactDecrypt } from "jose";
import { ConfigError, EnvelopeError, isMlaxError, MessageRefusedError } from "../errors.ts";
import { certificateThumbprintS256 } from "../pki/fingerprint.ts";
import { AUTHORITY_ID_PATTERN } from "../pki/roles.ts";
import { splitCompact } from "./compact.ts";
import { sha256Hex } from "./digest.ts";
import {
  checkEnvelopeParts,
  type EnvelopeRecipient,
  JWE_CONTENT_ALGORITHM,
  JWE_KEY_ALGORITHM,
  MESSAGE_TYP,
} from "./jwe-header.ts";
import { verifyJws } from "./jws.ts";
import { LIMITS } from "./limits.ts";
import { type Message, messageSchema, UUID_PATTERN } from "./message.ts";
import type { LocalKey, PinnedCertificate, TrustView } from "./trust.ts";

export interface OpenOptions {
  /** The local authority and its enc key (the one the envelope must be sealed to). */
  readonly self: { readonly authorityId: string; readonly enc: LocalKey };
  readonly trust: TrustView;
  readonly now: Date;
  /** Allowed clock skew for `createdAt` (LIMITS.clockSkewMs, 5 minutes, by default). */
  readonly skewMs?: number;
}

export interface Opened {
  readonly message: Message;
  /** The signed message as received (JWS compact). */
  readonly jws: string;
  /** Lowercase hex SHA-256 of `jws`, for the receipt. */
  readonly messageSha256: string;
  /** Lowercase hex SHA-256 of the envelope, for the receipt. */
  readonly envelopeSha256: string;
  /** The signer as the trust view resolved it (role sign, authority = message.from). */
  readonly signer: PinnedCertificate;
}

/** What a rejected receipt needs: the signed id, from and to. */
export interface MessageHead {
  readonly id: string;
  readonly from: string;
  readonly to: string;
}

/** The payload of a MessageRefusedError thrown by `open`: authentic, but refused. */
export interface RefusedMessage {
  /** id, from and to as signed (from is the verified signer's authority). */
  readonly message: MessageHead;
  /** The whole message when it matches the schema; undefined for MESSAGE_INVALID. */
  readonly parsed: Message | undefined;
  readonly jws: string;
  readonly messageSha256: string;
  readonly envelopeSha256: string;
  readonly signer: PinnedCertificate;
}

/** An opened message refused afterwards by a later check (domain rules, attachments). */
export function refusedFromOpened(opened: Opened): RefusedMessage {
  return {
    message: { id: opened.message.id, from: opened.message.from, to: opened.message.to },
    parsed: opened.message,
    jws: opened.jws,
    messageSha256: opened.messageSha256,
    envelopeSha256: opened.envelopeSha256,
    signer: opened.signer,
  };
}

/** The RefusedMessage of an error thrown by `open`, or undefined for any other error. */
export function refusedMessageOf(error: unknown): RefusedMessage | undefined {
  if (!(error instanceof MessageRefusedError)) return undefined;
  const r = error.refused as Partial<RefusedMessage> | undefined;
  return r?.message && typeof r.jws === "string" && r.signer ? (r as RefusedMessage) : undefined;
}

type RefusalCode =
  | "MESSAGE_WRONG_RECIPIENT"
  | "MESSAGE_EXPIRED"
  | "MESSAGE_FROM_FUTURE"
  | "MESSAGE_INVALID";

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Decrypts, authenticates and checks an envelope addressed to `options.self`. */
export async function open(envelope: unknown, options: OpenOptions): Promise<Opened> {
  try {
    return await openEnvelope(envelope, options);
  } catch (cause) {
    if (isMlaxError(cause)) throw cause;
    throw new EnvelopeError("INTERNAL", "unexpected failure while opening an envelope", { cause });
  }
}

async function openEnvelope(envelope: unknown, options: OpenOptions): Promise<Opened> {
  const { self, trust, now } = options;
  const recipient = localRecipient(self);

  // a. RFC 7516 §7.1 compact form: five canonical base64url parts, size capped.
  const parts = splitCompact(envelope, {
    parts: 5,
    maxChars: LIMITS.maxEnvelopeChars,
    maxHeaderChars: LIMITS.maxHeaderChars,
  });
  // b. Our header profile and part lengths, before jose sees anything.
  checkEnvelopeParts(parts, recipient);
  const token = envelope as string;
  const envelopeSha256 = sha256Hex(token);

  // c. RFC 7516 §5.2, with jose restricted to our algorithms and compression disabled.
  let plaintext: Uint8Array;
  try {
    ({ plaintext } = await compactDecrypt(token, self.enc.privateKey, {
      keyManagementAlgorithms: [JWE_KEY_ALGORITHM],
      contentEncryptionAlgorithms: [JWE_CONTENT_ALGORITHM],
      maxDecompressedLength: 0,
    }));
  } catch (cause) {
    throw new EnvelopeError("ENVELOPE_DECRYPTION_FAILED", "the envelope does not decrypt", {
      cause,
    });
  }

  // d. The plaintext is the sender's JWS; the signer comes from the trust view, valid now.
  let jws: string;
  try {
    jws = utf8.decode(plaintext);
  } catch (cause) {
    throw new EnvelopeError("ENVELOPE_MALFORMED", "the decrypted JWS is not UTF-8", { cause });
  }
  const verified = await verifyJws(jws, { typ: MESSAGE_TYP, trust, role: "sign", at: [now] });
  const signer = verified.signer;
  const messageSha256 = sha256Hex(jws);

  // e. Authentic from here on. The payload must be an mlax message from the signer.
  const payload = parseJsonObject(verified.payload);
  if (payload === undefined) {
    throw new EnvelopeError("MESSAGE_INVALID", "the signed payload is not a JSON object");
  }
  if (typeof payload.from === "string" && payload.from !== signer.authorityId) {
    // RFC 8725 §3.12 / THREATS.md: `from` must be the authority of the signing certificate.
    throw new EnvelopeError(
      "SIGNER_MISMATCH",
      `message.from is ${payload.from} but it is signed by ${signer.authorityId}`,
    );
  }
  const head = readHead(payload);
  const refused = (parsed: Message | undefined, message: MessageHead): RefusedMessage => ({
    message,
    parsed,
    jws,
    messageSha256,
    envelopeSha256,
    signer,
  });
  const result = messageSchema.safeParse(payload);
  if (!result.success) {
    const details = { issues: result.error.issues };
    if (head === undefined) {
      throw new EnvelopeError("MESSAGE_INVALID", "the signed payload has no readable id/from/to", {
        details,
      });
    }
    throw new MessageRefusedError(
      "MESSAGE_INVALID",
      "the signed payload is not a valid mlax message",
      refused(undefined, head),
      { details },
    );
  }
  const message = result.data;
  const createdAt = new Date(message.createdAt);
  const expiresAt = new Date(message.expiresAt);
  // THREATS.md: the signer certificate must be valid at the message time as well as now.
  trust.resolveSigner(verified.x5c, [createdAt]);

  // f. Authentic but refused: answered with a signed rejected receipt.
  const signedHead = { id: message.id, from: message.from, to: message.to };
  const refuse = (code: RefusalCode, text: string) =>
    new MessageRefusedError(code, text, refused(message, signedHead));
  if (message.to !== self.authorityId) {
    // RFC 8725 §3.12: a message re-encrypted by its recipient to a third party.
    throw refuse("MESSAGE_WRONG_RECIPIENT", `the message is addressed to ${message.to}`);
  }
  if (now.getTime() > expiresAt.getTime()) {
    throw refuse("MESSAGE_EXPIRED", `the message expired at ${message.expiresAt}`);
  }
  const skewMs = options.skewMs ?? LIMITS.clockSkewMs;
  if (createdAt.getTime() > now.getTime() + skewMs) {
    throw refuse("MESSAGE_FROM_FUTURE", `createdAt ${message.createdAt} is beyond the clock skew`);
  }
  if (expiresAt.getTime() <= createdAt.getTime()) {
    throw refuse("MESSAGE_INVALID", "expiresAt is not after createdAt");
  }
  return { message, jws, messageSha256, envelopeSha256, signer };
}

function localRecipient(self: OpenOptions["self"]): EnvelopeRecipient {
  const bits = self.enc.privateKey.asymmetricKeyDetails?.modulusLength;
  if (self.enc.privateKey.asymmetricKeyType !== "rsa" || bits === undefined) {
    throw new ConfigError("CONFIG_INVALID", "the local enc key must be an RSA private key");
  }
  if (self.enc.authorityId !== self.authorityId) {
    throw new ConfigError("CONFIG_INVALID", "the local enc key belongs to another authority");
  }
  return {
    thumbprint: certificateThumbprintS256(self.enc.certificate),
    modulusBytes: Math.ceil(bits / 8),
  };
}

function parseJsonObject(bytes: Uint8Array): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(utf8.decode(bytes));
    if (typeof value === "object" && value !== null && !Array.isArray(value)) {
      return value as Record<string, unknown>;
    }
  } catch {
    // not UTF-8 or not JSON: undefined below
  }
  return undefined;
}

/** id, from and to when each is well formed: enough to address a rejected receipt. */
function readHead(payload: Record<string, unknown>): MessageHead | undefined {
  const { id, from, to } = payload;
  if (typeof id !== "string" || !UUID_PATTERN.test(id)) return undefined;
  if (typeof from !== "string" || !AUTHORITY_ID_PATTERN.test(from)) return undefined;
  if (typeof to !== "string" || !AUTHORITY_ID_PATTERN.test(to)) return undefined;
  return { id, from, to };
}
