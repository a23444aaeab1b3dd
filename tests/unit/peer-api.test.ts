/**
 * The peer API app through supertest (no port): what a receiving node answers for each kind of
 * envelope, with and without attachment parts. TLS client identity is injected here; the real
 * mutual-TLS binding is exercised in tests/integration/multi-node.test.ts.
 */

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Express } from "express";
import request from "supertest";
import { exampleRequestBody } from "../../src/domain/example-request.ts";
import { encryptBuffer, generateAttachmentKey } from "../../src/envelope/attachment-stream.ts";
import { sha256Hex } from "../../src/envelope/digest.ts";
import type { AttachmentManifest } from "../../src/envelope/message.ts";
import { newMessage } from "../../src/envelope/new-message.ts";
import { verifyReceipt } from "../../src/envelope/receipt.ts";
import { seal } from "../../src/envelope/seal.ts";
import { StoreError } from "../../src/errors.ts";
import { receiveContextOf } from "../../src/node/context.ts";
import { sendMessage } from "../../src/node/send-message.ts";
import { createPeerApp, type PeerAppOptions } from "../../src/peer/app.ts";
import { openBlobStore } from "../../src/store/index.ts";
import { makeTestNode, type TestNode, testNetworkTrust } from "../helpers/node-context.ts";
import { makeTestPki } from "../helpers/pki-fixture.ts";

