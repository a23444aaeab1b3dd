/**
 * Loads and verifies a signed directory (format in schema.ts; DESIGN.md trust model). Steps:
 *  1. compact parts and header checked, signer x5c[0] validated against the configured network CA
 *     (anchor-trust.ts) and required to hold the `directory` role, PS256 signature verified
 *     (RFC 7515 §5.2) → DIRECTORY_MALFORMED / DIRECTORY_SIGNATURE_INVALID (the underlying code is
 *     kept as `cause` and in `details.cause`);
 *  2. payload parsed against the strict schema → DIRECTORY_MALFORMED;
 *  3. the signer must also have been valid at issuedAt, and issuedAt not in the future beyond the
 *     clock skew;
 *  4. rollback: serial < minSerial → DIRECTORY_ROLLBACK;
 *  5. freshness: now > nextUpdate → DIRECTORY_EXPIRED, unless `allowStale` (then `stale: true`);
 *  6. every listed certificate decodes, matches its sha256 pin, names its authority in its subject
 *     CN, fits its role and was issued by the CA → DIRECTORY_MALFORMED otherwise. Its validity
 *     window and revocation are not checked here: they are checked where it is used.
 * The result is frozen.
 */
import { X509Certificate } from "node:crypto";
import { sha256Hex } from "../envelope/digest.ts";
import { verifyJws } from "../envelope/jws.ts";
import { LIMITS } from "../envelope/limits.ts";
import type { PinnedCertificate } from "../envelope/trust.ts";
import { DirectoryError, isMlaxError, type MlaxError } from "../errors.ts";
import { classifyRole } from "../pki/classify.ts";
import { normalizeSerial } from "../pki/fingerprint.ts";
import { subjectCommonName, validateCertificate } from "../pki/validate-certificate.ts";
import { anchorTrust } from "./anchor-trust.ts";
import {
  type AuthorityEntry,
  DIRECTORY_LIMITS,
  DIRECTORY_TYP,
  type DirectoryContent,
  directoryContentSchema,
  type RequestKind,
  type RevokedEntry,
  summarizeIssues,
} from "./schema.ts";

export interface DirectoryAuthority {
  readonly id: string;
  readonly name: string;
  readonly country: string;
  readonly endpoint: string;
  readonly languages: readonly string[];
  readonly competences: readonly RequestKind[];
  /** Every listed certificate, usable or not (check with validateCertificate at use time). */
  readonly certificates: readonly PinnedCertificate[];
}

export interface Directory {
  readonly network: string;
  readonly serial: number;
  /** RFC 3339 UTC. */
  readonly issuedAt: string;
  /** RFC 3339 UTC. */
  readonly nextUpdate: string;
  /** True when loaded with `allowStale` past nextUpdate. */
  readonly stale: boolean;
  /** The directory signer certificate (x5c[0]). */
  readonly signer: X509Certificate;
  /** The exact compact JWS that was verified (to store or serve as is). */
  readonly jws: string;
  /** The verified payload, deep-frozen. */
  readonly content: DirectoryContent;
  readonly authorities: readonly DirectoryAuthority[];
  readonly revoked: readonly RevokedEntry[];
  /** Revoked serials, normalized uppercase hex (read-only). */
  readonly revokedSerials: ReadonlySet<string>;
  /** The authority, or AUTHORITY_UNKNOWN. */
  authority(id: string): DirectoryAuthority;
  findAuthority(id: string): DirectoryAuthority | undefined;
  /** The listed certificate with this lowercase hex SHA-256, if any. */
  pinned(sha256: string): PinnedCertificate | undefined;
}

export interface LoadDirectoryOptions {
  /** The network CA this node trusts (from its configuration, never from x5c). */
  readonly ca: X509Certificate;
  readonly now: Date;
  /** The highest serial accepted before: a lower one is a rollback. */
  readonly minSerial?: number;
  /** Accept a directory past its nextUpdate (it is then marked `stale`). Off by default. */
  readonly allowStale?: boolean;
}

const SIGNATURE_CAUSES_AS_MALFORMED = new Set([
  "DIRECTORY_MALFORMED",
  "ENVELOPE_MALFORMED",
  "ENVELOPE_TOO_LARGE",
  "ENVELOPE_HEADER_INVALID",
]);

function malformed(message: string, cause?: unknown): DirectoryError {
  return new DirectoryError("DIRECTORY_MALFORMED", message, {
    cause,
    details: isMlaxError(cause) ? { cause: cause.code } : undefined,
  });
}

