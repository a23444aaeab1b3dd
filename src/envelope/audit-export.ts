/**
 * Audit log exports, `format: "mlax-audit/1"` (DESIGN.md, "Evidence and audit"): a node's
 * append-only, hash-chained audit log with its signed checkpoints, verifiable offline against the
 * network CA. Verification recomputes every row hash with the store's own rule
 * (src/store/audit-hash.ts, pure), checks seq continuity and prev links from the genesis hash, and
 * checks each checkpoint: signed by the exporting authority's sign key (certificate valid at the
 * checkpoint time), pinning a row whose seq and hash it states.
 *
 * Caps: at most 1,000,000 entries and 100,000 checkpoints per export; the CLI reads files of at
 * most 256 MiB (MAX_AUDIT_EXPORT_BYTES). A log longer than that cannot be exported whole yet.
 *
 * Entries after the last checkpoint are hash-chained but not signed: anyone able to write the file
 * could have appended or rewritten them. That is a warning in the result, not a failure.
 */
import { z } from "zod";
import { EvidenceError, isMlaxError } from "../errors.ts";
import {
  AUDIT_GENESIS_HASH,
  AUDIT_KINDS,
  type AuditKind,
  auditRowHash,
} from "../store/audit-hash.ts";
import {
  type AuditHeadLike,
  MAX_AUDIT_CHECKPOINT_CHARS,
  verifyAuditCheckpoint,
} from "./audit-checkpoint.ts";
import { authorityIdSchema, SHA256_HEX_PATTERN } from "./message.ts";
import type { TrustView } from "./trust.ts";

export const AUDIT_EXPORT_FORMAT = "mlax-audit/1";
export const MAX_AUDIT_EXPORT_ENTRIES = 1_000_000;
export const MAX_AUDIT_EXPORT_CHECKPOINTS = 100_000;
/** The largest export file the CLI reads (a V8 string holds at most ~512 Mi characters). */
export const MAX_AUDIT_EXPORT_BYTES = 256 * 1024 * 1024;

const sha256Hex = z.string().regex(SHA256_HEX_PATTERN);
const seq = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);

export const auditExportEntrySchema = z.strictObject({
  seq,
  /** RFC 3339 UTC as the store wrote it; covered by the row hash, so not reformatted. */
  time: z.string().min(1).max(64),
  kind: z.enum(AUDIT_KINDS),
  messageId: z.string().min(1).max(128).nullable(),
  detail: z.record(z.string(), z.unknown()),
  prevHash: sha256Hex,
  hash: sha256Hex,
});

export const auditExportCheckpointSchema = z.strictObject({
  seq,
  hash: sha256Hex,
  /** The checkpoint JWS (audit-checkpoint.ts). */
  signatureJws: z.string().min(1).max(MAX_AUDIT_CHECKPOINT_CHARS),
  /** When the store recorded it (not signed; the signed time is the payload's `at`). */
  createdAt: z.string().min(1).max(64),
});

export const auditExportSchema = z.strictObject({
  format: z.literal(AUDIT_EXPORT_FORMAT),
  /** The authority whose node kept this log; every checkpoint must be signed by it. */
  authority: authorityIdSchema,
  exportedAt: z.iso.datetime({ offset: false, precision: 3 }),
  /** The whole log from seq 1, in seq order. */
  entries: z.array(auditExportEntrySchema).max(MAX_AUDIT_EXPORT_ENTRIES),
  /** In seq order. */
  checkpoints: z.array(auditExportCheckpointSchema).max(MAX_AUDIT_EXPORT_CHECKPOINTS),
});

export type AuditExport = z.infer<typeof auditExportSchema>;
export type AuditExportEntry = z.infer<typeof auditExportEntrySchema>;
export type AuditExportCheckpoint = z.infer<typeof auditExportCheckpointSchema>;