describe("peer API: POST /peer/v1/envelopes", () => {
  let receiver: TestNode;
  let sender: TestNode;
  let app: Express;
  let options: PeerAppOptions;
  let client = "CO-FGN";

  before(async () => {
    const pki = makeTestPki();
    const network = await testNetworkTrust(pki, { now: pki.now });
    receiver = await makeTestNode({ pki, network, authorityId: "ES-MJ" });
    sender = await makeTestNode({ pki, network, authorityId: "CO-FGN" });
    const ctx = receiver.ctx;
    options = {
      context: receiveContextOf(ctx, openBlobStore(receiver.dataDir)),
      identifyClient: () => client,
    };
    app = createPeerApp(options);
  });

  after(() => {
    receiver?.close();
    sender?.close();
  });

  /** Queues a message on the sender node and returns the exact envelope its outbox would send. */
  async function queued(input: Record<string, unknown>): Promise<{ id: string; envelope: string }> {
    const q = await sendMessage(sender.ctx, input);
    const [claimed] = sender.store.claimDue(new Date(Date.parse(q.createdAt) + 1), 1);
    assert.ok(claimed);
    sender.store.markFailed(
      claimed.id,
      { code: "TEST", message: "sent by hand" },
      sender.ctx.now(),
    );
    return { id: q.id, envelope: claimed.envelope };
  }

  const post = (envelope: string) =>
    request(app).post("/peer/v1/envelopes").field("envelope", envelope);

  async function receiptOf(res: request.Response) {
    assert.equal(res.status, 200, res.text);
    const { receipt } = await verifyReceipt(res.body.receipt, {
      trust: receiver.ctx.network().trust,
      at: [receiver.ctx.now()],
    });
    return receipt;
  }

  it("accepts a request, answers a signed receipt, and answers the same bytes for a resend", async () => {
    client = "CO-FGN";
    const { id, envelope } = await queued({ to: "ES-MJ", body: exampleRequestBody() });
    const first = await post(envelope);
    const receipt = await receiptOf(first);
    assert.equal(receipt.status, "accepted");
    assert.equal(receipt.messageId, id);
    const again = await post(envelope);
    assert.equal(again.status, 200);
    assert.equal(again.body.receipt, first.body.receipt, "stored receipt, byte for byte");
    const rows = receiver.store
      .listMessages({ box: "inbox", limit: 200 })
      .items.filter((m) => m.id === id);
    assert.equal(rows.length, 1);
  });

  it("answers 409 for the same id with another signed payload, and keeps the original", async () => {
    const { id, envelope } = await queued({ to: "ES-MJ", body: exampleRequestBody() });
    await receiptOf(await post(envelope));
    const pki = sender.pki;
    const original = receiver.store.getMessage(id, { box: "inbox" });
    assert.ok(original);
    const forged = JSON.parse(
      Buffer.from(original.jws.split(".")[1] ?? "", "base64url").toString(),
    );
    forged.body.purpose = "Something else entirely, under the same message id.";
    const resealed = await seal({
      message: forged,
      signer: pki.authorities["CO-FGN"]!.sign,
      recipient: receiver.ctx.network().trust.encryptionCertificate("ES-MJ", receiver.ctx.now()),
    });
    const res = await post(resealed.envelope);
    assert.equal(res.status, 409);
    assert.equal(res.body.code, "DUPLICATE_CONFLICT");
    assert.equal(receiver.store.getMessage(id, { box: "inbox" })?.jws, original.jws);
    assert.ok(
      receiver.store
        .listSecurityEvents()
        .some((e) => e.kind === "duplicate_conflict" && e.messageId === id),
    );
  });

  it("answers a signed rejected receipt for a follow-up in a thread it does not know", async () => {
    const now = receiver.ctx.now();
    const message = newMessage({
      type: "status-inquiry",
      from: "CO-FGN",
      to: "ES-MJ",
      threadId: "01a21c00-0000-7000-8000-000000000000",
      body: { question: "Where does our request stand?" },
      now,
    });
    const sealed = await seal({
      message,
      signer: sender.pki.authorities["CO-FGN"]!.sign,
      recipient: receiver.ctx.network().trust.encryptionCertificate("ES-MJ", now),
    });
    const receipt = await receiptOf(await post(sealed.envelope));
    assert.equal(receipt.status, "rejected");
    assert.equal(receipt.reason, "THREAD_INVALID");
  });

  it("rejects a request in a language the receiver does not accept, and a manifest without parts", async () => {
    const now = receiver.ctx.now();
    const recipient = receiver.ctx.network().trust.encryptionCertificate("ES-MJ", now);
    const signer = sender.pki.authorities["CO-FGN"]!.sign;
    const italian = { ...exampleRequestBody(), language: "it" };
    const m1 = newMessage({ type: "request", from: "CO-FGN", to: "ES-MJ", body: italian, now });
    const r1 = await receiptOf(
      await post((await seal({ message: m1, signer, recipient })).envelope),
    );
    assert.equal(r1.reason, "LANGUAGE_NOT_ACCEPTED");
    const m2 = newMessage({
      type: "request",
      from: "CO-FGN",
      to: "ES-MJ",
      body: exampleRequestBody(),
      now,
      attachments: [
        { name: "records.pdf", mediaType: "application/pdf", size: 10, sha256: "a".repeat(64) },
      ],
    });
    const r2 = await receiptOf(
      await post((await seal({ message: m2, signer, recipient })).envelope),
    );
    assert.equal(r2.reason, "MESSAGE_ATTACHMENT_INVALID");
  });

  it("answers a 5xx, not a signed refusal, when its own store fails; the resend is accepted", async () => {
    const { id, envelope } = await queued({ to: "ES-MJ", body: exampleRequestBody() });
    const store = receiver.ctx.store as { threadMessages: (threadId: string) => unknown };
    const original = store.threadMessages;
    // A request's checks do not read the thread; a follow-up's do. Queue one in the same thread.
    await receiptOf(await post(envelope));
    const now = receiver.ctx.now();
    const inquiry = newMessage({
      type: "status-inquiry",
      from: "CO-FGN",
      to: "ES-MJ",
      threadId: id,
      body: { question: "Where does it stand?" },
      now,
    });
    const sealed = await seal({
      message: inquiry,
      signer: sender.pki.authorities["CO-FGN"]!.sign,
      recipient: receiver.ctx.network().trust.encryptionCertificate("ES-MJ", now),
    });
    const follow = { id: inquiry.id, envelope: sealed.envelope };
    store.threadMessages = () => {
      throw new StoreError("STORE_FAILED", "database is locked");
    };
    try {
      const failed = await post(follow.envelope);
      assert.equal(failed.status, 500);
      assert.equal(failed.body.code, "STORE_FAILED");
    } finally {
      store.threadMessages = original;
    }
    assert.equal(
      receiver.store.getMessage(follow.id, { box: "inbox" }),
      undefined,
      "nothing stored",
    );
    const retried = await receiptOf(await post(follow.envelope));
    assert.equal(retried.status, "accepted");
  });

  it("answers 403 when the TLS client is not the signer, and stores nothing", async () => {
    const { id, envelope } = await queued({ to: "ES-MJ", body: exampleRequestBody() });
    client = "IT-MG";
    try {
      const res = await post(envelope);
      assert.equal(res.status, 403);
      assert.equal(res.body.code, "PEER_CLIENT_MISMATCH");
    } finally {
      client = "CO-FGN";
    }
    assert.equal(receiver.store.getMessage(id, { box: "inbox" }), undefined);
  });

  it("answers one uniform code for anything that cannot be opened", async () => {
    const { envelope } = await queued({ to: "ES-MJ", body: exampleRequestBody() });
    const parts = envelope.split(".");
    const flipped = [...parts];
    flipped[3] = `${(flipped[3] ?? "").slice(0, -2)}${(flipped[3] ?? "").endsWith("A") ? "BA" : "AA"}`;
    for (const bad of [
      "not an envelope",
      parts.slice(0, 4).join("."),
      flipped.join("."),
      `${envelope} `,
    ]) {
      const res = await post(bad);
      assert.equal(res.status, 400, bad.slice(0, 20));
      assert.equal(res.body.code, "ENVELOPE_REJECTED");
      assert.match(res.headers["content-type"] ?? "", /problem\+json/);
    }
  });

  it("enforces the multipart limits", async () => {
    const noField = await request(app).post("/peer/v1/envelopes").field("other", "x");
    assert.equal(noField.status, 400);
    assert.equal(noField.body.code, "MULTIPART_INVALID");
    const twoFields = await request(app)
      .post("/peer/v1/envelopes")
      .field("envelope", "a")
      .field("envelope2", "b");
    assert.equal(twoFields.status, 400);
    assert.equal(twoFields.body.code, "MULTIPART_INVALID");
    const file = await request(app)
      .post("/peer/v1/envelopes")
      .attach("attachment", Buffer.from("x"), "../../etc/passwd");
    assert.equal(file.status, 400);
    assert.equal(file.body.code, "MULTIPART_INVALID");
    const json = await request(app).post("/peer/v1/envelopes").send({ envelope: "x" });
    assert.equal(json.status, 400);
    assert.equal(json.body.code, "MULTIPART_INVALID");
    const huge = await request(app)
      .post("/peer/v1/envelopes")
      .field("envelope", "A".repeat(8 * 1024 * 1024 + 10));
    assert.equal(huge.status, 413);
    const unknown = await request(app).get("/peer/v1/nothing");
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.code, "ROUTE_NOT_FOUND");
  });
});

