/**
 * Opens (creating if needed) the node's SQLite store (DESIGN.md, Delivery; THREATS.md, SQLite
 * durability): WAL with synchronous=FULL so a committed outbox, inbox or receipt row survives a
 * process crash and a power loss, foreign keys on, a busy timeout, migrations applied. The caller
 * creates the data folder (mode 0700) and passes the file path.
 */
import Database from "better-sqlite3";
import { StoreError } from "../errors.ts";
import { createAuditLog } from "./audit-log.ts";
import { createInbox } from "./inbox.ts";
import { createListing } from "./listing.ts";
import { migrate } from "./migrate.ts";
import { createNodeState } from "./node-state.ts";
import { createOutbox } from "./outbox.ts";
import { createSecurityEvents } from "./security-events.ts";
import type { StoreContext } from "./store-context.ts";
import { guard, toStoreError } from "./store-errors.ts";
import type { IntegrityResult, OpenStoreOptions, Store, StorePragmas } from "./store-types.ts";
import { createTokens } from "./tokens.ts";

const DEFAULT_BUSY_TIMEOUT_MS = 5000;

function configure(db: Database.Database, path: string, busyTimeoutMs: number): void {
  db.pragma(`busy_timeout = ${busyTimeoutMs}`);
  const mode = db.pragma("journal_mode = WAL", { simple: true });
  if (mode !== "wal" && path !== ":memory:") {
    throw new StoreError("STORE_FAILED", "The store cannot use write-ahead logging", {
      details: { journalMode: String(mode) },
    });
  }
  db.pragma("synchronous = FULL");
  db.pragma("foreign_keys = ON");
}

export function openStore(path: string, options: OpenStoreOptions = {}): Store {
  const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  if (!Number.isSafeInteger(busyTimeoutMs) || busyTimeoutMs < 0) {
    throw new StoreError("STORE_FAILED", "busyTimeoutMs must be a non-negative integer");
  }
  let db: Database.Database;
  try {
    db = new Database(path);
  } catch (e) {
    throw toStoreError(e, "open the store file");
  }
  try {
    configure(db, path, busyTimeoutMs);
    migrate(db);
  } catch (e) {
    db.close();
    throw toStoreError(e, "prepare the store");
  }

  const ctx: StoreContext = { db, now: options.now ?? (() => new Date()) };
  const audit = createAuditLog(ctx);
  const security = createSecurityEvents(ctx, audit);

  function integrityCheck(): IntegrityResult {
    try {
      const rows = db.pragma("integrity_check") as { integrity_check: string }[];
      const problems = rows.map((row) => row.integrity_check).filter((text) => text !== "ok");
      const orphans = db.pragma("foreign_key_check") as { table: string; rowid: number }[];
      for (const orphan of orphans) {
        problems.push(`foreign key violation in ${orphan.table} row ${orphan.rowid}`);
      }
      return problems.length === 0 ? { ok: true } : { ok: false, problems };
    } catch (e) {
      const error = toStoreError(e, "check its integrity");
      if (error.code === "STORE_CORRUPT") return { ok: false, problems: [error.message] };
      throw error;
    }
  }

  function pragmas(): StorePragmas {
    return guard("read its settings", () => ({
      journalMode: String(db.pragma("journal_mode", { simple: true })),
      synchronous: Number(db.pragma("synchronous", { simple: true })),
      foreignKeys: db.pragma("foreign_keys", { simple: true }) === 1,
      busyTimeoutMs: Number(db.pragma("busy_timeout", { simple: true })),
      schemaVersion: Number(db.pragma("user_version", { simple: true })),
    }));
  }

  return {
    path,
    close: () => guard("close", () => void db.close()),
    integrityCheck,
    pragmas,
    ...createInbox(ctx, audit, security),
    ...createOutbox(ctx, audit),
    ...createListing(ctx),
    ...security.api,
    ...audit.api,
    ...createTokens(ctx),
    ...createNodeState(ctx),
  };
}
