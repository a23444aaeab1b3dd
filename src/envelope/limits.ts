/** Size caps checked before any JOSE parsing (THREATS.md). */
export const LIMITS = {
  /** A whole JWE compact envelope. */
  maxEnvelopeChars: 8 * 1024 * 1024,
  /** A JWS compact (message or receipt or directory). */
  maxJwsChars: 6 * 1024 * 1024,
  /** A base64url protected header. */
  maxHeaderChars: 64 * 1024,
  /** A receipt JWS compact. */
  maxReceiptChars: 64 * 1024,
  /** Allowed clock skew between nodes for createdAt, in milliseconds (5 minutes). */
  clockSkewMs: 5 * 60_000,
} as const;