describe("peer API: attachment parts", () => {
  let receiver: TestNode;
  let sender: TestNode;
  let app: Express;
  let small: Express;

  before(async () => {
    const pki = makeTestPki();
    const network = await testNetworkTrust(pki, { now: pki.now });
    receiver = await makeTestNode({ pki, network, authorityId: "ES-MJ" });
    sender = await makeTestNode({ pki, network, authorityId: "CO-FGN" });
    const ctx = receiver.ctx;
    const options: PeerAppOptions = {
      context: receiveContextOf(ctx, openBlobStore(receiver.dataDir)),
      identifyClient: () => "CO-FGN",
    };
    app = createPeerApp(options);
    // Lowered caps (2 files, 100 kB each, 150 kB per message) to reach them cheaply.
    small = createPeerApp({
      ...options,
      limits: { maxFiles: 2, maxFileBytes: 100_000, maxMessageBytes: 150_000 },
    });
  });

  after(() => {
    receiver?.close();
    sender?.close();
  });

  const incoming = () => readdirSync(join(receiver.dataDir, "incoming"));
  const blobFiles = () => readdirSync(join(receiver.dataDir, "blobs"));

  interface Sealed {
    readonly id: string;
    readonly envelope: string;
    readonly ciphertexts: Buffer[];
    readonly manifest: AttachmentManifest[];
  }

  /** A request from CO-FGN carrying `plaintexts`, sealed to ES-MJ, and its attachment ciphertexts. */
  async function sealWith(plaintexts: readonly Buffer[]): Promise<Sealed> {
    const now = receiver.ctx.now();
    const key = generateAttachmentKey();
    const manifest = plaintexts.map((p, i) => ({
      name: `annex-${i}.pdf`,
      mediaType: "application/pdf",
      size: p.length,
      sha256: sha256Hex(p),
    }));
    const message = newMessage({
      type: "request",
      from: "CO-FGN",
      to: "ES-MJ",
      body: exampleRequestBody(),
      now,
      attachments: manifest,
      attachmentKey: key,
    });
    const sealed = await seal({
      message,
      signer: sender.pki.authorities["CO-FGN"]!.sign,
      recipient: receiver.ctx.network().trust.encryptionCertificate("ES-MJ", now),
    });
    const ciphertexts = plaintexts.map((p, i) => encryptBuffer(key, i, p));
    return { id: message.id, envelope: sealed.envelope, ciphertexts, manifest };
  }

  function post(
    target: Express,
    envelope: string,
    parts: readonly Buffer[],
    names: (i: number) => string = (i) => `attachment-${i}.bin`,
  ) {
    let r = request(target).post("/peer/v1/envelopes").field("envelope", envelope);
    parts.forEach((p, i) => {
      r = r.attach("attachment", p, {
        filename: names(i),
        contentType: "application/octet-stream",
      });
    });
    return r;
  }

  async function receiptOf(res: request.Response) {
    assert.equal(res.status, 200, res.text);
    const { receipt } = await verifyReceipt(res.body.receipt, {
      trust: receiver.ctx.network().trust,
      at: [receiver.ctx.now()],
    });
    return receipt;
  }

  it("accepts matching parts, lists their ciphertext SHA-256 and keeps them as blobs", async () => {
    const before = blobFiles().length;
    const s = await sealWith([randomBytes(200_000), Buffer.alloc(0)]);
    const receipt = await receiptOf(await post(app, s.envelope, s.ciphertexts));
    assert.equal(receipt.status, "accepted");
    assert.deepEqual(
      receipt.attachmentsSha256,
      s.ciphertexts.map((c) => sha256Hex(c)),
    );
    assert.deepEqual(incoming(), []);
    assert.equal(blobFiles().length, before + 2);
    for (const [i, c] of s.ciphertexts.entries()) {
      const record = receiver.store.getAttachment(s.id, i, { box: "inbox" });
      assert.ok(record?.blob, `attachment ${i} kept`);
      assert.deepEqual(record.manifest, s.manifest[i]);
      assert.equal(record.blob.ciphertextSha256, sha256Hex(c));
      assert.deepEqual(readFileSync(join(receiver.dataDir, "blobs", record.blob.blobName)), c);
    }
    // A resend gets the stored receipt, byte for byte, and keeps no second copy.
    const again = await post(app, s.envelope, s.ciphertexts);
    assert.equal(again.status, 200);
    assert.equal(
      again.body.receipt,
      receiver.store.getMessage(s.id, { box: "inbox" })?.receipt?.jws,
    );
    assert.equal(blobFiles().length, before + 2);
    assert.deepEqual(incoming(), []);
  });

  it("rejects a wrong number of parts with MESSAGE_ATTACHMENT_INVALID", async () => {
    const before = blobFiles().length;
    const s = await sealWith([randomBytes(1000), randomBytes(2000)]);
    const receipt = await receiptOf(await post(app, s.envelope, s.ciphertexts.slice(0, 1)));
    assert.equal(receipt.status, "rejected");
    assert.equal(receipt.reason, "MESSAGE_ATTACHMENT_INVALID");
    assert.deepEqual(receipt.attachmentsSha256, [sha256Hex(s.ciphertexts[0]!)]);
    const extra = await sealWith([randomBytes(1000)]);
    const r2 = await receiptOf(
      await post(app, extra.envelope, [...extra.ciphertexts, extra.ciphertexts[0]!]),
    );
    assert.equal(r2.reason, "MESSAGE_ATTACHMENT_INVALID");
    const none = await sealWith([]);
    const r3 = await receiptOf(await post(app, none.envelope, [s.ciphertexts[0]!]));
    assert.equal(r3.reason, "MESSAGE_ATTACHMENT_INVALID");
    assert.deepEqual(incoming(), []);
    assert.equal(blobFiles().length, before, "nothing kept for a rejected message");
    const stored = receiver.store.getAttachment(s.id, 0, { box: "inbox" });
    assert.ok(stored, "the rejected message is stored");
    assert.equal(stored.blob, undefined);
  });

  it("rejects a part with one flipped ciphertext byte", async () => {
    const s = await sealWith([randomBytes(150_000)]);
    const bad = Buffer.from(s.ciphertexts[0]!);
    bad[70_000] = (bad[70_000] ?? 0) ^ 0x01;
    const receipt = await receiptOf(await post(app, s.envelope, [bad]));
    assert.equal(receipt.status, "rejected");
    assert.equal(receipt.reason, "MESSAGE_ATTACHMENT_INVALID");
    assert.deepEqual(receipt.attachmentsSha256, [sha256Hex(bad)]);
    assert.deepEqual(incoming(), []);
  });

  it("rejects parts swapped between two messages (same sizes: only the cipher can tell)", async () => {
    const a = await sealWith([randomBytes(5000), randomBytes(7000)]);
    const b = await sealWith([randomBytes(5000), randomBytes(7000)]);
    const swapped = await receiptOf(
      await post(app, a.envelope, [b.ciphertexts[0]!, a.ciphertexts[1]!]),
    );
    assert.equal(swapped.reason, "MESSAGE_ATTACHMENT_INVALID");
    // Within one message, reordered parts fail too (each index has its own subkey).
    const reordered = await receiptOf(
      await post(app, b.envelope, [b.ciphertexts[1]!, b.ciphertexts[0]!]),
    );
    assert.equal(reordered.reason, "MESSAGE_ATTACHMENT_INVALID");
    assert.deepEqual(incoming(), []);
  });

  it("ignores part file names: `../` names are stored under random names only", async () => {
    const s = await sealWith([randomBytes(3000)]);
    const res = await post(app, s.envelope, s.ciphertexts, () => "../../escape-attempt.bin");
    assert.equal((await receiptOf(res)).status, "accepted");
    const dataParent = dirname(receiver.dataDir);
    assert.equal(existsSync(join(dataParent, "escape-attempt.bin")), false);
    assert.equal(existsSync(join(receiver.dataDir, "escape-attempt.bin")), false);
    for (const name of blobFiles()) assert.match(name, /^[0-9a-f]{32}\.blob$/);
    assert.deepEqual(incoming(), []);
  });

  it("enforces file count and size caps with problem codes, leaving no temporary file", async () => {
    const s = await sealWith([randomBytes(10), randomBytes(10), randomBytes(10)]);
    const tooMany = await post(small, s.envelope, s.ciphertexts);
    assert.equal(tooMany.status, 400);
    assert.equal(tooMany.body.code, "MULTIPART_INVALID");
    const big = await sealWith([randomBytes(120_000)]);
    const tooBig = await post(small, big.envelope, big.ciphertexts);
    assert.equal(tooBig.status, 413);
    assert.equal(tooBig.body.code, "INPUT_TOO_LARGE");
    const sum = await sealWith([randomBytes(90_000), randomBytes(90_000)]);
    const tooMuch = await post(small, sum.envelope, sum.ciphertexts);
    assert.equal(tooMuch.status, 413);
    assert.equal(tooMuch.body.code, "INPUT_TOO_LARGE");
    const otherField = await request(app)
      .post("/peer/v1/envelopes")
      .field("envelope", s.envelope)
      .attach("file", Buffer.from("x"), "x.bin");
    assert.equal(otherField.status, 400);
    assert.equal(otherField.body.code, "MULTIPART_INVALID");
    const noEnvelope = await request(app)
      .post("/peer/v1/envelopes")
      .attach("attachment", Buffer.from("x"), "x.bin");
    assert.equal(noEnvelope.status, 400);
    assert.equal(noEnvelope.body.code, "MULTIPART_INVALID");
    const unopened = await post(app, "not.an.envelope.at.all", s.ciphertexts);
    assert.equal(unopened.status, 400);
    assert.equal(unopened.body.code, "ENVELOPE_REJECTED");
    assert.deepEqual(incoming(), []);
    assert.equal(
      receiver.store.getMessage(sum.id, { box: "inbox" }),
      undefined,
      "nothing stored for a refused body",
    );
  });
});
