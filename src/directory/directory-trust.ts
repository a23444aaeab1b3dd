/**
 * The TrustView a node uses (DESIGN.md trust model): a signer is resolved from the certificates
 * pinned in the verified directory, never by building a chain from the x5c that arrives on the wire;
 * x5c[0] is only the key to look the pin up (its SHA-256). The pinned certificate is then checked at
 * every instant given: issued by the network CA, fit for its role, subject CN = its authority, within
 * its validity window, not revoked in the directory.
 */
import type { X509Certificate } from "node:crypto";
import type { PinnedCertificate, TrustView } from "../envelope/trust.ts";
import { EnvelopeError, isMlaxError, PkiError } from "../errors.ts";
import { createCachedValidator } from "../pki/cached-validator.ts";
import { certificateSha256 } from "../pki/fingerprint.ts";
import { validateCertificate } from "../pki/validate-certificate.ts";
import { issuedBy } from "./anchor-trust.ts";
import type { Directory } from "./load-directory.ts";

export interface DirectoryTrustOptions {
  /** The network CA the directory was verified against. */
  readonly ca: X509Certificate;
}

export type CertificateStatus = "valid" | "revoked" | "expired" | "not-yet-valid" | "invalid";

function check(
  pin: PinnedCertificate,
  ca: X509Certificate,
  at: Date | readonly Date[],
  revokedSerials: ReadonlySet<string>,
): void {
  validateCertificate(pin.certificate, {
    ca,
    role: pin.role,
    at,
    revokedSerials,
    expectedCommonName: pin.authorityId,
  });
}

/** Whether a pinned certificate is usable at `at`, and if not, why (for display). */
export function certificateStatus(
  pin: PinnedCertificate,
  directory: Directory,
  options: { readonly ca: X509Certificate; readonly at: Date },
): CertificateStatus {
  try {
    check(pin, options.ca, options.at, directory.revokedSerials);
    return "valid";
  } catch (e) {
    if (!isMlaxError(e)) throw e;
    if (e.code === "CERT_REVOKED") return "revoked";
    if (e.code === "CERT_EXPIRED") return "expired";
    if (e.code === "CERT_NOT_YET_VALID") return "not-yet-valid";
    return "invalid";
  }
}

export function directoryTrust(directory: Directory, options: DirectoryTrustOptions): TrustView {
  const { ca } = options;
  // Pins are checked on every envelope and receipt: the time-independent checks run once.
  const validate = createCachedValidator(ca);
  const usable = (pin: PinnedCertificate, at: Date | readonly Date[]) =>
    validate(
      pin.certificate,
      {
        role: pin.role,
        at,
        revokedSerials: directory.revokedSerials,
        expectedCommonName: pin.authorityId,
      },
      pin.sha256,
    );
  return {
    resolveSigner(x5c, at): PinnedCertificate {
      const cert = x5c[0];
      if (!cert) throw new EnvelopeError("SIGNER_UNKNOWN", "x5c is empty");
      const pin = directory.pinned(certificateSha256(cert));
      if (!pin) {
        // A certificate from another CA gets its own code; one of ours that is not listed is unknown.
        if (!issuedBy(cert, ca)) {
          throw new PkiError("CERT_UNTRUSTED", "the signer certificate is not from the network CA");
        }
        throw new EnvelopeError(
          "SIGNER_UNKNOWN",
          `the signer certificate is not pinned in directory serial ${directory.serial}`,
        );
      }
      usable(pin, at);
      return pin;
    },

    /** The newest (latest notBefore) enc certificate of the authority usable at `at`. */
    encryptionCertificate(authorityId, at): PinnedCertificate {
      const candidates = directory
        .authority(authorityId)
        .certificates.filter((c) => c.role === "enc")
        .sort((a, b) => Date.parse(b.certificate.validFrom) - Date.parse(a.certificate.validFrom));
      let firstError: unknown;
      for (const pin of candidates) {
        try {
          usable(pin, at);
          return pin;
        } catch (e) {
          firstError ??= e;
        }
      }
      // The schema requires an enc certificate; none usable: say why for the newest.
      throw firstError ?? new PkiError("CERT_KEY_USAGE", `${authorityId} has no enc certificate`);
    },
  };
}
