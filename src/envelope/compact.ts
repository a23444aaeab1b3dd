/**
 * Checks on JOSE compact serializations done by us before jose sees them (THREATS.md): jose
 * accepts whitespace inside a JWS signature and some malformed base64, so every part must be
 * canonical unpadded base64url, the part count exact and the sizes capped.
 */
import { EnvelopeError, type ErrorCode } from "../errors.ts";

const BASE64URL_PART = /^[A-Za-z0-9_-]*$/;

export interface CompactCheck {
  readonly parts: 3 | 5;
  readonly maxChars: number;
  readonly maxHeaderChars?: number;
  /** The code to throw (ENVELOPE_MALFORMED by default; RECEIPT_MALFORMED for receipts, …). */
  readonly code?: ErrorCode;
}

/** True when `part` is canonical unpadded base64url (no stray trailing bits). */
export function isCanonicalBase64url(part: string): boolean {
  if (!BASE64URL_PART.test(part)) return false;
  if (part.length % 4 === 1) return false;
  return Buffer.from(part, "base64url").toString("base64url") === part;
}

/** Splits a compact serialization after checking its type, size, part count and characters. */
export function splitCompact(token: unknown, check: CompactCheck): string[] {
  const code = check.code ?? "ENVELOPE_MALFORMED";
  if (typeof token !== "string")
    throw new EnvelopeError(code, "compact serialization must be a string");
  if (token.length > check.maxChars) {
    throw new EnvelopeError(
      code === "ENVELOPE_MALFORMED" ? "ENVELOPE_TOO_LARGE" : code,
      `compact serialization of ${token.length} characters exceeds the cap of ${check.maxChars}`,
    );
  }
  const parts = token.split(".");
  if (parts.length !== check.parts) {
    throw new EnvelopeError(code, `expected ${check.parts} compact parts, got ${parts.length}`);
  }
  parts.forEach((part, i) => {
    if (!isCanonicalBase64url(part)) {
      throw new EnvelopeError(code, `compact part ${i + 1} is not canonical base64url`);
    }
  });
  const header = parts[0] ?? "";
  if (header.length === 0 || header.length > (check.maxHeaderChars ?? 64 * 1024)) {
    throw new EnvelopeError(code, "protected header is empty or too large");
  }
  return parts;
}

/** Decodes a base64url protected header into a plain JSON object. */
export function decodeHeader(
  part: string,
  code: ErrorCode = "ENVELOPE_MALFORMED",
): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
  } catch (cause) {
    throw new EnvelopeError(code, "protected header is not JSON", { cause });
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new EnvelopeError(code, "protected header is not a JSON object");
  }
  return value as Record<string, unknown>;
}

/** Refuses any header member outside `allowed` (strict profiles: nothing unexpected is ignored). */
export function assertHeaderMembers(
  header: Record<string, unknown>,
  allowed: readonly string[],
  code: ErrorCode = "ENVELOPE_HEADER_INVALID",
): void {
  for (const name of Object.keys(header)) {
    if (!allowed.includes(name))
      throw new EnvelopeError(code, `header member "${name}" is not allowed`);
  }
}
