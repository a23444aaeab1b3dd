/**
 * The peer API app through supertest (no port): what a receiving node answers for each kind of
 * envelope. TLS client identity is injected here; the real mutual-TLS binding is exercised in
 * tests/integration/multi-node.test.ts.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Express } from "express";
import request from "supertest";
import { exampleRequestBody } from "../../src/domain/example-request.ts";
import { newMessage } from "../../src/envelope/new-message.ts";
import { verifyReceipt } from "../../src/envelope/receipt.ts";
import { seal } from "../../src/envelope/seal.ts";
import { sendMessage } from "../../src/node/send-message.ts";
import { createPeerApp } from "../../src/peer/app.ts";
import { makeTestNode, type TestNode, testNetworkTrust } from "../helpers/node-context.ts";
import { makeTestPki } from "../helpers/pki-fixture.ts";

describe("peer API: POST /peer/v1/envelopes", () => {
  let receiver: TestNode;
  let sender: TestNode;
  let app: Express;
  let client = "CO-FGN";

  before(async () => {
    const pki = makeTestPki();
    const network = await testNetworkTrust(pki, { now: pki.now });
    receiver = await makeTestNode({ pki, network, authorityId: "ES-MJ" });
    sender = await makeTestNode({ pki, network, authorityId: "CO-FGN" });
    const ctx = receiver.ctx;
    app = createPeerApp({
      context: {
        self: { authorityId: "ES-MJ", sign: ctx.keys.sign, enc: ctx.keys.enc, chain: [ctx.ca] },
        trust: () => ctx.network().trust,
        languages: () => ctx.network().directory.authority("ES-MJ").languages,
        store: ctx.store,
        now: ctx.now,
        log: ctx.log,
      },
      identifyClient: () => client,
    });
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

  it("rejects a request in a language the receiver does not accept, and attachments it cannot receive", async () => {
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
