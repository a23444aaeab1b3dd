/**
 * Attachment rows (migration 2) and blob files (src/store/blob-store.ts): a v1 store migrates and
 * keeps its rows; outbound and accepted inbound messages commit with exactly one blob per manifest
 * entry, rejected ones with none; rows are immutable; blob files are written atomically, named at
 * random, moved from incoming/, and only blob names are ever turned into paths.
 */
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Transform } from "node:stream";
import { after, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import { sha256Hex } from "../../src/envelope/digest.ts";
import type { AttachmentManifest, Message } from "../../src/envelope/message.ts";
import {
  type AttachmentBlob,
  MIGRATIONS,
  openBlobStore,
  openStore,
  type Store,
} from "../../src/store/index.ts";
import { migrate } from "../../src/store/migrate.ts";

const T0 = new Date("2026-06-01T12:00:00.000Z");

function fakeCompact(payload: unknown): string {
  const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  return `${part({ alg: "PS256" })}.${part(payload)}.${randomBytes(32).toString("base64url")}`;
}

function manifest(n: number): AttachmentManifest[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `annex-${i}.pdf`,
    mediaType: "application/pdf",
    size: 100 * i,
    sha256: sha256Hex(`plain ${i}`),
  }));
}

function blob(i: number): AttachmentBlob {
  return {
    blobName: `${randomBytes(16).toString("hex")}.blob`,
    ciphertextSha256: sha256Hex(`cipher ${i}`),
    size: 100 * i + 16,
  };
}

function message(from: string, to: string, attachments: AttachmentManifest[]): Message {
  const id = randomUUID();
  return {
    v: 1,
    id,
    type: "request",
    from,
    to,
    createdAt: T0.toISOString(),
    expiresAt: new Date(T0.getTime() + 86_400_000).toISOString(),
    threadId: id,
    body: { kind: "mla" },
    attachments,
  };
}

function outbound(m: Message, attachments: AttachmentBlob[]) {
  const jws = fakeCompact(m);
  return {
    message: m,
    jws,
    payloadSha256: sha256Hex(jws),
    envelope: "a.b.c.d.e",
    urgent: false,
    priority: 0,
    queuedAt: T0,
    attachments,
  };
}

function inbound(m: Message, status: "accepted" | "rejected", attachments: AttachmentBlob[]) {
  const jws = fakeCompact(m);
  return {
    message: m,
    jws,
    payloadSha256: sha256Hex(jws),
    envelopeSha256: sha256Hex(`env ${jws}`),
    receiptJws: fakeCompact({ type: "receipt", n: randomUUID() }),
    receiptStatus: status,
    ...(status === "rejected" ? { reason: "MESSAGE_ATTACHMENT_INVALID" } : {}),
    receivedAt: T0,
    attachments,
  };
}

