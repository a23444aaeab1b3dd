/**
 * The append-only audit log (DESIGN.md, Evidence and audit): rows chained by `auditRowHash`,
 * UPDATE/DELETE forbidden by triggers, periodic checkpoints signed by the caller's sign key.
 * `append` joins the caller's transaction so an audit row commits with the fact it records.
 */
import { InputError, StoreError } from "../errors.ts";
import {
  AUDIT_GENESIS_HASH,
  type AuditKind,
  type AuditRecord,
  auditRowHash,
} from "./audit-hash.ts";
import { canonicalJson } from "./canonical-json.ts";
import { checkSha256, isoTime, type StoreContext } from "./store-context.ts";
import { guard } from "./store-errors.ts";
import type {
  AuditBreak,
  AuditChainResult,
  AuditCheckpoint,
  AuditEntry,
  AuditHead,
} from "./store-types.ts";

interface AuditRow {
  seq: number;
  time: string;
  kind: string;
  message_id: string | null;
  detail_json: string;
  prev_hash: string;
  hash: string;
}

interface CheckpointRow {
  seq: number;
  hash: string;
  signature_jws: string;
  created_at: string;
}

function toEntry(row: AuditRow): AuditEntry {
  return {
    seq: row.seq,
    time: row.time,
    kind: row.kind as AuditKind,
    messageId: row.message_id,
    detail: JSON.parse(row.detail_json) as Record<string, unknown>,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

function toCheckpoint(row: CheckpointRow): AuditCheckpoint {
  return {
    seq: row.seq,
    hash: row.hash,
    signatureJws: row.signature_jws,
    createdAt: row.created_at,
  };
}

export function createAuditLog(ctx: StoreContext) {
  const { db } = ctx;
  const headStmt = db.prepare<[], AuditHead>(
    "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
  );
  const insertStmt = db.prepare(
    `INSERT INTO audit_log (seq, time, kind, message_id, detail_json, prev_hash, hash)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
  );
  const afterStmt = db.prepare<[number], AuditRow>(
    "SELECT * FROM audit_log WHERE seq > ? ORDER BY seq",
  );
  /** The head verified last by this connection: later calls check only what came after it. */
  let verified: AuditHead | undefined;
  const pageStmt = db.prepare<[number, number], AuditRow>(
    "SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?",
  );
  const rowHashStmt = db.prepare<[number], { hash: string }>(
    "SELECT hash FROM audit_log WHERE seq = ?",
  );
  const insertCheckpointStmt = db.prepare(
    "INSERT INTO audit_checkpoints (seq, hash, signature_jws, created_at) VALUES (?, ?, ?, ?)",
  );
  const checkpointsStmt = db.prepare<[], CheckpointRow>(
    "SELECT * FROM audit_checkpoints ORDER BY seq",
  );
  const checkpointStmt = db.prepare<[number], CheckpointRow>(
    "SELECT * FROM audit_checkpoints WHERE seq = ?",
  );

  /**
   * Appends one row; call inside the transaction that commits the fact it records. `time` defaults
   * to the store clock.
   */
  function append(
    kind: AuditKind,
    messageId: string | null,
    detail: Record<string, unknown>,
    time: string = ctx.now().toISOString(),
  ): AuditEntry {
    const head = headStmt.get();
    const prevHash = head?.hash ?? AUDIT_GENESIS_HASH;
    // Round-trip the detail so the hashed form is exactly what a reader parses back.
    const detailJson = canonicalJson(detail);
    const record: AuditRecord = {
      seq: (head?.seq ?? 0) + 1,
      time,
      kind,
      messageId,
      detail: JSON.parse(detailJson) as Record<string, unknown>,
    };
    const hash = auditRowHash(prevHash, record);
    insertStmt.run(record.seq, record.time, kind, messageId, detailJson, prevHash, hash);
    return { ...record, detail: { ...record.detail }, prevHash, hash };
  }

  function verifyAuditChain(options: { full?: boolean } = {}): AuditChainResult {
    return guard("verify the audit log", () => {
      // One read transaction: a consistent snapshot even while the node keeps appending.
      return db.transaction((): AuditChainResult => {
        const broken = (brokenAt: number, reason: AuditBreak): AuditChainResult => ({
          ok: false,
          brokenAt,
          reason,
        });
        let prev: AuditHead = { seq: 0, hash: AUDIT_GENESIS_HASH };
        // Incremental by default (rows are immutable: triggers): start from the head verified last,
        // provided its row still holds the same hash. `full` rehashes from the genesis hash.
        if (!options.full && verified && rowHashStmt.get(verified.seq)?.hash === verified.hash) {
          prev = verified;
        }
        for (const row of afterStmt.iterate(prev.seq)) {
          if (row.seq !== prev.seq + 1) return broken(prev.seq + 1, "seq_gap");
          if (row.prev_hash !== prev.hash) return broken(row.seq, "prev_hash_mismatch");
          let entry: AuditEntry;
          try {
            entry = toEntry(row);
          } catch {
            return broken(row.seq, "row_unreadable");
          }
          if (auditRowHash(prev.hash, entry) !== row.hash) return broken(row.seq, "hash_mismatch");
          prev = { seq: row.seq, hash: row.hash };
        }
        // Checkpoints pin earlier heads: a rewritten prefix or a truncated tail shows here.
        for (const checkpoint of checkpointsStmt.iterate()) {
          if (checkpoint.seq > prev.seq) return broken(checkpoint.seq, "checkpoint_beyond_head");
          if (rowHashStmt.get(checkpoint.seq)?.hash !== checkpoint.hash) {
            return broken(checkpoint.seq, "checkpoint_mismatch");
          }
        }
        if (prev.seq > 0) verified = prev;
        return prev.seq === 0 ? { ok: true, count: 0 } : { ok: true, count: prev.seq, head: prev };
      })();
    });
  }

  function auditHead(): AuditHead | undefined {
    return guard("read the audit log", () => headStmt.get());
  }

  function readAuditLog(options: { afterSeq?: number; limit?: number } = {}): AuditEntry[] {
    const afterSeq = options.afterSeq ?? 0;
    const limit = options.limit ?? 1000;
    if (!Number.isSafeInteger(afterSeq) || afterSeq < 0) {
      throw new InputError("INPUT_INVALID", "afterSeq must be a non-negative integer");
    }
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > 10_000) {
      throw new InputError("INPUT_INVALID", "limit must be an integer from 1 to 10000");
    }
    return guard("read the audit log", () => pageStmt.all(afterSeq, limit).map(toEntry));
  }

  function recordAuditCheckpoint(checkpoint: {
    seq: number;
    hash: string;
    signatureJws: string;
    at?: Date;
  }): AuditCheckpoint {
    checkSha256(checkpoint.hash, "hash");
    if (checkpoint.signatureJws.length === 0) {
      throw new InputError("INPUT_INVALID", "signatureJws is empty");
    }
    const createdAt = isoTime(checkpoint.at ?? ctx.now(), "at");
    return guard("record an audit checkpoint", () =>
      db
        .transaction(() => {
          if (rowHashStmt.get(checkpoint.seq)?.hash !== checkpoint.hash) {
            throw new StoreError(
              "STORE_FAILED",
              "The checkpoint hash is not the audit log hash at its seq",
              { details: { seq: checkpoint.seq } },
            );
          }
          const existing = checkpointStmt.get(checkpoint.seq);
          if (existing !== undefined) return toCheckpoint(existing);
          insertCheckpointStmt.run(
            checkpoint.seq,
            checkpoint.hash,
            checkpoint.signatureJws,
            createdAt,
          );
          return {
            seq: checkpoint.seq,
            hash: checkpoint.hash,
            signatureJws: checkpoint.signatureJws,
            createdAt,
          };
        })
        .immediate(),
    );
  }

  async function checkpointAudit(
    sign: (head: AuditHead) => Promise<string>,
  ): Promise<AuditCheckpoint | undefined> {
    const head = auditHead();
    if (head === undefined) return undefined;
    // The chain only grows, so this head stays valid while `sign` runs outside any transaction.
    const signatureJws = await sign(head);
    return recordAuditCheckpoint({ ...head, signatureJws });
  }

  function listAuditCheckpoints(): AuditCheckpoint[] {
    return guard("read the audit checkpoints", () => checkpointsStmt.all().map(toCheckpoint));
  }

  return {
    append,
    api: {
      verifyAuditChain,
      auditHead,
      readAuditLog,
      recordAuditCheckpoint,
      checkpointAudit,
      listAuditCheckpoints,
    },
  };
}

export type AuditLog = ReturnType<typeof createAuditLog>;
