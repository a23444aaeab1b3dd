/**
 * The outbox worker with attachments (src/delivery/outbox-worker.ts; src/peer/attachments.ts step
 * 2), against a fake peer client: the blobs go as parts in manifest order, an accepted receipt must
 * list exactly their SHA-256, and a message whose blob is gone fails loudly instead of retrying.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import request from "supertest";
import { createOutboxWorker } from "../../src/delivery/outbox-worker.ts";
import type { OutboundAttachment, PeerClient } from "../../src/delivery/peer-client.ts";
import { exampleRequestBody } from "../../src/domain/example-request.ts";
import { sha256Hex } from "../../src/envelope/digest.ts";
import { createReceipt } from "../../src/envelope/receipt.ts";
import { createOperatorApp } from "../../src/operator/app.ts";
import { openBlobStore } from "../../src/store/index.ts";
import { makeTestNode, type TestNode } from "../helpers/node-context.ts";

describe("outbox worker: attachments", () => {
  let node: TestNode;
  let app: ReturnType<typeof createOperatorApp>;
  let token: string;

  before(async () => {
    node = await makeTestNode();
    app = createOperatorApp(node.ctx);
    token = node.store.createToken("test").secret;
  });
  after(() => node.close());

  async function queue(files: readonly Buffer[]): Promise<string> {
    let r = request(app)
      .post("/api/v1/messages")
      .set("Authorization", `Bearer ${token}`)
      .field("message", JSON.stringify({ to: "CO-FGN", body: exampleRequestBody() }));
    files.forEach((f, i) => {
      r = r.attach("attachment", f, `file-${i}.bin`);
    });
    const res = await r;
    assert.equal(res.status, 202, res.text);
    return String(res.body.id);
  }

  interface Sent {
    readonly envelope: string;
    readonly parts: Buffer[];
  }

  /** A peer that answers a receipt signed by CO-FGN listing `hashes(parts)`. */
  function fakePeer(hashes: (parts: Buffer[]) => string[]): { client: PeerClient; sent: Sent[] } {
    const sent: Sent[] = [];
    const client: PeerClient = {
      async postEnvelope(_authority, _endpoint, envelope, attachments = []) {
        const parts = attachments.map((a: OutboundAttachment) =>
          "path" in a ? readFileSync(a.path) : Buffer.from(a.data),
        );
        sent.push({ envelope, parts });
        // The message being sent is the one in state `sending`.
        const detail = node.store
          .listMessages({ box: "outbox", state: "sending", limit: 200 })
          .items.at(0);
        assert.ok(detail);
        const full = node.store.getMessage(detail.id, { box: "outbox" });
        assert.ok(full);
        const receipt = await createReceipt({
          message: { id: full.id, from: full.from, to: full.to },
          messageSha256: full.payloadSha256,
          envelopeSha256: sha256Hex(envelope),
          attachmentsSha256: hashes(parts),
          status: "accepted",
          receivedAt: node.clock.now(),
          signer: node.pki.authorities["CO-FGN"]!.sign,
          chain: [node.pki.ca.certificate],
        });
        return { status: 200, contentType: "application/json", body: { receipt } };
      },
      async close() {},
    };
    return { client, sent };
  }

  function worker(client: PeerClient) {
    return createOutboxWorker({
      self: "ES-MJ",
      store: node.store,
      client,
      blobs: openBlobStore(node.dataDir),
      trust: () => node.ctx.network().trust,
      endpointOf: () => "https://127.0.0.1:1",
      now: node.clock.now,
      log: node.ctx.log,
      random: () => 0,
    });
  }

  it("sends the blobs as parts in manifest order and accepts a receipt that lists them", async () => {
    const files = [randomBytes(70_000), Buffer.alloc(0), randomBytes(10)];
    const id = await queue(files);
    const { client, sent } = fakePeer((parts) => parts.map((p) => sha256Hex(p)));
    assert.equal(await worker(client).runOnce(), 1);
    const detail = node.store.getMessage(id, { box: "outbox" });
    assert.equal(detail?.delivery?.state, "delivered", detail?.delivery?.lastError ?? "");
    assert.equal(sent.length, 1);
    const blobs = files.map((_, i) => node.store.getAttachment(id, i)?.blob);
    assert.deepEqual(
      sent[0]?.parts.map((p) => sha256Hex(p)),
      blobs.map((b) => b?.ciphertextSha256),
    );
  });

  it("does not take an accepted receipt that lists other attachment digests", async () => {
    const id = await queue([randomBytes(1000), randomBytes(2000)]);
    const { client } = fakePeer((parts) => parts.map((p) => sha256Hex(p)).reverse());
    await worker(client).runOnce();
    const delivery = node.store.getMessage(id, { box: "outbox" })?.delivery;
    assert.equal(delivery?.state, "queued");
    assert.equal(delivery?.lastErrorCode, "RECEIPT_MISMATCH");
    assert.ok(
      node.store
        .listSecurityEvents()
        .some((e) => e.kind === "receipt_invalid" && e.messageId === id),
    );
    // Put it out of the way of the next test.
    node.store.markFailed(id, { code: "TEST", message: "done" }, node.clock.now());
  });

  it("fails a message whose blob is gone, loudly and at once", async () => {
    const id = await queue([randomBytes(500)]);
    const blob = node.store.getAttachment(id, 0)?.blob;
    assert.ok(blob);
    rmSync(openBlobStore(node.dataDir).path(blob.blobName));
    const { client, sent } = fakePeer(() => []);
    await worker(client).runOnce();
    const delivery = node.store.getMessage(id, { box: "outbox" })?.delivery;
    assert.equal(delivery?.state, "failed");
    assert.equal(delivery?.lastErrorCode, "STORE_FAILED");
    assert.match(delivery?.lastError ?? "", /missing/);
    assert.equal(sent.length, 0, "nothing sent");
  });
});
