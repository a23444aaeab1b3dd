/**
 * Validates one mlax certificate against the network CA for one role (DESIGN.md trust model): a
 * leaf issued directly by the network CA, fit for exactly the role it is used for. node:crypto
 * checks the issuer name and signature; extensions are read with a real ASN.1 parser
 * (extensions.ts). node-forge is never used here (THREATS.md). Generic paths with intermediates
 * go through validate-chain.ts instead.
 */
import type { X509Certificate } from "node:crypto";
import { PkiError } from "../errors.ts";
import { roleProfileViolation } from "./classify.ts";
import {
  type CertificateExtensions,
  type CertificateInfo,
  OID_AUTHORITY_KEY_IDENTIFIER,
  OID_BASIC_CONSTRAINTS,
  OID_EXT_KEY_USAGE,
  OID_KEY_USAGE,
  OID_SUBJECT_ALT_NAME,
  OID_SUBJECT_KEY_IDENTIFIER,
  readCertificate,
} from "./extensions.ts";
import { normalizeSerial } from "./fingerprint.ts";
import { MIN_RSA_BITS } from "./keys.ts";
import type { Role } from "./roles.ts";
import { assertWithinValidity } from "./validate-chain.ts";

export interface ValidateCertificateOptions {
  /** The network CA (trust anchor). */
  readonly ca: X509Certificate;
  /** The role the certificate must be fit for. */
  readonly role: Role;
  /** Every instant at which the certificate must be within its validity window. */
  readonly at: Date | readonly Date[];
  /** Revoked serials (normalized uppercase hex) from the directory. */
  readonly revokedSerials?: ReadonlySet<string>;
  /** When set, the subject CN must equal it (the authority id). */
  readonly expectedCommonName?: string;
}

/** RFC 5280 §4.2: the extensions the mlax profile understands; any other critical one refuses. */
const KNOWN_EXTENSIONS: ReadonlySet<string> = new Set([
  OID_BASIC_CONSTRAINTS,
  OID_KEY_USAGE,
  OID_EXT_KEY_USAGE,
  OID_SUBJECT_ALT_NAME,
  OID_SUBJECT_KEY_IDENTIFIER,
  OID_AUTHORITY_KEY_IDENTIFIER,
]);

/** sha{256,384,512}WithRSAEncryption and RSASSA-PSS: what an RSA network CA may sign with. */
const SIGNATURE_ALGORITHMS: ReadonlySet<string> = new Set([
  "1.2.840.113549.1.1.11",
  "1.2.840.113549.1.1.12",
  "1.2.840.113549.1.1.13",
  "1.2.840.113549.1.1.10",
]);

function instantsOf(at: Date | readonly Date[]): readonly Date[] {
  const list: readonly Date[] = Array.isArray(at) ? at : [at as Date];
  if (list.length === 0) throw new PkiError("INPUT_INVALID", "no validation instant given");
  return list;
}

function assertKnownCritical(ext: CertificateExtensions, what: string): void {
  const unknown = ext.criticalOids.filter((oid) => !KNOWN_EXTENSIONS.has(oid));
  if (unknown.length > 0) {
    throw new PkiError(
      "CERT_CRITICAL_EXTENSION",
      `the ${what} has an unknown critical extension ${unknown.join(", ")}`,
      { details: { oids: unknown } },
    );
  }
}

/** An RSA key of MIN_RSA_BITS or more, for the CA and every role alike. */
function assertRsaKey(cert: X509Certificate, what: string): void {
  let bits = 0;
  let type: string | undefined;
  try {
    const key = cert.publicKey;
    type = key.asymmetricKeyType;
    bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  } catch {
    type = undefined;
  }
  if (type !== "rsa" || bits < MIN_RSA_BITS) {
    throw new PkiError(
      "CERT_WEAK_KEY",
      `the ${what} key is ${type ?? "unreadable"}${bits ? ` ${bits}` : ""}, not RSA ≥ ${MIN_RSA_BITS}`,
    );
  }
}

