/**
 * Sealing (DESIGN.md, wire protocol v1): sign the message as a PS256 JWS with the sender's sign
 * key, then encrypt that JWS compact string to the recipient's enc certificate as a
 * RSA-OAEP-256/A256GCM JWE. Signing before encrypting, with `from` and `to` inside the signed
 * payload, binds the message to its recipient (RFC 8725 §3.10–3.12: no surreptitious forwarding).
 */
import type { X509Certificate } from "node:crypto";
import { CompactEncrypt } from "jose";
import { EnvelopeError, InputError } from "../errors.ts";
import { sha256Hex } from "./digest.ts";
import { envelopeHeader, MESSAGE_TYP } from "./jwe-header.ts";
import { signJws } from "./jws.ts";
import { LIMITS } from "./limits.ts";
import { type Message, messageSchema } from "./message.ts";
import type { LocalKey, PinnedCertificate } from "./trust.ts";

export interface SealInput {
  readonly message: Message;
  /** The sender's sign key; its authority must be `message.from`. */
  readonly signer: LocalKey;
  /** Certificates put after the signer's in `x5c` (the network CA), for offline verification. */
  readonly chain?: readonly X509Certificate[];
  /** The recipient's enc certificate as the directory pins it; its authority must be `message.to`. */
  readonly recipient: PinnedCertificate;
}

export interface Sealed {
  /** The JWE compact serialization sent on the wire. */
  readonly envelope: string;
  /** The signed message, a JWS compact serialization (what evidence bundles keep). */
  readonly jws: string;
  /** Lowercase hex SHA-256 of `jws`: what the receipt names. */
  readonly messageSha256: string;
  /** Lowercase hex SHA-256 of `envelope`. */
  readonly envelopeSha256: string;
}

const encoder = new TextEncoder();

/** Signs then encrypts `message` for `recipient`. Throws InputError before doing any crypto. */
export async function seal(input: SealInput): Promise<Sealed> {
  const parsed = messageSchema.safeParse(input.message);
  if (!parsed.success) {
    throw new InputError("INPUT_INVALID", "the message does not match the message schema", {
      details: { issues: parsed.error.issues },
    });
  }
  const message = parsed.data;
  if (Date.parse(message.expiresAt) <= Date.parse(message.createdAt)) {
    throw new InputError("INPUT_INVALID", "expiresAt must be after createdAt");
  }
  if (input.signer.authorityId !== message.from) {
    throw new InputError(
      "SIGNER_MISMATCH",
      `message.from is ${message.from} but the sign key is ${input.signer.authorityId}'s`,
    );
  }
  if (input.recipient.role !== "enc") {
    throw new InputError(
      "INPUT_INVALID",
      `seal to an enc certificate, not ${input.recipient.role}`,
    );
  }
  if (input.recipient.authorityId !== message.to) {
    throw new InputError(
      "INPUT_INVALID",
      `message.to is ${message.to} but the certificate is ${input.recipient.authorityId}'s`,
    );
  }

  // RFC 7515 §7.1: the signed payload is the UTF-8 JSON of the schema-checked message.
  const jws = await signJws(encoder.encode(JSON.stringify(message)), {
    typ: MESSAGE_TYP,
    key: input.signer,
    chain: input.chain,
  });
  if (jws.length > LIMITS.maxJwsChars) {
    throw new InputError("INPUT_TOO_LARGE", "the signed message exceeds the JWS size cap");
  }
  // RFC 7516 §5.1: fresh CEK and IV per envelope (jose draws both).
  const envelope = await new CompactEncrypt(encoder.encode(jws))
    .setProtectedHeader({ ...envelopeHeader(input.recipient.certificate) })
    .encrypt(input.recipient.certificate.publicKey)
    .catch((cause: unknown) => {
      throw new EnvelopeError("INTERNAL", "the message could not be encrypted", { cause });
    });
  if (envelope.length > LIMITS.maxEnvelopeChars) {
    throw new InputError("INPUT_TOO_LARGE", "the envelope exceeds the envelope size cap");
  }
  return { envelope, jws, messageSha256: sha256Hex(jws), envelopeSha256: sha256Hex(envelope) };
}