const codeOf = (code: string) => (e: unknown) => (e as { code?: string }).code === code;

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "mlax-store-att-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe("attachment rows", () => {
  let store: Store;
  before(() => {
    store = openStore(join(dir, `${randomUUID()}.sqlite`), { now: () => T0 });
  });
  after(() => store.close());

  it("migrates a version 1 store to version 2 and keeps its rows", () => {
    const path = join(dir, `${randomUUID()}.sqlite`);
    const m = message("ES-MJ", "CO-FGN", []);
    const jws = fakeCompact(m);
    const raw = new Database(path);
    try {
      migrate(
        raw,
        MIGRATIONS.filter((x) => x.version === 1),
      );
      assert.equal(raw.pragma("user_version", { simple: true }), 1);
      // An outbound row as a version 1 node wrote it.
      const seq = raw
        .prepare(
          `INSERT INTO messages (direction, id, from_authority, to_authority, type, thread_id,
             created_at, expires_at, urgent, priority, jws, payload_sha256, body_json,
             attachments_json, stored_at)
           VALUES ('out', ?, 'ES-MJ', 'CO-FGN', 'request', ?, ?, ?, 0, 0, ?, ?, '{}', '[]', ?)`,
        )
        .run(
          m.id,
          m.id,
          m.createdAt,
          m.expiresAt,
          jws,
          sha256Hex(jws),
          m.createdAt,
        ).lastInsertRowid;
      raw
        .prepare(
          `INSERT INTO outbox (message_seq, state, next_attempt_at, envelope, updated_at)
           VALUES (?, 'queued', ?, 'a.b.c.d.e', ?)`,
        )
        .run(seq, m.createdAt, m.createdAt);
    } finally {
      raw.close();
    }
    const migrated = openStore(path);
    try {
      assert.equal(migrated.pragmas().schemaVersion, 2);
      const claimed = migrated.claimDue(T0, 10);
      assert.deepEqual(
        claimed.map((c) => [c.id, c.attachments]),
        [[m.id, []]],
      );
      assert.deepEqual(migrated.integrityCheck(), { ok: true });
    } finally {
      migrated.close();
    }
  });

  it("queues an outbound message with one blob per manifest entry and claims them in order", () => {
    const m = message("ES-MJ", "CO-FGN", manifest(3));
    const blobs = [blob(0), blob(1), blob(2)];
    assert.throws(
      () => store.enqueueOutbound(outbound(m, blobs.slice(0, 2))),
      codeOf("INPUT_INVALID"),
    );
    assert.throws(
      () => store.enqueueOutbound(outbound(m, [blobs[0]!, blobs[0]!, blobs[2]!])),
      codeOf("INPUT_INVALID"),
    );
    assert.throws(
      () =>
        store.enqueueOutbound(
          outbound(m, [{ ...blobs[0]!, blobName: "../x.blob" }, blobs[1]!, blobs[2]!]),
        ),
      codeOf("INPUT_INVALID"),
    );
    assert.equal(store.getMessage(m.id), undefined, "nothing stored for refused input");
    assert.equal(store.enqueueOutbound(outbound(m, blobs)).outcome, "queued");
    const claimed = store.claimDue(T0, 100).find((c) => c.id === m.id);
    assert.deepEqual(
      claimed?.attachments,
      blobs.map((b, index) => ({ ...b, index })),
    );
    const record = store.getAttachment(m.id, 2);
    assert.deepEqual(record?.manifest, m.attachments[2]);
    assert.deepEqual(record?.blob, { ...blobs[2], index: 2 });
    assert.equal(record?.box, "outbox");
    assert.equal(store.getAttachment(m.id, 3), undefined);
    assert.equal(store.getAttachment(randomUUID(), 0), undefined);
  });

  it("stores blobs with an accepted inbound message only, and never changes them", () => {
    const accepted = message("CO-FGN", "ES-MJ", manifest(2));
    assert.throws(
      () => store.recordInbound(inbound(accepted, "accepted", [])),
      codeOf("INPUT_INVALID"),
    );
    const blobs = [blob(0), blob(1)];
    assert.equal(store.recordInbound(inbound(accepted, "accepted", blobs)).outcome, "stored");
    assert.deepEqual(store.getAttachment(accepted.id, 1, { box: "inbox" })?.blob, {
      ...blobs[1],
      index: 1,
    });

    const rejected = message("CO-FGN", "ES-MJ", manifest(1));
    assert.throws(
      () => store.recordInbound(inbound(rejected, "rejected", [blob(0)])),
      codeOf("INPUT_INVALID"),
    );
    assert.equal(store.recordInbound(inbound(rejected, "rejected", [])).outcome, "stored");
    const kept = store.getAttachment(rejected.id, 0, { box: "inbox" });
    assert.deepEqual(kept?.manifest, rejected.attachments[0]);
    assert.equal(kept?.blob, undefined);

    // A blob name is unique: a second message cannot claim the same file.
    const other = message("IT-MG", "ES-MJ", manifest(1));
    assert.throws(
      () => store.recordInbound(inbound(other, "accepted", [blobs[0]!])),
      codeOf("STORE_FAILED"),
    );
    const raw = new Database(store.path);
    try {
      assert.throws(() => raw.prepare("UPDATE attachments SET size = 99").run(), /immutable/);
    } finally {
      raw.close();
    }
  });
});