/** Assembles an export from the store's rows (`readAuditLog`, `listAuditCheckpoints`). */
export function createAuditExport(input: {
  readonly authority: string;
  readonly exportedAt: Date;
  readonly entries: readonly AuditExportEntry[];
  readonly checkpoints: readonly AuditExportCheckpoint[];
}): AuditExport {
  return {
    format: AUDIT_EXPORT_FORMAT,
    authority: input.authority,
    exportedAt: input.exportedAt.toISOString(),
    entries: input.entries.map((e) => ({
      seq: e.seq,
      time: e.time,
      kind: e.kind,
      messageId: e.messageId,
      detail: e.detail,
      prevHash: e.prevHash,
      hash: e.hash,
    })),
    checkpoints: input.checkpoints.map((c) => ({
      seq: c.seq,
      hash: c.hash,
      signatureJws: c.signatureJws,
      createdAt: c.createdAt,
    })),
  };
}

export function parseAuditExport(value: unknown): AuditExport {
  const parsed = auditExportSchema.safeParse(value);
  if (!parsed.success) {
    throw new EvidenceError("BUNDLE_MALFORMED", `not an ${AUDIT_EXPORT_FORMAT} export`, {
      details: { issues: parsed.error.issues.slice(0, 10) },
    });
  }
  return parsed.data;
}

/** Why a chain does not hold (the store's AuditBreak, plus checkpoint order). */
export type AuditExportBreak =
  | "seq_gap"
  | "prev_hash_mismatch"
  | "hash_mismatch"
  | "row_unreadable"
  | "checkpoint_order"
  | "checkpoint_beyond_head"
  | "checkpoint_mismatch";

function broken(atSeq: number, reason: AuditExportBreak, message: string): EvidenceError {
  return new EvidenceError("AUDIT_CHAIN_BROKEN", `audit seq ${atSeq}: ${message}`, {
    details: { seq: atSeq, reason },
  });
}

export interface VerifiedAuditCheckpointInfo {
  readonly seq: number;
  readonly hash: string;
  /** The signed time. */
  readonly at: string;
  /** Lowercase hex SHA-256 of the signer certificate. */
  readonly signerSha256: string;
}

export interface VerifiedAuditExport {
  readonly authority: string;
  readonly exportedAt: string;
  /** Number of entries (seq 1..entries). */
  readonly entries: number;
  readonly head?: AuditHeadLike;
  readonly firstTime?: string;
  readonly lastTime?: string;
  readonly kinds: Readonly<Partial<Record<AuditKind, number>>>;
  readonly checkpointsVerified: number;
  readonly lastCheckpoint?: VerifiedAuditCheckpointInfo;
  /** True when the last checkpoint pins the head (or the log is empty). */
  readonly headCovered: boolean;
  /** Entries after the last checkpoint: hash-chained but not signed. */
  readonly unsignedEntries: number;
  readonly warnings: readonly string[];
}

/**
 * Verifies an `mlax-audit/1` export offline. Throws BUNDLE_MALFORMED (schema), AUDIT_CHAIN_BROKEN
 * (details: seq, reason), or for a checkpoint signature the codes of `verifyAuditCheckpoint`
 * (ENVELOPE_SIGNATURE_INVALID, SIGNER_KEY_ROLE, SIGNER_MISMATCH, SIGNER_UNKNOWN, CERT_*,
 * ENVELOPE_MALFORMED, ENVELOPE_HEADER_INVALID) with `details.seq` added.
 */
