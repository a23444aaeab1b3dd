/**
 * Test PKI generated at test time (STYLE.md: certificates in tests are generated in the test, under
 * a fixed clock). 2048-bit keys keep the suite fast; production defaults to 3072.
 */
import { createPrivateKey, type KeyObject, type X509Certificate } from "node:crypto";
import type { LocalKey, PinnedCertificate, TrustView } from "../../src/envelope/trust.ts";
import { MlaxError } from "../../src/errors.ts";
import { createCachedValidator } from "../../src/pki/cached-validator.ts";
import { certificateSha256 } from "../../src/pki/fingerprint.ts";
import { createNetworkCa, issueCertificate, parseCertificatePem } from "../../src/pki/issue.ts";
import { generateRsaKeyPair } from "../../src/pki/keys.ts";
import { AUTHORITY_ROLES, type AuthorityRole, type Role } from "../../src/pki/roles.ts";

/** The fixed clock of the fixture: certificates are valid from FIXED_NOW - 5 min for `days`. */
export const FIXED_NOW = new Date("2026-06-01T12:00:00.000Z");

export interface TestKey extends LocalKey {
  readonly role: Role;
  readonly privateKeyPem: string;
  readonly publicKeyPem: string;
  readonly certPem: string;
  readonly serial: string;
}

export interface TestAuthority {
  readonly id: string;
  readonly sign: TestKey;
  readonly enc: TestKey;
  readonly tls: TestKey;
}

export interface TestPki {
  readonly now: Date;
  readonly ca: {
    readonly certPem: string;
    readonly privateKeyPem: string;
    readonly certificate: X509Certificate;
    readonly privateKey: KeyObject;
  };
  readonly directorySigner: TestKey;
  readonly authorities: Readonly<Record<string, TestAuthority>>;
  /** Issues one more certificate from this CA (for hostile cases). */
  issue(
    id: string,
    role: Exclude<Role, "ca">,
    options?: { now?: Date; days?: number; bits?: number },
  ): TestKey;
}

export interface MakeTestPkiOptions {
  readonly ids?: readonly string[];
  readonly bits?: number;
  readonly now?: Date;
  readonly days?: number;
  readonly caName?: string;
}

export function makeTestPki(options: MakeTestPkiOptions = {}): TestPki {
  const now = options.now ?? FIXED_NOW;
  const bits = options.bits ?? 2048;
  const days = options.days ?? 365;
  const caKeys = generateRsaKeyPair(bits);
  const caIssued = createNetworkCa({
    subject: { commonName: options.caName ?? "mlax test network CA" },
    keyPair: caKeys,
    now,
    days: days * 2,
  });
  const ca = {
    certPem: caIssued.certPem,
    privateKeyPem: caKeys.privateKeyPem,
    certificate: parseCertificatePem(caIssued.certPem),
    privateKey: createPrivateKey(caKeys.privateKeyPem),
  };
  const issue: TestPki["issue"] = (id, role, o = {}) => {
    const keys = generateRsaKeyPair(o.bits ?? bits);
    const issued = issueCertificate({
      ca,
      subject: { commonName: id, country: id.slice(0, 2) },
      role,
      publicKeyPem: keys.publicKeyPem,
      now: o.now ?? now,
      days: o.days ?? days,
      dnsNames: role === "tls" ? ["localhost"] : [],
      ipAddresses: role === "tls" ? ["127.0.0.1"] : [],
    });
    return {
      authorityId: id,
      role,
      privateKeyPem: keys.privateKeyPem,
      publicKeyPem: keys.publicKeyPem,
      privateKey: createPrivateKey(keys.privateKeyPem),
      certPem: issued.certPem,
      certificate: parseCertificatePem(issued.certPem),
      serial: issued.serial,
    };
  };
  const authorities: Record<string, TestAuthority> = {};
  for (const id of options.ids ?? ["ES-MJ", "CO-FGN", "IT-MG"]) {
    authorities[id] = { id, sign: issue(id, "sign"), enc: issue(id, "enc"), tls: issue(id, "tls") };
  }
  return { now, ca, directorySigner: issue("mlax directory", "directory"), authorities, issue };
}

/**
 * A minimal pinning TrustView over the fixture's authorities, for envelope tests that do not need
 * the signed directory. Production code uses src/directory's implementation.
 */
export function pinnedTrust(
  pki: TestPki,
  options: { revokedSerials?: ReadonlySet<string>; extra?: readonly TestKey[] } = {},
): TrustView {
  const pins = new Map<string, PinnedCertificate>();
  const add = (key: TestKey) => {
    const sha256 = certificateSha256(key.certificate);
    pins.set(sha256, {
      authorityId: key.authorityId,
      role: key.role,
      certificate: key.certificate,
      sha256,
    });
  };
  for (const a of Object.values(pki.authorities))
    for (const r of AUTHORITY_ROLES) add(a[r as AuthorityRole]);
  for (const k of options.extra ?? []) add(k);
  // The same cached validation as the directory's trust view (src/directory/directory-trust.ts).
  const validate = createCachedValidator(pki.ca.certificate);
  const check = (p: PinnedCertificate, at: readonly Date[]) =>
    validate(
      p.certificate,
      {
        role: p.role,
        at,
        revokedSerials: options.revokedSerials,
        expectedCommonName: p.authorityId,
      },
      p.sha256,
    );
  return {
    resolveSigner(x5c, at) {
      const first = x5c[0];
      const pinned = first ? pins.get(certificateSha256(first)) : undefined;
      if (!pinned) throw new MlaxError("SIGNER_UNKNOWN", "signer certificate not pinned");
      check(pinned, at);
      return pinned;
    },
    encryptionCertificate(authorityId, at) {
      const a = pki.authorities[authorityId];
      if (!a) throw new MlaxError("AUTHORITY_UNKNOWN", authorityId);
      const sha256 = certificateSha256(a.enc.certificate);
      const pinned = pins.get(sha256)!;
      check(pinned, [at]);
      return pinned;
    },
  };
}