describe("blob files", () => {
  const upper = () =>
    new Transform({
      transform(chunk: Buffer, _e, cb) {
        cb(null, Buffer.from(chunk.toString("latin1").toUpperCase(), "latin1"));
      },
    });

  it("writes through transforms into a random 0600 name, atomically", async () => {
    const data = join(dir, randomUUID());
    const blobs = openBlobStore(data);
    assert.equal(statSync(blobs.dir).mode & 0o777, 0o700);
    assert.equal(statSync(blobs.incomingDir).mode & 0o777, 0o700);
    const written = await blobs.write(Readable.from([Buffer.from("abc"), Buffer.from("def")]), [
      upper(),
    ]);
    assert.match(written.name, /^[0-9a-f]{32}\.blob$/);
    assert.equal(written.size, 6);
    assert.equal(written.sha256, sha256Hex("ABCDEF"));
    assert.equal(readFileSync(blobs.path(written.name), "utf8"), "ABCDEF");
    assert.equal(statSync(blobs.path(written.name)).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(blobs.dir), [written.name], "no temporary file left");
    // A failing source leaves nothing behind.
    const failing = new Readable({
      read() {
        this.destroy(new Error("cut"));
      },
    });
    await assert.rejects(blobs.write(failing));
    assert.deepEqual(readdirSync(blobs.dir), [written.name]);
  });

  it("moves incoming files into blobs/ and refuses anything but its own names", async () => {
    const blobs = openBlobStore(join(dir, randomUUID()));
    const part = await blobs.writeIncoming(Readable.from([Buffer.from("cipher")]));
    assert.equal(part.sha256, sha256Hex("cipher"));
    const name = await blobs.adopt(part.path);
    assert.deepEqual(readdirSync(blobs.incomingDir), []);
    assert.equal(readFileSync(blobs.path(name), "utf8"), "cipher");
    await assert.rejects(
      blobs.adopt(join(blobs.incomingDir, "../blobs", name)),
      codeOf("INPUT_INVALID"),
    );
    for (const bad of ["../store.sqlite", "x.blob", `${"a".repeat(32)}.blob/..`, ""]) {
      assert.throws(() => blobs.path(bad), codeOf("INPUT_INVALID"), bad);
    }
    const outside = join(dir, "keep-me.txt");
    writeFileSync(outside, "x");
    await blobs.discard(outside);
    assert.equal(readFileSync(outside, "utf8"), "x", "discard touches incoming/ only");
    await blobs.remove(name);
    assert.deepEqual(readdirSync(blobs.dir), []);
  });

  it("sweeps stale incoming and temporary files, and nothing else", async () => {
    const blobs = openBlobStore(join(dir, randomUUID()));
    const stale = await blobs.writeIncoming(Readable.from([Buffer.from("old")]));
    const fresh = await blobs.writeIncoming(Readable.from([Buffer.from("new")]));
    const kept = await blobs.write(Readable.from([Buffer.from("blob")]));
    const tmp = join(blobs.dir, `.tmp-${"b".repeat(32)}`);
    writeFileSync(tmp, "partial");
    const old = new Date(Date.now() - 2 * 3_600_000);
    for (const p of [stale.path, tmp, blobs.path(kept.name)]) utimesSync(p, old, old);
    assert.equal(await blobs.sweep(3_600_000), 2);
    assert.deepEqual(readdirSync(blobs.incomingDir), [fresh.path.split("/").pop()]);
    assert.deepEqual(readdirSync(blobs.dir), [kept.name]);
  });
});