function signatureInvalid(message: string, cause: MlaxError): DirectoryError {
  return new DirectoryError("DIRECTORY_SIGNATURE_INVALID", `${message}: ${cause.message}`, {
    cause,
    details: { cause: cause.code },
  });
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** A Set whose mutators throw, frozen: handed out to every TrustView user. */
function readonlySet<T>(values: Iterable<T>): ReadonlySet<T> {
  const set = new Set(values);
  const deny = () => {
    throw new TypeError("the directory's revoked serials are read-only");
  };
  for (const name of ["add", "delete", "clear"]) Object.defineProperty(set, name, { value: deny });
  return Object.freeze(set);
}

/** The instant closest to `now` within the certificate's validity window. */
function withinValidity(cert: X509Certificate, now: Date): Date {
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  return new Date(Math.min(Math.max(now.getTime(), from), to));
}

function loadCertificate(
  authority: AuthorityEntry,
  entry: AuthorityEntry["certificates"][number],
  ca: X509Certificate,
  now: Date,
): PinnedCertificate {
  const where = `${authority.id} ${entry.role} certificate`;
  const der = Buffer.from(entry.der, "base64");
  const sha256 = sha256Hex(der);
  if (sha256 !== entry.sha256) throw malformed(`${where}: sha256 does not match der`);
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(der);
  } catch (cause) {
    throw malformed(`${where}: der does not parse`, cause);
  }
  if (subjectCommonName(certificate) !== authority.id) {
    throw malformed(`${where}: subject CN is not ${authority.id}`);
  }
  if (classifyRole(certificate) !== entry.role) {
    throw malformed(`${where}: its extensions do not fit the ${entry.role} role`);
  }
  try {
    // Issuer, role profile, subject and critical extensions; dates are checked at use time.
    validateCertificate(certificate, {
      ca,
      role: entry.role,
      at: withinValidity(certificate, now),
      expectedCommonName: authority.id,
    });
  } catch (cause) {
    throw malformed(`${where}: ${isMlaxError(cause) ? cause.code : "invalid"}`, cause);
  }
  return Object.freeze({ authorityId: authority.id, role: entry.role, certificate, sha256 });
}

export async function loadDirectory(
  jws: string,
  options: LoadDirectoryOptions,
): Promise<Directory> {
  const { ca, now } = options;
  // Step 1: signature, through a view anchored at our CA that requires the directory role.
  let verified: Awaited<ReturnType<typeof verifyJws>>;
  try {
    verified = await verifyJws(jws, {
      typ: DIRECTORY_TYP,
      trust: anchorTrust({ ca }),
      at: [now],
      role: "directory",
      maxChars: DIRECTORY_LIMITS.maxJwsChars,
      malformedCode: "DIRECTORY_MALFORMED",
      signatureCode: "DIRECTORY_SIGNATURE_INVALID",
    });
  } catch (cause) {
    if (!isMlaxError(cause)) throw cause;
    if (SIGNATURE_CAUSES_AS_MALFORMED.has(cause.code)) {
      throw malformed(`the directory is not a valid JWS: ${cause.message}`, cause);
    }
    if (cause.code === "DIRECTORY_SIGNATURE_INVALID") {
      // The PS256 signature itself (RFC 7515 §5.2 step 8): keep jose's error as the cause.
      throw new DirectoryError("DIRECTORY_SIGNATURE_INVALID", cause.message, {
        cause: cause.cause,
      });
    }
    throw signatureInvalid("the directory signer is not acceptable", cause);
  }

  // Step 2: payload.
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(verified.payload));
  } catch (cause) {
    throw malformed("the directory payload is not UTF-8 JSON", cause);
  }
  const parsed = directoryContentSchema.safeParse(json);
  if (!parsed.success) throw malformed(summarizeIssues(parsed.error), parsed.error);
  const content = deepFreeze(parsed.data);

  // Step 3: the signer was entitled to sign at issuedAt, and issuedAt is not in the future.
  const issuedAt = new Date(content.issuedAt);
  try {
    validateCertificate(verified.signer.certificate, { ca, role: "directory", at: issuedAt });
  } catch (cause) {
    if (!isMlaxError(cause)) throw cause;
    throw signatureInvalid("the directory signer was not valid at issuedAt", cause);
  }
  if (issuedAt.getTime() > now.getTime() + LIMITS.clockSkewMs) {
    throw malformed(`issuedAt ${content.issuedAt} is in the future`);
  }

  // Step 4: rollback.
  if (options.minSerial !== undefined && content.serial < options.minSerial) {
    throw new DirectoryError(
      "DIRECTORY_ROLLBACK",
      `directory serial ${content.serial} is lower than the accepted ${options.minSerial}`,
      { details: { serial: content.serial, minSerial: options.minSerial } },
    );
  }

  // Step 5: freshness.
  const stale = now.getTime() > Date.parse(content.nextUpdate);
  if (stale && !options.allowStale) {
    throw new DirectoryError(
      "DIRECTORY_EXPIRED",
      `the directory (serial ${content.serial}) was due for update at ${content.nextUpdate}`,
      { details: { serial: content.serial, nextUpdate: content.nextUpdate } },
    );
  }

  // Step 6: listed certificates.
  const pins = new Map<string, PinnedCertificate>();
  const authorities = new Map<string, DirectoryAuthority>();
  for (const entry of content.authorities) {
    const certificates = entry.certificates.map((c) => loadCertificate(entry, c, ca, now));
    for (const pin of certificates) pins.set(pin.sha256, pin);
    authorities.set(
      entry.id,
      Object.freeze({
        id: entry.id,
        name: entry.name,
        country: entry.country,
        endpoint: entry.endpoint,
        languages: entry.languages,
        competences: entry.competences,
        certificates: Object.freeze(certificates),
      }),
    );
  }

  const directory: Directory = {
    network: content.network,
    serial: content.serial,
    issuedAt: content.issuedAt,
    nextUpdate: content.nextUpdate,
    stale,
    signer: verified.signer.certificate,
    jws,
    content,
    authorities: Object.freeze([...authorities.values()]),
    revoked: content.revoked,
    revokedSerials: readonlySet(content.revoked.map((r) => normalizeSerial(r.serial))),
    authority(id) {
      const found = authorities.get(id);
      if (!found) {
        throw new DirectoryError("AUTHORITY_UNKNOWN", `${id} is not in the directory`, {
          details: { authorityId: id },
        });
      }
      return found;
    },
    findAuthority: (id) => authorities.get(id),
    pinned: (sha256) => pins.get(sha256),
  };
  return Object.freeze(directory);
}
