/**
 * The node store: opening, pragmas, migrations, inbound dedupe, listing, tokens, node state and
 * error mapping (DESIGN.md Delivery; THREATS.md SQLite durability). Outbox: store-outbox.test.ts;
 * audit chain: store-audit.test.ts.
 */
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, describe, it } from "node:test";
import Database from "better-sqlite3";
import { sha256Hex } from "../../src/envelope/digest.ts";
import type { Message } from "../../src/envelope/message.ts";
import { LATEST_SCHEMA_VERSION, MIGRATIONS, openStore, type Store } from "../../src/store/index.ts";

const T0 = new Date("2026-06-01T12:00:00.000Z");

function fakeCompact(payload: unknown): string {
  const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  return `${part({ alg: "PS256" })}.${part(payload)}.${randomBytes(32).toString("base64url")}`;
}

function makeMessage(over: Partial<Message> = {}): Message {
  const id = over.id ?? randomUUID();
  return {
    v: 1,
    id,
    type: "request",
    from: "CO-FGN",
    to: "ES-MJ",
    createdAt: T0.toISOString(),
    expiresAt: new Date(T0.getTime() + 86_400_000).toISOString(),
    threadId: id,
    body: { kind: "mla", urgency: "normal" },
    attachments: [],
    ...over,
  };
}

function inbound(message: Message, over: { receiptStatus?: "accepted" | "rejected" } = {}) {
  const jws = fakeCompact(message);
  return {
    message,
    jws,
    payloadSha256: sha256Hex(jws),
    envelopeSha256: sha256Hex(`envelope:${jws}`),
    receiptJws: fakeCompact({ type: "receipt", messageId: message.id, n: randomUUID() }),
    receiptStatus: over.receiptStatus ?? ("accepted" as const),
    receivedAt: T0,
  };
}

function codeOf(code: string) {
  return (e: unknown) => (e as { code?: string }).code === code;
}

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "mlax-store-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function freshPath(): string {
  return join(dir, `${randomUUID()}.sqlite`);
}

describe("openStore", () => {
  it("sets WAL, synchronous=FULL, foreign keys and a busy timeout", () => {
    const store = openStore(freshPath());
    try {
      assert.deepEqual(store.pragmas(), {
        journalMode: "wal",
        synchronous: 2,
        foreignKeys: true,
        busyTimeoutMs: 5000,
        schemaVersion: LATEST_SCHEMA_VERSION,
      });
      assert.deepEqual(store.integrityCheck(), { ok: true });
    } finally {
      store.close();
    }
  });

  it("numbers migrations 1..n and records the version in user_version", () => {
    assert.deepEqual(
      MIGRATIONS.map((m) => m.version),
      MIGRATIONS.map((_, i) => i + 1),
    );
    const path = freshPath();
    openStore(path).close();
    const raw = new Database(path, { readonly: true });
    try {
      assert.equal(raw.pragma("user_version", { simple: true }), LATEST_SCHEMA_VERSION);
      const tables = raw
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .pluck()
        .all();
      for (const table of ["audit_log", "messages", "outbox", "receipts", "tokens"]) {
        assert.ok(tables.includes(table), table);
      }
    } finally {
      raw.close();
    }
  });

  it("reopens an existing store without re-running migrations and keeps its rows", () => {
    const path = freshPath();
    const first = openStore(path);
    first.recordInbound(inbound(makeMessage({ id: "018f0000-0000-7000-8000-000000000001" })));
    first.close();
    const second = openStore(path);
    try {
      assert.ok(second.getMessage("018f0000-0000-7000-8000-000000000001"));
      assert.equal(second.pragmas().schemaVersion, LATEST_SCHEMA_VERSION);
    } finally {
      second.close();
    }
  });

  it("refuses a store whose schema version is newer than the code knows", () => {
    const path = freshPath();
    openStore(path).close();
    const raw = new Database(path);
    raw.pragma(`user_version = ${LATEST_SCHEMA_VERSION + 1}`);
    raw.close();
    assert.throws(
      () => openStore(path),
      (e: unknown) => {
        const err = e as { code: string; name: string; details: Record<string, unknown> };
        return (
          err.code === "STORE_FAILED" &&
          err.name === "StoreError" &&
          err.details.schemaVersion === LATEST_SCHEMA_VERSION + 1
        );
      },
    );
  });

  it("answers STORE_CORRUPT for a file that is not a database", () => {
    const path = freshPath();
    writeFileSync(path, randomBytes(8192));
    assert.throws(() => openStore(path), codeOf("STORE_CORRUPT"));
  });

  it("answers STORE_FAILED for a folder that does not exist", () => {
    assert.throws(() => openStore(join(dir, "missing", "store.sqlite")), codeOf("STORE_FAILED"));
  });
});

