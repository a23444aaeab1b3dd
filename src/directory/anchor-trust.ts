/**
 * A TrustView anchored at the network CA alone, for offline verification (auditors, courts,
 * `mlax verify`) and for the directory's own signature: the signer is x5c[0], accepted when the
 * network CA issued it and it is fit for the role it claims through its extensions. Without a
 * directory there are no pins and no encryption certificates (DESIGN.md: x5c is carried so that a
 * third party can verify offline against the network CA).
 */
import type { X509Certificate } from "node:crypto";
import type { PinnedCertificate, TrustView } from "../envelope/trust.ts";
import { DirectoryError, EnvelopeError, PkiError } from "../errors.ts";
import { classifyRole } from "../pki/classify.ts";
import { certificateSha256 } from "../pki/fingerprint.ts";
import { AUTHORITY_ID_PATTERN } from "../pki/roles.ts";
import { subjectCommonName, validateCertificate } from "../pki/validate-certificate.ts";

export interface AnchorTrustOptions {
  /** The network CA (trust anchor). */
  readonly ca: X509Certificate;
  /** Revoked serials known from elsewhere (a directory at hand), normalized hex. */
  readonly revokedSerials?: ReadonlySet<string>;
}

/** True when `ca` issued `cert` and its signature verifies (node:crypto, never node-forge). */
export function issuedBy(cert: X509Certificate, ca: X509Certificate): boolean {
  try {
    return cert.checkIssued(ca) && cert.verify(ca.publicKey);
  } catch {
    return false;
  }
}

export function anchorTrust(options: AnchorTrustOptions): TrustView {
  const { ca } = options;
  return {
    resolveSigner(x5c, at): PinnedCertificate {
      const cert = x5c[0];
      if (!cert) throw new EnvelopeError("SIGNER_UNKNOWN", "x5c is empty");
      // Issuer first, so that a certificate from another CA is CERT_UNTRUSTED whatever its shape.
      if (!issuedBy(cert, ca)) {
        throw new PkiError("CERT_UNTRUSTED", "the signer certificate is not from the network CA");
      }
      const role = classifyRole(cert);
      if (!role) {
        throw new PkiError("CERT_KEY_USAGE", "the signer certificate fits no mlax role");
      }
      const cn = subjectCommonName(cert);
      // Authority certificates name their authority; the directory signer names itself freely.
      if (!cn || (role !== "directory" && !AUTHORITY_ID_PATTERN.test(cn))) {
        throw new PkiError(
          "CERT_SUBJECT_MISMATCH",
          "the signer certificate's subject CN is not an authority id",
        );
      }
      validateCertificate(cert, {
        ca,
        role,
        at,
        revokedSerials: options.revokedSerials,
        expectedCommonName: cn,
      });
      return { authorityId: cn, role, certificate: cert, sha256: certificateSha256(cert) };
    },
    encryptionCertificate(authorityId): PinnedCertificate {
      throw new DirectoryError(
        "AUTHORITY_UNKNOWN",
        `no directory: the encryption certificate of ${authorityId} is not available offline`,
      );
    },
  };
}
