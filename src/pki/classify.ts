/**
 * Which mlax role profile (roles.ts) a certificate's extensions fit. A receiver takes the role
 * from the directory pin; offline verification has no directory, so it asks the certificate
 * (DESIGN.md trust model: key separation, a message signed with an enc or tls key is refused).
 */
import type { X509Certificate } from "node:crypto";
import { PkiError } from "../errors.ts";
import { type CertificateExtensions, readExtensions } from "./extensions.ts";
import { type AuthorityRole, ROLE_PROFILES, type Role } from "./roles.ts";

const CLASSIFIED_ROLES = ["sign", "enc", "tls", "directory"] as const;

/**
 * Why the extensions do not fit `role`, or undefined when they do: basicConstraints cA as the
 * profile says, every required key usage, no forbidden one, and the required extended key usages
 * (a profile without any requires the extension to be absent).
 */
export function roleProfileViolation(ext: CertificateExtensions, role: Role): string | undefined {
  const profile = ROLE_PROFILES[role];
  const isCa = ext.basicConstraints?.ca === true;
  if (isCa !== profile.isCa) {
    return profile.isCa ? "basicConstraints cA is not set" : "an end-entity certificate is a CA";
  }
  if (!ext.keyUsage) return "keyUsage is absent";
  const missing = profile.keyUsage.filter((u) => !ext.keyUsage?.has(u));
  if (missing.length > 0) return `keyUsage lacks ${missing.join(", ")}`;
  const forbidden = profile.forbiddenKeyUsage.filter((u) => ext.keyUsage?.has(u));
  if (forbidden.length > 0) return `keyUsage asserts ${forbidden.join(", ")}`;
  if (profile.extKeyUsage.length === 0) {
    return ext.extKeyUsage ? "extKeyUsage is present" : undefined;
  }
  const missingEku = profile.extKeyUsage.filter((oid) => !ext.extKeyUsage?.includes(oid));
  return missingEku.length > 0 ? `extKeyUsage lacks ${missingEku.join(", ")}` : undefined;
}

/**
 * The one role whose profile the certificate fits, or undefined (no role, or the certificate does
 * not decode: validateCertificate then says why). The profiles are disjoint by construction.
 */
export function classifyRole(cert: X509Certificate): AuthorityRole | "directory" | undefined {
  let ext: CertificateExtensions;
  try {
    ext = readExtensions(cert);
  } catch (e) {
    if (e instanceof PkiError) return undefined;
    throw e;
  }
  const fits = CLASSIFIED_ROLES.filter((role) => roleProfileViolation(ext, role) === undefined);
  return fits.length === 1 ? fits[0] : undefined;
}
