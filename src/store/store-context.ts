/**
 * What every part of the store shares: the connection, the clock, and the argument checks that
 * keep bad values out of the tables (InputError INPUT_INVALID, a caller bug rather than a store
 * failure).
 */
import type Database from "better-sqlite3";
import { sha256Hex } from "../envelope/digest.ts";
import { InputError } from "../errors.ts";

/** As SHA256_HEX_PATTERN in envelope/message.ts; local so that the store loads without zod. */
const SHA256_HEX = /^[0-9a-f]{64}$/;

export interface StoreContext {
  readonly db: Database.Database;
  readonly now: () => Date;
}

/** RFC 3339 UTC with milliseconds; the one time format in the tables. */
export function isoTime(date: Date, name: string): string {
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) {
    throw new InputError("INPUT_INVALID", `${name} is not a valid date`);
  }
  return date.toISOString();
}

export function checkSha256(value: string, name: string): void {
  if (!SHA256_HEX.test(value)) {
    throw new InputError("INPUT_INVALID", `${name} is not a lowercase hex SHA-256`);
  }
}

/** payload_sha256 is the SHA-256 of the JWS compact (DESIGN.md, receipt `messageSha256`). */
export function checkPayloadDigest(jws: string, payloadSha256: string): void {
  checkSha256(payloadSha256, "payloadSha256");
  if (sha256Hex(jws) !== payloadSha256) {
    throw new InputError("INPUT_INVALID", "payloadSha256 is not the SHA-256 of the JWS compact");
  }
}

export function checkLimit(limit: number, max: number): void {
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > max) {
    throw new InputError("INPUT_INVALID", `limit must be an integer from 1 to ${max}`);
  }
}

/** Caps free text from peers and errors before it reaches a row. */
export function clip(text: string, max = 2000): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
