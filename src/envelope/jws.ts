/**
 * PS256 compact JWS with the signer certificate in `x5c`, for messages, receipts and the directory.
 * The signer is resolved through a TrustView (pinned in the directory, or anchored at the CA),
 * never taken on trust from `x5c` alone.
 */
import { X509Certificate } from "node:crypto";
import { CompactSign, compactVerify, errors as joseErrors } from "jose";
import { EnvelopeError, type ErrorCode, isMlaxError } from "../errors.ts";
import type { Role } from "../pki/roles.ts";
import { assertHeaderMembers, decodeHeader, splitCompact } from "./compact.ts";
import { LIMITS } from "./limits.ts";
import type { LocalKey, PinnedCertificate, TrustView } from "./trust.ts";

export const JWS_ALGORITHM = "PS256";
const JWS_HEADER_MEMBERS = ["alg", "typ", "x5c"] as const;
const MAX_X5C = 4;
const MAX_CERT_B64 = 16 * 1024;

export interface JwsHeader {
  readonly alg: typeof JWS_ALGORITHM;
  readonly typ: string;
  readonly x5c: readonly string[];
}

export interface SignJwsOptions {
  readonly typ: string;
  readonly key: LocalKey;
  /** Certificates after the signer's in x5c (the network CA, for offline verification). */
  readonly chain?: readonly X509Certificate[];
}

/** Signs `payload` as a compact JWS: `{alg: PS256, typ, x5c: [signer, …chain]}`. */
export async function signJws(payload: Uint8Array, options: SignJwsOptions): Promise<string> {
  const x5c = [options.key.certificate, ...(options.chain ?? [])].map((c) =>
    c.raw.toString("base64"),
  );
  return new CompactSign(payload)
    .setProtectedHeader({ alg: JWS_ALGORITHM, typ: options.typ, x5c })
    .sign(options.key.privateKey);
}

export interface VerifyJwsOptions {
  readonly typ: string;
  readonly trust: TrustView;
  /** Instants at which the signer certificate must be valid. */
  readonly at: readonly Date[];
  /** The role the signer certificate must have (SIGNER_KEY_ROLE otherwise). */
  readonly role: Role;
  readonly maxChars?: number;
  /** Code for a malformed token (ENVELOPE_MALFORMED by default). */
  readonly malformedCode?: ErrorCode;
  /** Code for a signature that does not verify (ENVELOPE_SIGNATURE_INVALID by default). */
  readonly signatureCode?: ErrorCode;
}

export interface VerifiedJws {
  readonly payload: Uint8Array;
  readonly header: JwsHeader;
  readonly signer: PinnedCertificate;
  readonly x5c: readonly X509Certificate[];
}

/** Checks the parts and header of a compact JWS without verifying it. */
export function parseJwsHeader(
  token: unknown,
  typ: string,
  maxChars: number = LIMITS.maxJwsChars,
  malformedCode: ErrorCode = "ENVELOPE_MALFORMED",
): { header: JwsHeader; x5c: X509Certificate[]; parts: string[] } {
  const parts = splitCompact(token, { parts: 3, maxChars, code: malformedCode });
  const header = decodeHeader(parts[0] ?? "", malformedCode);
  if (header.alg !== JWS_ALGORITHM) {
    throw new EnvelopeError("ENVELOPE_HEADER_INVALID", `JWS alg must be ${JWS_ALGORITHM}`);
  }
  if ("crit" in header)
    throw new EnvelopeError("ENVELOPE_HEADER_INVALID", "JWS crit is not supported");
  assertHeaderMembers(header, JWS_HEADER_MEMBERS);
  if (header.typ !== typ) {
    throw new EnvelopeError("ENVELOPE_HEADER_INVALID", `JWS typ must be ${typ}`);
  }
  const rawX5c = header.x5c;
  if (
    !Array.isArray(rawX5c) ||
    rawX5c.length < 1 ||
    rawX5c.length > MAX_X5C ||
    !rawX5c.every(
      (c) => typeof c === "string" && c.length <= MAX_CERT_B64 && /^[A-Za-z0-9+/]+={0,2}$/.test(c),
    )
  ) {
    throw new EnvelopeError(
      "ENVELOPE_HEADER_INVALID",
      "JWS x5c must hold 1 to 4 base64 certificates",
    );
  }
  let x5c: X509Certificate[];
  try {
    x5c = rawX5c.map((c: string) => new X509Certificate(Buffer.from(c, "base64")));
  } catch (cause) {
    throw new EnvelopeError("ENVELOPE_HEADER_INVALID", "JWS x5c holds an unparseable certificate", {
      cause,
    });
  }
  if ((parts[1] ?? "").length === 0 || (parts[2] ?? "").length === 0) {
    throw new EnvelopeError(malformedCode, "JWS payload and signature must not be empty");
  }
  return { header: { alg: JWS_ALGORITHM, typ, x5c: rawX5c as string[] }, x5c, parts };
}

/**
 * Verifies a compact JWS: our part and header checks, then the signer resolved through `trust`,
 * then jose with an algorithm allow-list and the resolved (pinned) public key.
 */
export async function verifyJws(token: unknown, options: VerifyJwsOptions): Promise<VerifiedJws> {
  const malformedCode = options.malformedCode ?? "ENVELOPE_MALFORMED";
  const { header, x5c } = parseJwsHeader(
    token,
    options.typ,
    options.maxChars ?? LIMITS.maxJwsChars,
    malformedCode,
  );
  const signer = options.trust.resolveSigner(x5c, options.at);
  // Key separation (DESIGN.md): an enc or tls key never signs a message, receipt or directory.
  if (signer.role !== options.role) {
    throw new EnvelopeError(
      "SIGNER_KEY_ROLE",
      `signed with a ${signer.role} certificate, expected ${options.role}`,
    );
  }
  try {
    const { payload } = await compactVerify(token as string, signer.certificate.publicKey, {
      algorithms: [JWS_ALGORITHM],
    });
    return { payload, header, signer, x5c };
  } catch (cause) {
    if (isMlaxError(cause)) throw cause;
    if (cause instanceof joseErrors.JWSSignatureVerificationFailed) {
      throw new EnvelopeError(
        options.signatureCode ?? "ENVELOPE_SIGNATURE_INVALID",
        "the signature does not verify with the signer's pinned certificate",
        { cause },
      );
    }
    if (
      cause instanceof joseErrors.JOSEAlgNotAllowed ||
      cause instanceof joseErrors.JOSENotSupported
    ) {
      throw new EnvelopeError("ENVELOPE_HEADER_INVALID", "JWS header not allowed", { cause });
    }
    throw new EnvelopeError(malformedCode, "the JWS cannot be verified", { cause });
  }
}
