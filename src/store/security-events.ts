/**
 * Security events (THREATS.md): a replayed id with another payload, a TLS client that is not the
 * signer, a directory rollback… Each one is also an audit `security` row, in the same transaction.
 */
import { InputError } from "../errors.ts";
import type { AuditLog } from "./audit-log.ts";
import { canonicalJson } from "./canonical-json.ts";
import { checkLimit, isoTime, type StoreContext } from "./store-context.ts";
import { guard } from "./store-errors.ts";
import type { SecurityEvent, SecurityEventInput, SecurityEventKind } from "./store-types.ts";

interface SecurityEventRow {
  id: number;
  at: string;
  kind: string;
  peer_authority: string | null;
  message_id: string | null;
  detail_json: string;
}

export function createSecurityEvents(ctx: StoreContext, audit: AuditLog) {
  const { db } = ctx;
  const insertStmt = db.prepare(
    `INSERT INTO security_events (at, kind, peer_authority, message_id, detail_json)
     VALUES (?, ?, ?, ?, ?)`,
  );
  const listStmt = db.prepare<[number, number], SecurityEventRow>(
    "SELECT * FROM security_events WHERE id < ? ORDER BY id DESC LIMIT ?",
  );

  /** Inserts the event and its audit row; call inside a transaction. */
  function record(input: SecurityEventInput): number {
    const at = isoTime(input.at ?? ctx.now(), "at");
    const detail = input.detail ?? {};
    const result = insertStmt.run(
      at,
      input.kind,
      input.peerAuthority ?? null,
      input.messageId ?? null,
      canonicalJson(detail),
    );
    const id = Number(result.lastInsertRowid);
    audit.append(
      "security",
      input.messageId ?? null,
      {
        securityEventId: id,
        kind: input.kind,
        peerAuthority: input.peerAuthority ?? null,
        detail,
      },
      at,
    );
    return id;
  }

  function recordSecurityEvent(input: SecurityEventInput): number {
    if (input.kind.length === 0 || input.kind.length > 64) {
      throw new InputError("INPUT_INVALID", "kind must be 1 to 64 characters");
    }
    return guard("record a security event", () => db.transaction(record).immediate(input));
  }

  function listSecurityEvents(
    options: { limit?: number; beforeId?: number } = {},
  ): SecurityEvent[] {
    const limit = options.limit ?? 100;
    checkLimit(limit, 1000);
    const beforeId = options.beforeId ?? Number.MAX_SAFE_INTEGER;
    return guard("read the security events", () =>
      listStmt.all(beforeId, limit).map((row) => ({
        id: row.id,
        at: row.at,
        kind: row.kind as SecurityEventKind,
        peerAuthority: row.peer_authority,
        messageId: row.message_id,
        detail: JSON.parse(row.detail_json) as Record<string, unknown>,
      })),
    );
  }

  return { record, api: { recordSecurityEvent, listSecurityEvents } };
}

export type SecurityEvents = ReturnType<typeof createSecurityEvents>;
