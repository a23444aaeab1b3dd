/**
 * Operator API bearer tokens. The secret (`mlax_` + 32 random bytes, base64url) is returned once;
 * only its SHA-256 is stored. Verification compares the digest against every live token in
 * constant time, without stopping at the first match.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { InputError } from "../errors.ts";
import type { StoreContext } from "./store-context.ts";
import { guard } from "./store-errors.ts";
import type { CreatedToken, TokenInfo } from "./store-types.ts";

export const TOKEN_PREFIX = "mlax_";
const SECRET_PATTERN = /^mlax_[A-Za-z0-9_-]{43}$/;
/** last_used_at is refreshed at most this often (each refresh is a synced write). */
const LAST_USED_RESOLUTION_MS = 60_000;

interface TokenRow {
  id: string;
  label: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

function secretDigest(secret: string): Buffer {
  return createHash("sha256").update(secret, "utf8").digest();
}

export function createTokens(ctx: StoreContext) {
  const { db } = ctx;
  const insertStmt = db.prepare(
    "INSERT INTO tokens (id, label, secret_sha256, created_at) VALUES (?, ?, ?, ?)",
  );
  const liveStmt = db.prepare<
    [],
    { id: string; secret_sha256: string; last_used_at: string | null }
  >("SELECT id, secret_sha256, last_used_at FROM tokens WHERE revoked_at IS NULL");
  const touchStmt = db.prepare("UPDATE tokens SET last_used_at = ? WHERE id = ?");
  const revokeStmt = db.prepare(
    "UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
  );
  const listStmt = db.prepare<[], TokenRow>(
    "SELECT id, label, created_at, last_used_at, revoked_at FROM tokens ORDER BY rowid",
  );

  function createToken(label: string): CreatedToken {
    const trimmed = label.trim();
    if (trimmed.length === 0 || trimmed.length > 100) {
      throw new InputError("INPUT_INVALID", "The token label must be 1 to 100 characters");
    }
    const id = `tok_${randomBytes(8).toString("hex")}`;
    const secret = `${TOKEN_PREFIX}${randomBytes(32).toString("base64url")}`;
    const digest = secretDigest(secret).toString("hex");
    guard("create a token", () => insertStmt.run(id, trimmed, digest, ctx.now().toISOString()));
    return { id, secret };
  }

  function verifyToken(secret: string): string | undefined {
    if (!SECRET_PATTERN.test(secret)) return undefined;
    const offered = secretDigest(secret);
    return guard("verify a token", () => {
      let match: { id: string; last_used_at: string | null } | undefined;
      for (const row of liveStmt.all()) {
        const stored = Buffer.from(row.secret_sha256, "hex");
        if (stored.length === offered.length && timingSafeEqual(stored, offered)) match = row;
      }
      if (match === undefined) return undefined;
      const now = ctx.now();
      const lastUsed = match.last_used_at === null ? 0 : Date.parse(match.last_used_at);
      if (now.getTime() - lastUsed >= LAST_USED_RESOLUTION_MS) {
        touchStmt.run(now.toISOString(), match.id);
      }
      return match.id;
    });
  }

  function revokeToken(id: string): boolean {
    return guard("revoke a token", () => revokeStmt.run(ctx.now().toISOString(), id).changes === 1);
  }

  function listTokens(): TokenInfo[] {
    return guard("list tokens", () =>
      listStmt.all().map((row) => ({
        id: row.id,
        label: row.label,
        createdAt: row.created_at,
        lastUsedAt: row.last_used_at,
        revokedAt: row.revoked_at,
      })),
    );
  }

  return { createToken, verifyToken, revokeToken, listTokens };
}