describe("inbound messages", () => {
  let store: Store;
  let path: string;
  beforeEach(() => {
    path = freshPath();
    store = openStore(path, { now: () => T0 });
  });

  it("stores message, issued receipt and audit rows in one go", () => {
    const input = inbound(makeMessage());
    const result = store.recordInbound(input);
    assert.deepEqual(result, { outcome: "stored", receiptJws: input.receiptJws });
    const detail = store.getMessage(input.message.id);
    assert.ok(detail);
    assert.equal(detail.box, "inbox");
    assert.equal(detail.state, "accepted");
    assert.equal(detail.jws, input.jws);
    assert.equal(detail.payloadSha256, input.payloadSha256);
    assert.equal(detail.envelopeSha256, input.envelopeSha256);
    assert.equal(detail.receipt?.jws, input.receiptJws);
    assert.equal(detail.receipt?.direction, "issued");
    assert.equal(detail.receipt?.sha256, sha256Hex(input.receiptJws));
    assert.equal(detail.delivery, undefined);
    assert.deepEqual(detail.body, input.message.body);
    assert.equal(detail.storedAt, T0.toISOString());
    assert.deepEqual(
      store.readAuditLog().map((e) => [e.kind, e.messageId]),
      [
        ["received", input.message.id],
        ["accepted", input.message.id],
      ],
    );
    assert.deepEqual(store.findInbound(input.message.from, input.message.id), {
      payloadSha256: input.payloadSha256,
      receiptJws: input.receiptJws,
      receiptStatus: "accepted",
    });
    assert.equal(store.findInbound("ES-MJ", input.message.id), undefined);
    store.close();
  });

  it("answers the same message again with the stored receipt, byte for byte, once", () => {
    const input = inbound(makeMessage());
    store.recordInbound(input);
    const replay = { ...input, receiptJws: fakeCompact({ other: "receipt" }) };
    const result = store.recordInbound(replay);
    assert.deepEqual(result, {
      outcome: "duplicate",
      receiptJws: input.receiptJws,
      receiptStatus: "accepted",
    });
    assert.equal(store.listMessages({ box: "inbox" }).items.length, 1);
    assert.equal(store.readAuditLog().length, 2);
    store.close();
  });

  it("refuses the same id with another payload, records a security event, keeps the original", () => {
    const original = inbound(makeMessage());
    store.recordInbound(original);
    const forged = inbound({ ...original.message, body: { kind: "mla", forged: true } });
    const result = store.recordInbound(forged);
    assert.equal(result.outcome, "conflict");
    assert.ok(result.outcome === "conflict");
    assert.equal(result.storedPayloadSha256, original.payloadSha256);
    const [event] = store.listSecurityEvents();
    assert.ok(event);
    assert.equal(event.id, result.securityEventId);
    assert.equal(event.kind, "duplicate_conflict");
    assert.equal(event.peerAuthority, original.message.from);
    assert.equal(event.messageId, original.message.id);
    assert.equal(event.detail.offeredPayloadSha256, forged.payloadSha256);
    const kept = store.getMessage(original.message.id);
    assert.equal(kept?.jws, original.jws);
    assert.equal(kept?.receipt?.jws, original.receiptJws);
    assert.deepEqual(
      store.readAuditLog().map((e) => e.kind),
      ["received", "accepted", "security"],
    );
    assert.deepEqual(store.verifyAuditChain().ok, true);
    store.close();
  });

  it("keeps the same id from two senders apart", () => {
    const id = randomUUID();
    const a = inbound(makeMessage({ id, from: "CO-FGN" }));
    const b = inbound(makeMessage({ id, from: "MX-FGR" }));
    assert.equal(store.recordInbound(a).outcome, "stored");
    assert.equal(store.recordInbound(b).outcome, "stored");
    assert.equal(store.getMessage(id)?.from, "CO-FGN");
    assert.equal(store.getMessage(id, { from: "MX-FGR" })?.jws, b.jws);
    assert.equal(store.getMessage(id, { box: "outbox" }), undefined);
    store.close();
  });

  it("stores a rejected receipt with its reason and audits `rejected`", () => {
    const input = {
      ...inbound(makeMessage(), { receiptStatus: "rejected" }),
      reason: "MESSAGE_EXPIRED",
    };
    assert.equal(store.recordInbound(input).outcome, "stored");
    const detail = store.getMessage(input.message.id);
    assert.equal(detail?.state, "rejected");
    assert.equal(detail?.receipt?.reason, "MESSAGE_EXPIRED");
    assert.deepEqual(
      store.readAuditLog().map((e) => e.kind),
      ["received", "rejected"],
    );
    // a replay of a rejected message gets the same rejected receipt
    const again = store.recordInbound({ ...input, receiptJws: "x.y.z" });
    assert.deepEqual(again, {
      outcome: "duplicate",
      receiptJws: input.receiptJws,
      receiptStatus: "rejected",
    });
    store.close();
  });

  it("refuses bad arguments before touching the tables", () => {
    const input = inbound(makeMessage());
    assert.throws(
      () => store.recordInbound({ ...input, payloadSha256: sha256Hex("other") }),
      codeOf("INPUT_INVALID"),
    );
    assert.throws(
      () => store.recordInbound({ ...input, envelopeSha256: "abc" }),
      codeOf("INPUT_INVALID"),
    );
    assert.throws(
      () => store.recordInbound({ ...input, receiptStatus: "rejected" }),
      codeOf("INPUT_INVALID"),
    );
    assert.throws(
      () => store.recordInbound({ ...input, receivedAt: new Date(Number.NaN) }),
      codeOf("INPUT_INVALID"),
    );
    assert.equal(store.listMessages({ box: "inbox" }).items.length, 0);
    store.close();
  });
});

