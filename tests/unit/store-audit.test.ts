/**
 * The audit log (DESIGN.md, Evidence and audit): an append-only hash chain whose rows cannot be
 * updated or deleted through SQL, whose tampering through a second connection is detected, and
 * whose signed checkpoints pin earlier heads.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, describe, it } from "node:test";
import Database from "better-sqlite3";
import { sha256Hex } from "../../src/envelope/digest.ts";
import {
  AUDIT_GENESIS_HASH,
  auditRowHash,
  canonicalJson,
  openStore,
  type Store,
} from "../../src/store/index.ts";

const T0 = new Date("2026-06-01T12:00:00.000Z");
const codeOf = (code: string) => (e: unknown) => (e as { code?: string }).code === code;

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "mlax-audit-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `fn` on a second, raw connection to the same file (an attacker with file access). */
function tamper(path: string, fn: (raw: Database.Database) => void): void {
  const raw = new Database(path);
  try {
    fn(raw);
  } finally {
    raw.close();
  }
}

describe("canonicalJson", () => {
  it("sorts members, drops undefined and refuses non-JSON values", () => {
    assert.equal(
      canonicalJson({ b: 1, a: [true, null, { d: "x", c: undefined }], é: "ü" }),
      '{"a":[true,null,{"d":"x"}],"b":1,"é":"ü"}',
    );
    assert.throws(() => canonicalJson({ n: Number.NaN }), TypeError);
    assert.throws(() => canonicalJson({ f: () => 1 }), TypeError);
    assert.throws(() => canonicalJson(10n), TypeError);
  });
});

