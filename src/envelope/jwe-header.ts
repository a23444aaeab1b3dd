/**
 * The envelope's JWE profile (DESIGN.md, wire protocol v1; RFC 7516 compact serialization):
 * `{alg: "RSA-OAEP-256", enc: "A256GCM", typ: "mlax-envelope+jwe", "x5t#S256": <recipient enc cert>}`
 * and nothing else. No `cty`: the plaintext is always a JWS whose own `typ` says what it is, and a
 * receiver refuses every member outside the profile (RFC 8725 §3.1, §3.11), `zip` first of all.
 */
import type { X509Certificate } from "node:crypto";
import { EnvelopeError } from "../errors.ts";
import { certificateThumbprintS256 } from "../pki/fingerprint.ts";
import { assertHeaderMembers, decodeHeader } from "./compact.ts";

export const ENVELOPE_TYP = "mlax-envelope+jwe";
/** `typ` of the JWS inside the envelope. */
export const MESSAGE_TYP = "mlax-message+jws";
export const JWE_KEY_ALGORITHM = "RSA-OAEP-256";
export const JWE_CONTENT_ALGORITHM = "A256GCM";

const ENVELOPE_HEADER_MEMBERS = ["alg", "enc", "typ", "x5t#S256"] as const;
/** A256GCM: 96-bit IV and 128-bit tag, i.e. 16 and 22 base64url characters. */
const IV_CHARS = 16;
const TAG_CHARS = 22;

export interface EnvelopeHeader {
  readonly alg: typeof JWE_KEY_ALGORITHM;
  readonly enc: typeof JWE_CONTENT_ALGORITHM;
  readonly typ: typeof ENVELOPE_TYP;
  readonly "x5t#S256": string;
}

/** The protected header that seals to `recipientEnc`. */
export function envelopeHeader(recipientEnc: X509Certificate): EnvelopeHeader {
  return {
    alg: JWE_KEY_ALGORITHM,
    enc: JWE_CONTENT_ALGORITHM,
    typ: ENVELOPE_TYP,
    "x5t#S256": certificateThumbprintS256(recipientEnc),
  };
}

export interface EnvelopeRecipient {
  /** base64url SHA-256 of our enc certificate DER. */
  readonly thumbprint: string;
  /** Size of our RSA modulus in bytes: the exact length of an RSA-OAEP encrypted key. */
  readonly modulusBytes: number;
}

/**
 * Checks the five compact parts (already split and base64url-checked) before any decryption:
 * the header profile, that it is sealed to us, and the part lengths A256GCM and our key imply.
 */
export function checkEnvelopeParts(
  parts: readonly string[],
  recipient: EnvelopeRecipient,
): EnvelopeHeader {
  const [protectedHeader = "", encryptedKey = "", iv = "", ciphertext = "", tag = ""] = parts;
  const header = decodeHeader(protectedHeader);
  // THREATS.md: anyone holding our public key can make a valid compressed JWE, and inflating runs
  // before the sender is authenticated. Refuse zip outright, whatever jose would do with it.
  if ("zip" in header) throw new EnvelopeError("ENVELOPE_HEADER_INVALID", "JWE zip is refused");
  // RFC 7516 §4.1.13: we understand no extension, so any crit is refused.
  if ("crit" in header) throw new EnvelopeError("ENVELOPE_HEADER_INVALID", "JWE crit is refused");
  assertHeaderMembers(header, ENVELOPE_HEADER_MEMBERS);
  if (header.alg !== JWE_KEY_ALGORITHM) {
    throw new EnvelopeError("ENVELOPE_HEADER_INVALID", `JWE alg must be ${JWE_KEY_ALGORITHM}`);
  }
  if (header.enc !== JWE_CONTENT_ALGORITHM) {
    throw new EnvelopeError("ENVELOPE_HEADER_INVALID", `JWE enc must be ${JWE_CONTENT_ALGORITHM}`);
  }
  if (header.typ !== ENVELOPE_TYP) {
    throw new EnvelopeError("ENVELOPE_HEADER_INVALID", `JWE typ must be ${ENVELOPE_TYP}`);
  }
  const x5t = header["x5t#S256"];
  if (typeof x5t !== "string" || !/^[A-Za-z0-9_-]{43}$/.test(x5t)) {
    throw new EnvelopeError("ENVELOPE_HEADER_INVALID", "JWE x5t#S256 must be a SHA-256 thumbprint");
  }
  if (x5t !== recipient.thumbprint) {
    throw new EnvelopeError("ENVELOPE_NOT_FOR_ME", "the envelope is sealed to another certificate");
  }
  if (Buffer.from(encryptedKey, "base64url").length !== recipient.modulusBytes) {
    throw new EnvelopeError(
      "ENVELOPE_MALFORMED",
      `the encrypted key must be ${recipient.modulusBytes} bytes (RSA-OAEP with our key)`,
    );
  }
  if (iv.length !== IV_CHARS)
    throw new EnvelopeError("ENVELOPE_MALFORMED", "the IV must be 96 bits");
  if (ciphertext.length === 0) throw new EnvelopeError("ENVELOPE_MALFORMED", "empty ciphertext");
  if (tag.length !== TAG_CHARS) {
    throw new EnvelopeError("ENVELOPE_MALFORMED", "the authentication tag must be 128 bits");
  }
  return header as unknown as EnvelopeHeader;
}
