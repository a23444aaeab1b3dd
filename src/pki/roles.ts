/**
 * Key roles and the X.509 profile of each (DESIGN.md, trust model). Each authority holds one key
 * pair per role; a key is only ever used for its own role (key separation).
 */
export const AUTHORITY_ROLES = ["sign", "enc", "tls"] as const;
export type AuthorityRole = (typeof AUTHORITY_ROLES)[number];
/** `directory` signs the directory; `ca` is the network CA itself. */
export type Role = AuthorityRole | "directory" | "ca";

export type KeyUsageName =
  | "digitalSignature"
  | "nonRepudiation"
  | "keyEncipherment"
  | "dataEncipherment"
  | "keyAgreement"
  | "keyCertSign"
  | "cRLSign";

export const EKU_SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
export const EKU_CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
/** Private-arc OID naming the mlax directory signer (id-kp style, under a documentation arc). */
export const EKU_MLAX_DIRECTORY = "1.3.6.1.4.1.55555.1.1";

export interface RoleProfile {
  /** Key usage bits the certificate must assert (all of them). */
  readonly keyUsage: readonly KeyUsageName[];
  /** Key usage bits the certificate must not assert. */
  readonly forbiddenKeyUsage: readonly KeyUsageName[];
  /** Extended key usages the certificate must list (empty: the extension must be absent). */
  readonly extKeyUsage: readonly string[];
  readonly isCa: boolean;
}

export const ROLE_PROFILES: Readonly<Record<Role, RoleProfile>> = {
  sign: {
    keyUsage: ["digitalSignature", "nonRepudiation"],
    forbiddenKeyUsage: [
      "keyEncipherment",
      "dataEncipherment",
      "keyAgreement",
      "keyCertSign",
      "cRLSign",
    ],
    extKeyUsage: [],
    isCa: false,
  },
  enc: {
    keyUsage: ["keyEncipherment"],
    forbiddenKeyUsage: ["digitalSignature", "nonRepudiation", "keyCertSign", "cRLSign"],
    extKeyUsage: [],
    isCa: false,
  },
  tls: {
    keyUsage: ["digitalSignature", "keyEncipherment"],
    forbiddenKeyUsage: ["nonRepudiation", "keyCertSign", "cRLSign"],
    extKeyUsage: [EKU_SERVER_AUTH, EKU_CLIENT_AUTH],
    isCa: false,
  },
  directory: {
    keyUsage: ["digitalSignature"],
    forbiddenKeyUsage: [
      "keyEncipherment",
      "dataEncipherment",
      "keyAgreement",
      "keyCertSign",
      "cRLSign",
    ],
    extKeyUsage: [EKU_MLAX_DIRECTORY],
    isCa: false,
  },
  ca: {
    keyUsage: ["keyCertSign", "cRLSign"],
    forbiddenKeyUsage: [],
    extKeyUsage: [],
    isCa: true,
  },
};

/** `^[A-Z]{2}-[A-Z0-9]{2,16}$`: ISO 3166 alpha-2 country, a dash, then a code. */
export const AUTHORITY_ID_PATTERN = /^[A-Z]{2}-[A-Z0-9]{2,16}$/;