describe("listing", () => {
  let store: Store;
  const ids: string[] = [];
  before(() => {
    store = openStore(freshPath(), { now: () => T0 });
    for (let i = 0; i < 250; i++) {
      const input = inbound(makeMessage(), {
        receiptStatus: i % 5 === 0 ? "rejected" : "accepted",
      });
      store.recordInbound(i % 5 === 0 ? { ...input, reason: "THREAD_INVALID" } : input);
      ids.push(input.message.id);
    }
  });
  after(() => store.close());

  it("pages 250 messages newest first without gaps or repeats, even while rows arrive", () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = store.listMessages({ box: "inbox", limit: 60, cursor });
      seen.push(...page.items.map((m) => m.id));
      cursor = page.nextCursor;
      pages++;
      if (pages === 2) {
        // a message arriving mid-listing is newer than the cursor: it must not shift the pages
        store.recordInbound(inbound(makeMessage()));
      }
    } while (cursor !== undefined);
    assert.equal(pages, 5);
    assert.deepEqual(seen, [...ids].reverse());
  });

  it("pages with the maximum limit and stops with no cursor", () => {
    const first = store.listMessages({ box: "inbox", limit: 200 });
    assert.equal(first.items.length, 200);
    assert.ok(first.nextCursor);
    const second = store.listMessages({ box: "inbox", limit: 200, cursor: first.nextCursor });
    assert.equal(second.items.length, 51);
    assert.equal(second.nextCursor, undefined);
    assert.equal(store.listMessages({ box: "outbox" }).items.length, 0);
  });

  it("filters by state and keeps the filter bound to the cursor", () => {
    const rejected: string[] = [];
    let cursor: string | undefined;
    do {
      const page = store.listMessages({ box: "inbox", state: "rejected", limit: 20, cursor });
      for (const item of page.items) assert.equal(item.state, "rejected");
      rejected.push(...page.items.map((m) => m.id));
      cursor = page.nextCursor;
      if (cursor !== undefined) {
        assert.throws(() => store.listMessages({ box: "inbox", cursor }), codeOf("INPUT_INVALID"));
        assert.throws(() => store.listMessages({ box: "outbox", cursor }), codeOf("INPUT_INVALID"));
      }
    } while (cursor !== undefined);
    assert.deepEqual(rejected, ids.filter((_, i) => i % 5 === 0).reverse());
  });

  it("refuses limits above 200 and forged cursors", () => {
    assert.throws(() => store.listMessages({ box: "inbox", limit: 201 }), codeOf("INPUT_INVALID"));
    assert.throws(() => store.listMessages({ box: "inbox", limit: 0 }), codeOf("INPUT_INVALID"));
    for (const cursor of ["", "%%%", Buffer.from("{}").toString("base64url"), "e30"]) {
      assert.throws(() => store.listMessages({ box: "inbox", cursor }), codeOf("INPUT_INVALID"));
    }
  });
});

