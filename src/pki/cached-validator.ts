/**
 * `validateCertificate` for hot paths (every envelope, every receipt): the checks that do not
 * depend on time — issuer signature, structure, critical extensions, role profile, subject, key —
 * run once per certificate, role and subject; each call then re-checks only the validity windows
 * of the certificate and the CA at the instants asked, and revocation. Same codes, same order of
 * precedence as validateCertificate for the cases that matter (issuer before time before
 * revocation).
 */
import type { X509Certificate } from "node:crypto";
import { PkiError } from "../errors.ts";
import { type CertificateInfo, readCertificate } from "./extensions.ts";
import { certificateSha256, normalizeSerial } from "./fingerprint.ts";
import {
  type ValidateCertificateOptions,
  validateCaCertificate,
  validateCertificate,
} from "./validate-certificate.ts";
import { assertWithinValidity } from "./validate-chain.ts";

type Options = Omit<ValidateCertificateOptions, "ca">;

interface StaticResult {
  readonly info: CertificateInfo;
  readonly error: unknown;
}

/** An instant inside both validity windows, where only the time-independent checks can fail. */
function instantInside(info: CertificateInfo, ca: CertificateInfo): Date {
  const from = Math.max(info.notBefore.getTime(), ca.notBefore.getTime());
  const to = Math.min(info.notAfter.getTime(), ca.notAfter.getTime());
  return new Date(from <= to ? from : info.notBefore.getTime());
}

/** Failures validateCertificate finds before it looks at time (structure, issuer, signature). */
const BEFORE_TIME = new Set(["CERT_MALFORMED", "CERT_UNTRUSTED"]);

function codeOf(error: unknown): string | undefined {
  return error instanceof PkiError ? error.code : undefined;
}

export function createCachedValidator(ca: X509Certificate) {
  const caInfo = readCertificate(ca);
  let caError: unknown;
  try {
    validateCaCertificate(ca, caInfo.notBefore);
  } catch (error) {
    caError = error;
  }
  const statics = new Map<string, StaticResult>();
  return function validate(cert: X509Certificate, options: Options, sha256?: string): void {
    const key = `${sha256 ?? certificateSha256(cert)}|${options.role}|${options.expectedCommonName ?? ""}`;
    let result = statics.get(key);
    if (!result) {
      let info: CertificateInfo;
      try {
        info = readCertificate(cert);
      } catch (error) {
        throw error instanceof PkiError
          ? error
          : new PkiError("CERT_MALFORMED", "unreadable certificate");
      }
      let error: unknown;
      try {
        validateCertificate(cert, {
          ca,
          role: options.role,
          at: instantInside(info, caInfo),
          expectedCommonName: options.expectedCommonName,
        });
      } catch (e) {
        error = e;
      }
      result = { info, error };
      if (statics.size > 10_000) statics.clear();
      statics.set(key, result);
    }
    // validateCertificate's order: the CA, then issuer and structure, then time, then revocation,
    // then extensions, role, subject and key.
    if (caError) throw caError;
    const instants = options.at instanceof Date ? [options.at] : options.at;
    for (const t of instants) assertWithinValidity(caInfo, t, "network CA certificate");
    if (result.error && BEFORE_TIME.has(codeOf(result.error) ?? "")) throw result.error;
    for (const t of instants) assertWithinValidity(result.info, t);
    if (options.revokedSerials?.has(normalizeSerial(cert.serialNumber))) {
      throw new PkiError("CERT_REVOKED", "the certificate is revoked in the directory", {
        details: { serial: normalizeSerial(cert.serialNumber) },
      });
    }
    if (result.error) throw result.error;
  };
}
