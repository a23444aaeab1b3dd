/**
 * The signed directory (DESIGN.md, trust model): the list of authorities of one mlax network, with
 * their endpoints, certificates, accepted languages and competences, and the revoked certificate
 * serials.
 *
 * Format, version 1
 * -----------------
 * A compact JWS (RFC 7515 §7.1), PS256, protected header exactly
 *   {alg: "PS256", typ: "mlax-directory+jws", x5c: [directory signer certificate, network CA certificate]}
 * The signer certificate has the `directory` role (keyUsage digitalSignature, extKeyUsage
 * 1.3.6.1.4.1.55555.1.1) and is issued by the network CA. A node verifies it against the CA it
 * was configured with; x5c[1] is informative only (never used as an anchor).
 *
 * The payload is UTF-8 JSON, every object strict (an unknown member is refused):
 *   {
 *     v: 1,
 *     network: string (1..128 chars; names the network, e.g. "mlax-local"),
 *     serial: integer ≥ 1, raised by 1 at every edition; a node refuses a serial lower than the
 *             highest it has accepted (DIRECTORY_ROLLBACK),
 *     issuedAt, nextUpdate: RFC 3339 UTC with milliseconds; nextUpdate > issuedAt; past nextUpdate
 *             the directory is stale and refused (DIRECTORY_EXPIRED) unless the caller allows it,
 *     authorities: [ ≤ 500, ids unique ] {
 *       id: authority id `^[A-Z]{2}-[A-Z0-9]{2,16}$`,
 *       name: string (1..200),
 *       country: ISO 3166 alpha-2, equal to the first two letters of id,
 *       endpoint: https URL of the authority's peer API (no credentials, query or fragment),
 *       languages: [1..32, unique] BCP 47 tags (ISO 639-1/-2 code, optional subtags), the
 *                  languages in which the authority accepts requests (UNTOC art. 18(14)),
 *       competences: [1..5, unique] request kinds it handles: mla | extradition | confiscation |
 *                    transfer-of-sentenced-persons | joint-investigation,
 *       certificates: [1..8, at least one per role sign, enc and tls] {
 *         role: sign | enc | tls,
 *         sha256: lowercase hex SHA-256 of the DER (the pin),
 *         der: base64 (RFC 4648 §4, padded) DER certificate
 *       }
 *     },
 *     revoked: [ ≤ 10000, serials unique ] {
 *       serial: certificate serial, uppercase hex without leading zeros,
 *       revokedAt: RFC 3339 UTC with milliseconds,
 *       reason?: string (1..200)
 *     }
 *   }
 *
 * At load (load-directory.ts) every listed certificate must decode, match its sha256, name its
 * authority in its subject CN, fit its role and be issued by the network CA. A listed certificate
 * that is expired, not yet valid or revoked does not make the directory invalid: it is refused
 * where it is used (directory-trust.ts).
 */
import { z } from "zod";
import { REQUEST_KINDS, type RequestKind } from "../domain/request.ts";
import { AUTHORITY_ID_PATTERN, AUTHORITY_ROLES } from "../pki/roles.ts";

export const DIRECTORY_TYP = "mlax-directory+jws";
export const DIRECTORY_VERSION = 1;

/** Request kinds an authority can declare competence for (DESIGN.md, domain). */
export { REQUEST_KINDS, type RequestKind };

export const DIRECTORY_LIMITS = {
  maxAuthorities: 500,
  maxCertificatesPerAuthority: 8,
  maxLanguages: 32,
  maxRevoked: 10_000,
  /** base64 of one DER certificate (a 8192-bit RSA certificate is about 1.6 kB of DER). */
  maxCertificateBase64Chars: 16 * 1024,
  /** The whole JWS compact: 500 authorities × 8 certificates × ~2.7 kB after two base64 layers. */
  maxJwsChars: 16 * 1024 * 1024,
} as const;

/** RFC 3339 UTC timestamp with milliseconds, as `Date.prototype.toISOString` writes it. */
const isoUtc = z.iso.datetime({ offset: false, precision: 3 });