describe("audit log", () => {
  let store: Store;
  let path: string;
  let tick: number;
  beforeEach(() => {
    path = join(dir, `${randomUUID()}.sqlite`);
    tick = 0;
    store = openStore(path, { now: () => new Date(T0.getTime() + 1000 * tick++) });
    for (let i = 0; i < 6; i++) {
      store.recordSecurityEvent({ kind: "client_mismatch", detail: { i, peer: "MX-FGR" } });
    }
  });

  it("chains every row to the previous one and verifies", () => {
    const entries = store.readAuditLog();
    assert.equal(entries.length, 6);
    let prev = AUDIT_GENESIS_HASH;
    for (const [index, entry] of entries.entries()) {
      assert.equal(entry.seq, index + 1);
      assert.equal(entry.prevHash, prev);
      // the documented rule, recomputed by hand
      const content = canonicalJson({
        detail: entry.detail,
        kind: entry.kind,
        messageId: entry.messageId,
        seq: entry.seq,
        time: entry.time,
      });
      assert.equal(entry.hash, sha256Hex(prev + content));
      assert.equal(auditRowHash(prev, entry), entry.hash);
      prev = entry.hash;
    }
    assert.equal(entries[0]?.time, T0.toISOString());
    assert.deepEqual(store.auditHead(), { seq: 6, hash: prev });
    assert.deepEqual(store.verifyAuditChain(), {
      ok: true,
      count: 6,
      head: { seq: 6, hash: prev },
    });
    assert.deepEqual(
      store.readAuditLog({ afterSeq: 4 }).map((e) => e.seq),
      [5, 6],
    );
    store.close();
  });

  it("verifies an empty log", () => {
    const empty = openStore(join(dir, `${randomUUID()}.sqlite`));
    assert.deepEqual(empty.verifyAuditChain(), { ok: true, count: 0 });
    assert.equal(empty.auditHead(), undefined);
    empty.close();
    store.close();
  });

  it("forbids UPDATE and DELETE, and inserts that do not extend the chain", () => {
    tamper(path, (raw) => {
      assert.throws(() => raw.exec("UPDATE audit_log SET detail_json = '{}' WHERE seq = 2"));
      assert.throws(() => raw.exec("DELETE FROM audit_log WHERE seq = 6"));
      assert.throws(() =>
        raw
          .prepare(
            "INSERT INTO audit_log (seq, time, kind, message_id, detail_json, prev_hash, hash) VALUES (7, 't', 'security', NULL, '{}', ?, ?)",
          )
          .run(AUDIT_GENESIS_HASH, "f".repeat(64)),
      );
    });
    assert.equal(store.verifyAuditChain().ok, true);
    store.close();
  });

  it("detects an edited row once the trigger is dropped", () => {
    tamper(path, (raw) => {
      raw.exec("DROP TRIGGER audit_log_no_update");
      raw.exec(`UPDATE audit_log SET detail_json = '{"i":99,"peer":"MX-FGR"}' WHERE seq = 3`);
    });
    assert.deepEqual(store.verifyAuditChain(), {
      ok: false,
      brokenAt: 3,
      reason: "hash_mismatch",
    });
    store.close();
  });

  it("detects a deleted row and a relinked prev_hash", () => {
    tamper(path, (raw) => {
      raw.exec("DROP TRIGGER audit_log_no_delete");
      raw.exec("DELETE FROM audit_log WHERE seq = 4");
    });
    assert.deepEqual(store.verifyAuditChain(), { ok: false, brokenAt: 4, reason: "seq_gap" });
    store.close();

    const other = openStore(join(dir, `${randomUUID()}.sqlite`));
    for (let i = 0; i < 3; i++) other.recordSecurityEvent({ kind: "envelope_rejected" });
    tamper(other.path, (raw) => {
      raw.exec("DROP TRIGGER audit_log_no_update");
      raw.prepare("UPDATE audit_log SET prev_hash = ? WHERE seq = 2").run("a".repeat(64));
    });
    assert.deepEqual(other.verifyAuditChain(), {
      ok: false,
      brokenAt: 2,
      reason: "prev_hash_mismatch",
    });
    other.close();
  });

  it("catches a consistently rewritten chain with a signed checkpoint", async () => {
    const signed: unknown[] = [];
    const checkpoint = await store.checkpointAudit(async (head) => {
      signed.push(head);
      return `signed.${head.hash}.sig`;
    });
    assert.deepEqual(signed, [store.auditHead()]);
    assert.equal(checkpoint?.seq, 6);
    assert.deepEqual(store.listAuditCheckpoints(), [checkpoint]);
    assert.equal(store.verifyAuditChain().ok, true);

    // Rewrite row 2 and recompute every later hash: the chain alone still holds…
    tamper(path, (raw) => {
      raw.exec("DROP TRIGGER audit_log_no_update");
      const rows = raw.prepare("SELECT * FROM audit_log ORDER BY seq").all() as {
        seq: number;
        time: string;
        kind: "security";
        message_id: string | null;
        detail_json: string;
        prev_hash: string;
      }[];
      let prev = AUDIT_GENESIS_HASH;
      const update = raw.prepare(
        "UPDATE audit_log SET detail_json = ?, prev_hash = ?, hash = ? WHERE seq = ?",
      );
      for (const row of rows) {
        const detail = row.seq === 2 ? { i: 1, peer: "XX-FORGED" } : JSON.parse(row.detail_json);
        const hash = auditRowHash(prev, {
          seq: row.seq,
          time: row.time,
          kind: row.kind,
          messageId: row.message_id,
          detail,
        });
        update.run(canonicalJson(detail), prev, hash, row.seq);
        prev = hash;
      }
    });
    // …but no longer matches the signed checkpoint.
    assert.deepEqual(store.verifyAuditChain(), {
      ok: false,
      brokenAt: 6,
      reason: "checkpoint_mismatch",
    });
    store.close();
  });

  it("catches a truncated tail with a checkpoint", async () => {
    await store.checkpointAudit(async (head) => `sig-${head.seq}`);
    tamper(path, (raw) => {
      raw.exec("DROP TRIGGER audit_log_no_delete");
      raw.exec("PRAGMA foreign_keys = OFF");
      raw.exec("DELETE FROM audit_log WHERE seq >= 5");
    });
    assert.deepEqual(store.verifyAuditChain(), {
      ok: false,
      brokenAt: 6,
      reason: "checkpoint_beyond_head",
    });
    store.close();
  });

  it("stores only checkpoints that match the chain, once per seq", async () => {
    const head = store.auditHead();
    assert.ok(head);
    assert.throws(
      () => store.recordAuditCheckpoint({ seq: 3, hash: head.hash, signatureJws: "sig" }),
      codeOf("STORE_FAILED"),
    );
    assert.throws(
      () => store.recordAuditCheckpoint({ seq: 99, hash: head.hash, signatureJws: "sig" }),
      codeOf("STORE_FAILED"),
    );
    assert.throws(
      () => store.recordAuditCheckpoint({ ...head, signatureJws: "" }),
      codeOf("INPUT_INVALID"),
    );
    const first = store.recordAuditCheckpoint({ ...head, signatureJws: "sig-1" });
    const again = store.recordAuditCheckpoint({ ...head, signatureJws: "sig-2" });
    assert.deepEqual(again, first);
    assert.equal(store.listAuditCheckpoints().length, 1);
    tamper(path, (raw) => {
      assert.throws(() => raw.exec("UPDATE audit_checkpoints SET signature_jws = 'x'"));
      assert.throws(() => raw.exec("DELETE FROM audit_checkpoints"));
    });
    const empty = openStore(join(dir, `${randomUUID()}.sqlite`));
    assert.equal(await empty.checkpointAudit(async () => "never"), undefined);
    empty.close();
    store.close();
  });
});