describe("tokens", () => {
  it("stores only the SHA-256 of the secret and verifies it", () => {
    const path = freshPath();
    let clock = T0;
    const store = openStore(path, { now: () => clock });
    const { id, secret } = store.createToken("ops laptop");
    assert.match(secret, /^mlax_[A-Za-z0-9_-]{43}$/);
    assert.equal(store.verifyToken(secret), id);
    assert.equal(store.listTokens()[0]?.lastUsedAt, T0.toISOString());
    clock = new Date(T0.getTime() + 120_000);
    assert.equal(store.verifyToken(secret), id);
    assert.equal(store.listTokens()[0]?.lastUsedAt, clock.toISOString());
    const flipped = `${secret.slice(0, -1)}${secret.endsWith("A") ? "B" : "A"}`;
    assert.equal(store.verifyToken(flipped), undefined);
    assert.equal(store.verifyToken("mlax_short"), undefined);
    assert.equal(store.verifyToken(""), undefined);
    store.close();

    const files = [path, `${path}-wal`].map((p) => {
      try {
        return readFileSync(p);
      } catch {
        return Buffer.alloc(0);
      }
    });
    const bytes = Buffer.concat(files);
    assert.equal(bytes.includes(Buffer.from(secret)), false, "the secret is not in the files");
    assert.equal(bytes.includes(Buffer.from(secret.slice(5))), false);
    const raw = new Database(path, { readonly: true });
    try {
      const row = raw.prepare("SELECT * FROM tokens WHERE id = ?").get(id) as Record<
        string,
        unknown
      >;
      assert.equal(row.secret_sha256, sha256Hex(secret));
      assert.equal(Object.values(row).includes(secret), false);
    } finally {
      raw.close();
    }
  });

  it("revokes, lists and refuses bad labels", () => {
    const store = openStore(freshPath(), { now: () => T0 });
    const a = store.createToken("a");
    const b = store.createToken("b");
    assert.notEqual(a.secret, b.secret);
    assert.equal(store.revokeToken(a.id), true);
    assert.equal(store.revokeToken(a.id), false);
    assert.equal(store.revokeToken("tok_unknown"), false);
    assert.equal(store.verifyToken(a.secret), undefined);
    assert.equal(store.verifyToken(b.secret), b.id);
    const listed = store.listTokens();
    assert.deepEqual(
      listed.map((t) => [t.label, t.revokedAt]),
      [
        ["a", T0.toISOString()],
        ["b", null],
      ],
    );
    assert.throws(() => store.createToken("  "), codeOf("INPUT_INVALID"));
    store.close();
  });
});

describe("node state and security events", () => {
  it("gets and sets state, and never lowers the directory serial", () => {
    const store = openStore(freshPath());
    assert.equal(store.getState("k"), undefined);
    store.setState("k", "v1");
    store.setState("k", "v2");
    assert.equal(store.getState("k"), "v2");
    assert.equal(store.directorySerial(), undefined);
    assert.equal(store.raiseDirectorySerial(5), true);
    assert.equal(store.raiseDirectorySerial(5), true);
    assert.equal(store.raiseDirectorySerial(4), false);
    assert.equal(store.directorySerial(), 5);
    assert.equal(store.raiseDirectorySerial(12), true);
    assert.equal(store.directorySerial(), 12);
    assert.throws(() => store.raiseDirectorySerial(1.5), codeOf("INPUT_INVALID"));
    assert.throws(() => store.setState("", "x"), codeOf("INPUT_INVALID"));
    store.close();
  });

  it("records security events newest first, each with an audit row", () => {
    const store = openStore(freshPath(), { now: () => T0 });
    const first = store.recordSecurityEvent({
      kind: "client_mismatch",
      peerAuthority: "MX-FGR",
      detail: { tlsAuthority: "MX-FGR", signer: "CO-FGN" },
    });
    const second = store.recordSecurityEvent({ kind: "directory_rollback", detail: { serial: 3 } });
    const events = store.listSecurityEvents();
    assert.deepEqual(
      events.map((e) => e.id),
      [second, first],
    );
    assert.deepEqual(events[1]?.detail, { signer: "CO-FGN", tlsAuthority: "MX-FGR" });
    assert.deepEqual(
      store.listSecurityEvents({ beforeId: second }).map((e) => e.id),
      [first],
    );
    const audit = store.readAuditLog();
    assert.deepEqual(
      audit.map((e) => [e.kind, e.detail.securityEventId]),
      [
        ["security", first],
        ["security", second],
      ],
    );
    store.close();
  });
});

describe("store errors", () => {
  it("hides SQL from the message and keeps the driver error as cause", () => {
    const path = freshPath();
    const store = openStore(path);
    const raw = new Database(path);
    raw.exec("DROP TABLE node_state");
    raw.close();
    assert.throws(
      () => store.setState("k", "v"),
      (e: unknown) => {
        const err = e as Error & { code: string };
        return (
          err.code === "STORE_FAILED" &&
          !/node_state|INSERT|SELECT|no such/i.test(err.message) &&
          err.cause instanceof Error
        );
      },
    );
    store.close();
  });

  it("answers STORE_FAILED once closed", () => {
    const store = openStore(freshPath());
    store.close();
    assert.throws(() => store.getState("k"), codeOf("STORE_FAILED"));
  });
});
