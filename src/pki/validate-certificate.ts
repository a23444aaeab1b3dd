/**
 * Validates one end-entity certificate against the network CA for one role (DESIGN.md trust
 * model). node:crypto checks the issuer signature and dates; extensions are read with a real ASN.1
 * parser. node-forge is never used here.
 *
 * STUB: to be completed (key usage via ASN.1, critical extensions, path length).
 */
import type { X509Certificate } from "node:crypto";
import { PkiError } from "../errors.ts";
import { normalizeSerial } from "./fingerprint.ts";
import type { Role } from "./roles.ts";

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

/** Throws a PkiError with a specific code when the certificate is not fit; returns nothing. */
export function validateCertificate(
  cert: X509Certificate,
  options: ValidateCertificateOptions,
): void {
  if (!cert.checkIssued(options.ca) || !cert.verify(options.ca.publicKey)) {
    throw new PkiError("CERT_UNTRUSTED", "certificate not issued by the network CA");
  }
  const instants = Array.isArray(options.at) ? options.at : [options.at as Date];
  for (const at of instants) {
    if (at.getTime() < Date.parse(cert.validFrom)) throw new PkiError("CERT_NOT_YET_VALID");
    if (at.getTime() > Date.parse(cert.validTo)) throw new PkiError("CERT_EXPIRED");
  }
  if (options.revokedSerials?.has(normalizeSerial(cert.serialNumber))) {
    throw new PkiError("CERT_REVOKED");
  }
}

/** The subject CN of a certificate, or undefined. */
export function subjectCommonName(cert: X509Certificate): string | undefined {
  const m = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject);
  return m?.[1];
}
