import { createHash } from "node:crypto";

/** Lowercase hex SHA-256, the digest form used in messages and receipts. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}
