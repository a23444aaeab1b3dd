/**
 * The audit log hash chain (DESIGN.md, Evidence and audit), pure so that `mlax verify` can check
 * an exported log offline with the same rule:
 *   hash = SHA-256(prevHash ‖ canonicalJson({seq, time, kind, messageId, detail}))
 * as lowercase hex over the UTF-8 bytes; the first row's prevHash is 64 zeros.
 */
import { sha256Hex } from "../envelope/digest.ts";
import { canonicalJson } from "./canonical-json.ts";

export const AUDIT_GENESIS_HASH = "0".repeat(64);

export const AUDIT_KINDS = [
  "queued",
  "received",
  "accepted",
  "rejected",
  "delivered",
  "failed",
  "security",
] as const;
export type AuditKind = (typeof AUDIT_KINDS)[number];

/** The hashed content of one audit row. */
export interface AuditRecord {
  readonly seq: number;
  /** RFC 3339 UTC with milliseconds. */
  readonly time: string;
  readonly kind: AuditKind;
  readonly messageId: string | null;
  readonly detail: Readonly<Record<string, unknown>>;
}

export function auditRowHash(prevHash: string, record: AuditRecord): string {
  const { seq, time, kind, messageId, detail } = record;
  return sha256Hex(prevHash + canonicalJson({ seq, time, kind, messageId, detail }));
}