export const SHA256_HEX = /^[0-9a-f]{64}$/;
/** Serial as `normalizeSerial` writes it: uppercase hex, no leading zeros (RFC 5280: ≤ 20 octets). */
export const SERIAL_HEX = /^(?:0|[1-9A-F][0-9A-F]{0,39})$/;
/** BCP 47 language tag, simplified: a 2–3 letter ISO 639 code, then optional subtags. */
export const LANGUAGE_TAG = /^[a-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$/;
/** Canonical padded base64 (RFC 4648 §4). */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** Printable text, no control characters (names and reasons end up in terminals and logs). */
const PRINTABLE = /^[^\p{Cc}]+$/u;

/** True when `value` is an https URL usable as a peer endpoint. */
export function isHttpsEndpoint(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  return (
    url.protocol === "https:" &&
    url.hostname.length > 0 &&
    url.username === "" &&
    url.password === "" &&
    url.search === "" &&
    url.hash === ""
  );
}

export const endpointSchema = z
  .string()
  .max(2048)
  .refine(isHttpsEndpoint, "an https URL without credentials, query or fragment");

export const directoryCertificateSchema = z.strictObject({
  role: z.enum(AUTHORITY_ROLES),
  sha256: z.string().regex(SHA256_HEX, "lowercase hex SHA-256"),
  der: z
    .string()
    .min(4)
    .max(DIRECTORY_LIMITS.maxCertificateBase64Chars)
    .regex(BASE64, "padded base64"),
});

function unique<T>(values: readonly T[]): boolean {
  return new Set(values).size === values.length;
}

export const authorityEntrySchema = z
  .strictObject({
    id: z.string().regex(AUTHORITY_ID_PATTERN, "authority id like ES-MJ"),
    name: z.string().min(1).max(200).regex(PRINTABLE),
    country: z.string().regex(/^[A-Z]{2}$/, "ISO 3166 alpha-2"),
    endpoint: endpointSchema,
    languages: z
      .array(z.string().max(35).regex(LANGUAGE_TAG, "BCP 47 tag like es or pt-BR"))
      .min(1)
      .max(DIRECTORY_LIMITS.maxLanguages)
      .refine(unique, "languages must be unique"),
    competences: z
      .array(z.enum(REQUEST_KINDS))
      .min(1)
      .max(REQUEST_KINDS.length)
      .refine(unique, "competences must be unique"),
    certificates: z
      .array(directoryCertificateSchema)
      .min(AUTHORITY_ROLES.length)
      .max(DIRECTORY_LIMITS.maxCertificatesPerAuthority),
  })
  .superRefine((entry, ctx) => {
    if (entry.country !== entry.id.slice(0, 2)) {
      ctx.addIssue({
        code: "custom",
        path: ["country"],
        message: "country must be the first two letters of the authority id",
      });
    }
    for (const role of AUTHORITY_ROLES) {
      if (!entry.certificates.some((c) => c.role === role)) {
        ctx.addIssue({
          code: "custom",
          path: ["certificates"],
          message: `at least one ${role} certificate is required`,
        });
      }
    }
  });

export const revokedEntrySchema = z.strictObject({
  serial: z.string().regex(SERIAL_HEX, "uppercase hex serial without leading zeros"),
  revokedAt: isoUtc,
  reason: z.string().min(1).max(200).regex(PRINTABLE).optional(),
});

export const directoryContentSchema = z
  .strictObject({
    v: z.literal(DIRECTORY_VERSION),
    network: z.string().min(1).max(128).regex(PRINTABLE),
    serial: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
    issuedAt: isoUtc,
    nextUpdate: isoUtc,
    authorities: z.array(authorityEntrySchema).max(DIRECTORY_LIMITS.maxAuthorities),
    revoked: z.array(revokedEntrySchema).max(DIRECTORY_LIMITS.maxRevoked),
  })
  .superRefine((d, ctx) => {
    if (Date.parse(d.nextUpdate) <= Date.parse(d.issuedAt)) {
      ctx.addIssue({
        code: "custom",
        path: ["nextUpdate"],
        message: "nextUpdate must be after issuedAt",
      });
    }
    if (!unique(d.authorities.map((a) => a.id))) {
      ctx.addIssue({
        code: "custom",
        path: ["authorities"],
        message: "authority ids must be unique",
      });
    }
    const pins = d.authorities.flatMap((a) => a.certificates.map((c) => c.sha256));
    if (!unique(pins)) {
      ctx.addIssue({
        code: "custom",
        path: ["authorities"],
        message: "a certificate is listed twice",
      });
    }
    if (!unique(d.revoked.map((r) => r.serial))) {
      ctx.addIssue({
        code: "custom",
        path: ["revoked"],
        message: "revoked serials must be unique",
      });
    }
  });

export type DirectoryContent = z.infer<typeof directoryContentSchema>;
export type AuthorityEntry = z.infer<typeof authorityEntrySchema>;
export type DirectoryCertificateEntry = z.infer<typeof directoryCertificateSchema>;
export type RevokedEntry = z.infer<typeof revokedEntrySchema>;

/** A short, safe summary of zod issues for error details (path: message, first few). */
export function summarizeIssues(error: z.ZodError, max = 5): string {
  return error.issues
    .slice(0, max)
    .map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`)
    .join("; ");
}
