/**
 * What the envelope layer needs to know about trust, without knowing where it comes from. The
 * directory implements it for nodes (pinned certificates); an anchor-only view implements it for
 * offline verification against the network CA.
 */
import type { X509Certificate } from "node:crypto";
import type { Role } from "../pki/roles.ts";

export interface PinnedCertificate {
  readonly authorityId: string;
  readonly role: Role;
  readonly certificate: X509Certificate;
  /** Lowercase hex SHA-256 of the DER. */
  readonly sha256: string;
}

export interface TrustView {
  /**
   * Resolves the certificate that made a signature from the JWS `x5c` (first entry = signer) and
   * checks it is usable at every instant given: pinned (or anchored), within validity, not
   * revoked, issued by the network CA. Returns its authority and role; the caller checks the role.
   * Throws PkiError / EnvelopeError (SIGNER_UNKNOWN, CERT_*).
   */
  resolveSigner(x5c: readonly X509Certificate[], at: readonly Date[]): PinnedCertificate;
  /** The certificate to encrypt to for an authority (role enc), usable at `at`. */
  encryptionCertificate(authorityId: string, at: Date): PinnedCertificate;
}

/** A private key with its certificate, for one role of the local authority. */
export interface LocalKey {
  readonly authorityId: string;
  readonly privateKey: import("node:crypto").KeyObject;
  readonly certificate: X509Certificate;
}