function assertV3(info: CertificateInfo, what: string): void {
  // RFC 5280 §4.1.2.1 and §4.1.1.2.
  if (info.version !== 3) throw new PkiError("CERT_MALFORMED", `the ${what} is not X.509 v3`);
  if (!info.signatureAlgorithmsMatch) {
    throw new PkiError("CERT_MALFORMED", `the ${what}'s two signature algorithms differ`);
  }
}

/**
 * Checks a trust anchor when it is loaded: a v3 CA certificate (basicConstraints cA, keyUsage
 * keyCertSign), no unknown critical extension, within validity at every instant, RSA ≥ 2048.
 */
export function validateCaCertificate(ca: X509Certificate, at: Date | readonly Date[]): void {
  const instants = instantsOf(at);
  const info = readCertificate(ca);
  assertV3(info, "network CA certificate");
  assertKnownCritical(info.extensions, "network CA certificate");
  // RFC 5280 §4.2.1.9, §4.2.1.3: an issuer asserts cA and keyCertSign.
  if (info.extensions.basicConstraints?.ca !== true) {
    throw new PkiError("CERT_NOT_CA", "the network CA certificate does not assert cA");
  }
  if (!info.extensions.keyUsage?.has("keyCertSign")) {
    throw new PkiError("CERT_NOT_CA", "the network CA certificate does not allow keyCertSign");
  }
  for (const t of instants) assertWithinValidity(info, t, "network CA certificate");
  assertRsaKey(ca, "network CA certificate");
}

function issuedBy(cert: X509Certificate, ca: X509Certificate): boolean {
  try {
    return cert.checkIssued(ca) && cert.verify(ca.publicKey);
  } catch {
    return false;
  }
}

/**
 * Throws a PkiError with a specific code when the certificate is not fit; returns nothing.
 * Order: the CA itself, structure, issuer and signature, validity, revocation, critical
 * extensions, role profile, subject, key.
 */
export function validateCertificate(
  cert: X509Certificate,
  options: ValidateCertificateOptions,
): void {
  const instants = instantsOf(options.at);
  validateCaCertificate(options.ca, instants);
  const info = readCertificate(cert);
  assertV3(info, "certificate");
  if (!issuedBy(cert, options.ca)) {
    throw new PkiError("CERT_UNTRUSTED", "the certificate was not issued by the network CA");
  }
  if (!SIGNATURE_ALGORITHMS.has(info.signatureAlgorithm)) {
    throw new PkiError(
      "CERT_UNTRUSTED",
      `signature algorithm ${info.signatureAlgorithm} is not accepted`,
    );
  }
  for (const t of instants) assertWithinValidity(info, t);
  if (options.revokedSerials?.has(normalizeSerial(cert.serialNumber))) {
    throw new PkiError("CERT_REVOKED", "the certificate is revoked in the directory", {
      details: { serial: normalizeSerial(cert.serialNumber) },
    });
  }
  assertKnownCritical(info.extensions, "certificate");
  const violation = roleProfileViolation(info.extensions, options.role);
  if (violation) {
    throw new PkiError("CERT_KEY_USAGE", `not fit for the ${options.role} role: ${violation}`);
  }
  if (options.expectedCommonName !== undefined) {
    const [cn, ...others] = info.subjectCommonNames;
    if (cn !== options.expectedCommonName || others.length > 0) {
      throw new PkiError(
        "CERT_SUBJECT_MISMATCH",
        `the certificate subject does not name ${options.expectedCommonName}`,
      );
    }
  }
  assertRsaKey(cert, "certificate");
}

/** The subject CN of a certificate, or undefined (none, several, or not decodable). */
export function subjectCommonName(cert: X509Certificate): string | undefined {
  try {
    const names = readCertificate(cert).subjectCommonNames;
    return names.length === 1 ? names[0] : undefined;
  } catch (e) {
    if (e instanceof PkiError) return undefined;
    throw e;
  }
}
