/**
 * Pure functions that produce the next directory edition (format in schema.ts). Each edition
 * raises `serial` by one (nodes refuse a lower serial: rollback protection) and sets `issuedAt` to
 * `now` and `nextUpdate` to `now + validityDays`. Nothing here signs or writes: sign the result
 * with signDirectory.
 */
import { X509Certificate } from "node:crypto";
import { DirectoryError, InputError } from "../errors.ts";
import { normalizeSerial } from "../pki/fingerprint.ts";
import {
  type AuthorityEntry,
  authorityEntrySchema,
  DIRECTORY_VERSION,
  type DirectoryContent,
  type RevokedEntry,
  SERIAL_HEX,
  summarizeIssues,
} from "./schema.ts";

/** Default time between editions before a directory is stale (see DIRECTORY_EXPIRED). */
export const DEFAULT_DIRECTORY_VALIDITY_DAYS = 90;
const MAX_DIRECTORY_VALIDITY_DAYS = 3650;
const DAY_MS = 86_400_000;

export interface EditionOptions {
  readonly now: Date;
  /** Days until nextUpdate; DEFAULT_DIRECTORY_VALIDITY_DAYS when absent. */
  readonly validityDays?: number;
}

export interface RevokeOptions extends EditionOptions {
  readonly reason?: string;
}

export interface Revocation {
  readonly content: DirectoryContent;
  /** The entries this edition added to `revoked`. */
  readonly revoked: readonly RevokedEntry[];
}

function dates(options: EditionOptions): { issuedAt: string; nextUpdate: string } {
  const days = options.validityDays ?? DEFAULT_DIRECTORY_VALIDITY_DAYS;
  if (!Number.isInteger(days) || days < 1 || days > MAX_DIRECTORY_VALIDITY_DAYS) {
    throw new InputError(
      "INPUT_INVALID",
      `directory validity must be 1..${MAX_DIRECTORY_VALIDITY_DAYS} days, got ${days}`,
    );
  }
  return {
    issuedAt: options.now.toISOString(),
    nextUpdate: new Date(options.now.getTime() + days * DAY_MS).toISOString(),
  };
}

function checkedEntry(entry: AuthorityEntry): AuthorityEntry {
  const parsed = authorityEntrySchema.safeParse(entry);
  if (!parsed.success) {
    throw new InputError("INPUT_INVALID", `authority entry: ${summarizeIssues(parsed.error)}`, {
      cause: parsed.error,
    });
  }
  return parsed.data;
}

/** The first edition (serial 1) of a network's directory. */
export function createDirectoryContent(
  network: string,
  authorities: readonly AuthorityEntry[],
  options: EditionOptions,
): DirectoryContent {
  return {
    v: DIRECTORY_VERSION,
    network,
    serial: 1,
    ...dates(options),
    authorities: authorities.map(checkedEntry),
    revoked: [],
  };
}

/** The same content as a new edition: serial + 1, fresh issuedAt and nextUpdate. */
export function renewDirectory(
  content: DirectoryContent,
  options: EditionOptions,
): DirectoryContent {
  return { ...content, serial: content.serial + 1, ...dates(options) };
}

/** Adds an authority (AUTHORITY_EXISTS when its id is listed). */
export function addAuthority(
  content: DirectoryContent,
  entry: AuthorityEntry,
  options: EditionOptions,
): DirectoryContent {
  if (content.authorities.some((a) => a.id === entry.id)) {
    throw new DirectoryError("AUTHORITY_EXISTS", `${entry.id} is already in the directory`, {
      details: { authorityId: entry.id },
    });
  }
  return {
    ...renewDirectory(content, options),
    authorities: [...content.authorities, checkedEntry(entry)],
  };
}

/** Serials of an authority's listed certificates, normalized. */
export function authoritySerials(entry: AuthorityEntry): string[] {
  return entry.certificates.map((c) =>
    normalizeSerial(new X509Certificate(Buffer.from(c.der, "base64")).serialNumber),
  );
}

function withRevoked(
  content: DirectoryContent,
  serials: readonly string[],
  options: RevokeOptions,
): Revocation {
  const already = new Set(content.revoked.map((r) => r.serial));
  const fresh = [...new Set(serials)].filter((s) => !already.has(s));
  if (fresh.length === 0) {
    throw new InputError("INPUT_INVALID", "nothing to revoke: already revoked", {
      details: { serials },
    });
  }
  const next = renewDirectory(content, options);
  const revoked = fresh.map(
    (serial): RevokedEntry => ({
      serial,
      revokedAt: next.issuedAt,
      ...(options.reason === undefined ? {} : { reason: options.reason }),
    }),
  );
  return { content: { ...next, revoked: [...content.revoked, ...revoked] }, revoked };
}

/**
 * Revokes every listed certificate of an authority. The authority stays listed (its certificates
 * are needed to verify what it signed before), but none of its certificates is usable any more.
 */
export function revokeAuthority(
  content: DirectoryContent,
  authorityId: string,
  options: RevokeOptions,
): Revocation {
  const entry = content.authorities.find((a) => a.id === authorityId);
  if (!entry) {
    throw new DirectoryError("AUTHORITY_UNKNOWN", `${authorityId} is not in the directory`, {
      details: { authorityId },
    });
  }
  return withRevoked(content, authoritySerials(entry), options);
}

/** Revokes one certificate serial (listed in the directory or not, e.g. a lost unlisted key). */
export function revokeSerial(
  content: DirectoryContent,
  serial: string,
  options: RevokeOptions,
): Revocation {
  const normalized = normalizeSerial(serial);
  if (!SERIAL_HEX.test(normalized)) {
    throw new InputError("INPUT_INVALID", `not a certificate serial: ${serial}`);
  }
  return withRevoked(content, [normalized], options);
}
