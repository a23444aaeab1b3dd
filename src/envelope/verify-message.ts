/**
 * Offline verification of a signed message (the JWS inside an envelope), for auditors and courts:
 * no decryption key is needed. The signer certificate must be usable at the message's own
 * `createdAt` (and at any extra instants given), so evidence stays verifiable after the certificate
 * expires.
 */
import { EnvelopeError, isMlaxError } from "../errors.ts";
import { sha256Hex } from "./digest.ts";
import { MESSAGE_TYP } from "./jwe-header.ts";
import { parseJwsHeader, verifyJws } from "./jws.ts";
import { LIMITS } from "./limits.ts";
import { type Message, messageSchema } from "./message.ts";
import type { PinnedCertificate, TrustView } from "./trust.ts";

export const MESSAGE_JWS_TYP = MESSAGE_TYP;

export interface VerifiedMessage {
  readonly message: Message;
  readonly jws: string;
  readonly messageSha256: string;
  readonly signer: PinnedCertificate;
}

/** Reads a time field of an unverified JWS payload, only to choose when to validate the signer. */
export function peekPayloadTime(token: string, field: string): Date | undefined {
  try {
    const payload = JSON.parse(
      Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8"),
    );
    const value = payload?.[field];
    if (typeof value !== "string") return undefined;
    const t = new Date(value);
    return Number.isNaN(t.getTime()) ? undefined : t;
  } catch {
    return undefined;
  }
}

export async function verifyMessageJws(
  token: unknown,
  options: { trust: TrustView; at?: readonly Date[] },
): Promise<VerifiedMessage> {
  parseJwsHeader(token, MESSAGE_JWS_TYP, LIMITS.maxJwsChars);
  const jws = token as string;
  const createdAt = peekPayloadTime(jws, "createdAt");
  if (!createdAt) throw new EnvelopeError("MESSAGE_INVALID", "message has no valid createdAt");
  const verified = await verifyJws(jws, {
    typ: MESSAGE_JWS_TYP,
    trust: options.trust,
    role: "sign",
    at: [createdAt, ...(options.at ?? [])],
  });
  let message: Message;
  try {
    message = messageSchema.parse(
      JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(verified.payload)),
    );
  } catch (cause) {
    if (isMlaxError(cause)) throw cause;
    throw new EnvelopeError("MESSAGE_INVALID", "the signed payload is not a valid mlax message", {
      cause,
    });
  }
  if (message.from !== verified.signer.authorityId) {
    throw new EnvelopeError(
      "SIGNER_MISMATCH",
      `message from ${message.from} is signed by ${verified.signer.authorityId}`,
    );
  }
  return { message, jws, messageSha256: sha256Hex(jws), signer: verified.signer };
}
