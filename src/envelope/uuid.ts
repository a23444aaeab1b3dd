/**
 * UUID version 7 (RFC 9562 §5.7): 48-bit Unix time in milliseconds, version 7, 12 random bits,
 * variant 0b10, 62 random bits. Time-ordered ids keep messages and receipts sortable by creation.
 */
import { randomBytes } from "node:crypto";
import { InputError } from "../errors.ts";

const MAX_UNIX_MS = 2 ** 48 - 1;

/** A lowercase canonical UUIDv7 for the instant `now`; `random` supplies 10 random bytes. */
export function uuidv7(now: Date, random: (size: number) => Uint8Array = randomBytes): string {
  const ms = now.getTime();
  if (!Number.isInteger(ms) || ms < 0 || ms > MAX_UNIX_MS) {
    throw new InputError("INPUT_INVALID", "uuidv7 needs a valid instant after 1970");
  }
  const rand = random(10);
  if (rand.length < 10) throw new InputError("INPUT_INVALID", "uuidv7 needs 10 random bytes");
  const bytes = new Uint8Array(16);
  // RFC 9562 §5.7 unix_ts_ms: big-endian, bytes 0..5.
  let t = ms;
  for (let i = 5; i >= 0; i--) {
    bytes[i] = t % 256;
    t = Math.floor(t / 256);
  }
  bytes.set(rand.subarray(0, 10), 6);
  // ver = 0b0111 in the high nibble of byte 6; var = 0b10 in the high bits of byte 8.
  bytes[6] = 0x70 | ((bytes[6] ?? 0) & 0x0f);
  bytes[8] = 0x80 | ((bytes[8] ?? 0) & 0x3f);
  const hex = Buffer.from(bytes).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The creation instant encoded in a UUIDv7 (undefined when `id` is not a canonical UUIDv7). */
export function uuidv7Time(id: string): Date | undefined {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id)) {
    return undefined;
  }
  return new Date(Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16));
}