export async function verifyAuditExport(
  value: unknown,
  options: { readonly trust: TrustView },
): Promise<VerifiedAuditExport> {
  const exported = parseAuditExport(value);
  const { entries, checkpoints, authority } = exported;

  // The chain: seq 1, 2, 3…, each prevHash the previous hash (genesis first), each hash recomputed.
  let prev: AuditHeadLike = { seq: 0, hash: AUDIT_GENESIS_HASH };
  const kinds: Partial<Record<AuditKind, number>> = {};
  for (const entry of entries) {
    const expected = prev.seq + 1;
    if (entry.seq !== expected) {
      throw broken(expected, "seq_gap", `expected seq ${expected}, found ${entry.seq}`);
    }
    if (entry.prevHash !== prev.hash) {
      throw broken(entry.seq, "prev_hash_mismatch", "prevHash is not the previous row's hash");
    }
    let hash: string;
    try {
      hash = auditRowHash(prev.hash, entry);
    } catch {
      throw broken(entry.seq, "row_unreadable", "the row cannot be hashed");
    }
    if (hash !== entry.hash) {
      throw broken(entry.seq, "hash_mismatch", "the row hash does not match its content");
    }
    kinds[entry.kind] = (kinds[entry.kind] ?? 0) + 1;
    prev = { seq: entry.seq, hash: entry.hash };
  }
  const head = prev.seq === 0 ? undefined : prev;

  // Checkpoints pin earlier heads: each one signed by the exporting authority over a row's hash.
  let lastCheckpoint: VerifiedAuditCheckpointInfo | undefined;
  for (const checkpoint of checkpoints) {
    if (lastCheckpoint !== undefined && checkpoint.seq <= lastCheckpoint.seq) {
      throw broken(
        checkpoint.seq,
        "checkpoint_order",
        "checkpoints are not in increasing seq order",
      );
    }
    if (checkpoint.seq > prev.seq) {
      throw broken(
        checkpoint.seq,
        "checkpoint_beyond_head",
        "a checkpoint pins a row not in the log",
      );
    }
    const row = entries[checkpoint.seq - 1];
    if (row?.hash !== checkpoint.hash) {
      throw broken(
        checkpoint.seq,
        "checkpoint_mismatch",
        "the checkpoint hash is not the row hash",
      );
    }
    let verified: Awaited<ReturnType<typeof verifyAuditCheckpoint>>;
    try {
      verified = await verifyAuditCheckpoint(checkpoint.signatureJws, {
        trust: options.trust,
        expect: { authority },
      });
    } catch (cause) {
      if (!isMlaxError(cause)) {
        throw new EvidenceError("INTERNAL", "unexpected failure while verifying a checkpoint", {
          cause,
        });
      }
      throw new EvidenceError(cause.code, `checkpoint at seq ${checkpoint.seq}: ${cause.message}`, {
        cause,
        details: { ...(cause.details ?? {}), seq: checkpoint.seq },
      });
    }
    // The signed seq and hash, not only the unsigned copy beside them.
    if (verified.payload.seq !== checkpoint.seq || verified.payload.hash !== checkpoint.hash) {
      throw broken(
        checkpoint.seq,
        "checkpoint_mismatch",
        "the signed seq or hash is not the checkpoint's",
      );
    }
    lastCheckpoint = {
      seq: checkpoint.seq,
      hash: checkpoint.hash,
      at: verified.payload.at,
      signerSha256: verified.signer.sha256,
    };
  }

  const unsignedEntries = prev.seq - (lastCheckpoint?.seq ?? 0);
  const warnings: string[] = [];
  if (unsignedEntries > 0) {
    warnings.push(
      lastCheckpoint
        ? `entries ${lastCheckpoint.seq + 1}..${prev.seq} after the last checkpoint (seq ${lastCheckpoint.seq}) are hash-chained but not signed`
        : `no signed checkpoint: entries 1..${prev.seq} are hash-chained but not signed`,
    );
  }
  return {
    authority,
    exportedAt: exported.exportedAt,
    entries: prev.seq,
    ...(head ? { head } : {}),
    ...(entries.length > 0
      ? { firstTime: entries[0]?.time, lastTime: entries[entries.length - 1]?.time }
      : {}),
    kinds,
    checkpointsVerified: checkpoints.length,
    ...(lastCheckpoint ? { lastCheckpoint } : {}),
    headCovered: unsignedEntries === 0,
    unsignedEntries,
    warnings,
  };
}
