/**
 * Attachments through the operator API (src/operator/attachment-upload.ts, attachment-download.ts;
 * src/peer/attachments.ts steps 1 and 5): a multipart POST encrypts each file into a blob under the
 * message's key and queues the manifest; the blobs decrypt to the files; downloads stream the
 * plaintext with safe headers and are cut short when a blob does not authenticate; failures leave
 * no blob behind. Names and dispositions: attachment-name.ts.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import request from "supertest";
import { exampleRequestBody } from "../../src/domain/example-request.ts";
import { decryptBuffer } from "../../src/envelope/attachment-stream.ts";
import { sha256Hex } from "../../src/envelope/digest.ts";
import { newMessage } from "../../src/envelope/new-message.ts";
import { open } from "../../src/envelope/open.ts";
import { createReceipt } from "../../src/envelope/receipt.ts";
import { seal } from "../../src/envelope/seal.ts";
import { createOperatorApp } from "../../src/operator/app.ts";
import {
  attachmentDisplayName,
  attachmentMediaType,
  contentDisposition,
} from "../../src/operator/attachment-name.ts";
import { MAX_CLAIM } from "../../src/store/index.ts";
import { makeTestNode, type TestNode } from "../helpers/node-context.ts";

describe("attachment names and dispositions", () => {
  it("reduces client names to display names, never paths", () => {
    assert.equal(attachmentDisplayName("../../etc/passwd", 0), "passwd");
    assert.equal(attachmentDisplayName("C:\\Users\\x\\annex.pdf", 0), "annex.pdf");
    assert.equal(attachmentDisplayName("ann\u202Eex\u0000.pdf\n", 0), "annex.pdf");
    assert.equal(attachmentDisplayName("..", 3), "attachment-3");
    assert.equal(attachmentDisplayName("dir/", 1), "attachment-1");
    assert.equal(attachmentDisplayName(undefined, 2), "attachment-2");
    const long = attachmentDisplayName(`${"é".repeat(200)}${"😀".repeat(100)}`, 0);
    assert.ok(long.length <= 255);
    assert.equal(long, `${"é".repeat(200)}${"😀".repeat(27)}`, "no split surrogate pair");
  });

  it("keeps plain media types and replaces anything else", () => {
    assert.equal(attachmentMediaType("Application/PDF; charset=binary"), "application/pdf");
    assert.equal(attachmentMediaType("text/html<script>"), "application/octet-stream");
    assert.equal(attachmentMediaType("nonsense"), "application/octet-stream");
    assert.equal(attachmentMediaType(undefined), "application/octet-stream");
  });

  it("answers an RFC 6266 disposition with an ASCII fallback and an RFC 8187 name", () => {
    assert.equal(
      contentDisposition('Aussage "Zeuge" (1).pdf', 0),
      `attachment; filename="Aussage _Zeuge_ (1).pdf"; filename*=UTF-8''Aussage%20%22Zeuge%22%20%281%29.pdf`,
    );
    assert.equal(
      contentDisposition("declaración\r\nX-Injected: 1.pdf", 0),
      `attachment; filename="declaraci_nX-Injected_ 1.pdf"; filename*=UTF-8''declaraci%C3%B3nX-Injected%3A%201.pdf`,
    );
    assert.equal(
      contentDisposition("../../x;y.txt", 4),
      `attachment; filename="x_y.txt"; filename*=UTF-8''x%3By.txt`,
    );
  });
});

describe("operator API: attachments", () => {
  let node: TestNode;
  let app: ReturnType<typeof createOperatorApp>;
  let small: ReturnType<typeof createOperatorApp>;
  let token: string;

  before(async () => {
    node = await makeTestNode();
    app = createOperatorApp(node.ctx);
    small = createOperatorApp(node.ctx, {
      limits: { maxFiles: 2, maxFileBytes: 50_000, maxMessageBytes: 80_000 },
    });
    token = node.store.createToken("test").secret;
  });
  after(() => node.close());

  const blobFiles = () => readdirSync(join(node.dataDir, "blobs"));
  const message = (over: Record<string, unknown> = {}) =>
    JSON.stringify({ to: "CO-FGN", body: exampleRequestBody(), ...over });
  const post = (target = app) =>
    request(target).post("/api/v1/messages").set("Authorization", `Bearer ${token}`);
  const get = (path: string) => request(app).get(path).set("Authorization", `Bearer ${token}`);

  it("queues a message with its files encrypted into blobs, and serves them back", async () => {
    const pdf = randomBytes(200_000);
    const res = await post()
      .field("message", message())
      .attach("attachment", pdf, {
        filename: "../../secret/ann\u202Eex.pdf",
        contentType: "application/pdf",
      })
      .attach("attachment", Buffer.alloc(0), { filename: "empty.txt", contentType: "text/plain" });
    assert.equal(res.status, 202, res.text);
    const manifest = [
      { name: "annex.pdf", mediaType: "application/pdf", size: pdf.length, sha256: sha256Hex(pdf) },
      { name: "empty.txt", mediaType: "text/plain", size: 0, sha256: sha256Hex(Buffer.alloc(0)) },
    ];
    assert.deepEqual(res.body.attachments, manifest);
    const id = String(res.body.id);

    // The recipient opens the envelope: the signed manifest and a key that decrypts each blob.
    const claimed = node.store.claimDue(node.clock.now(), MAX_CLAIM).find((m) => m.id === id);
    assert.ok(claimed);
    node.store.recoverInFlight();
    const opened = await open(claimed.envelope, {
      self: { authorityId: "CO-FGN", enc: node.pki.authorities["CO-FGN"]!.enc },
      trust: node.ctx.network().trust,
      now: node.clock.now(),
    });
    assert.deepEqual(opened.message.attachments, manifest);
    const key = opened.message.attachmentKey;
    assert.ok(key);
    assert.equal(claimed.attachments.length, 2);
    for (const [i, blob] of claimed.attachments.entries()) {
      assert.equal(blob.index, i);
      const bytes = readFileSync(join(node.dataDir, "blobs", blob.blobName));
      assert.equal(blob.ciphertextSha256, sha256Hex(bytes));
      assert.equal(blob.size, bytes.length);
      assert.deepEqual(decryptBuffer(key, i, bytes), i === 0 ? pdf : Buffer.alloc(0));
    }

    const first = await get(`/api/v1/messages/${id}/attachments/0`).buffer(true);
    assert.equal(first.status, 200);
    assert.deepEqual(first.body, pdf);
    assert.equal(first.headers["content-type"], "application/pdf");
    assert.equal(first.headers["content-length"], String(pdf.length));
    assert.equal(first.headers["x-content-type-options"], "nosniff");
    assert.equal(first.headers["cache-control"], "no-store");
    assert.equal(
      first.headers["content-disposition"],
      `attachment; filename="annex.pdf"; filename*=UTF-8''annex.pdf`,
    );
    const second = await get(`/api/v1/messages/${id}/attachments/1`);
    assert.equal(second.status, 200);
    assert.equal(second.headers["content-length"], "0");
    assert.equal(second.text, "");

    const third = await get(`/api/v1/messages/${id}/attachments/2`);
    assert.equal(third.status, 404);
    assert.equal(third.body.code, "NOT_FOUND");
    for (const bad of ["x", "-1", "01", "100"]) {
      const r = await get(`/api/v1/messages/${id}/attachments/${bad}`);
      assert.equal(r.status, 400, bad);
      assert.equal(r.body.code, "INPUT_INVALID");
    }
    const unknown = await get(
      "/api/v1/messages/018f0000-0000-7000-8000-0000000000ff/attachments/0",
    );
    assert.equal(unknown.status, 404);
    const unauthenticated = await request(app).get(`/api/v1/messages/${id}/attachments/0`);
    assert.equal(unauthenticated.status, 401);
  });

  it("queues a multipart message without files with no attachment key", async () => {
    const res = await post().field("message", message());
    assert.equal(res.status, 202, res.text);
    assert.deepEqual(res.body.attachments, []);
    const claimed = node.store
      .claimDue(node.clock.now(), MAX_CLAIM)
      .find((m) => m.id === res.body.id);
    assert.ok(claimed);
    node.store.recoverInFlight();
    const opened = await open(claimed.envelope, {
      self: { authorityId: "CO-FGN", enc: node.pki.authorities["CO-FGN"]!.enc },
      trust: node.ctx.network().trust,
      now: node.clock.now(),
    });
    assert.equal(opened.message.attachmentKey, undefined);
    assert.deepEqual(claimed.attachments, []);
  });

  it("refuses bad multipart input with stable codes and leaves no blob behind", async () => {
    const before = blobFiles().sort();
    const file = randomBytes(1000);
    const cases: [string, request.Test, number, string][] = [
      ["no message field", post().attach("attachment", file, "a.bin"), 400, "MULTIPART_INVALID"],
      [
        "message not JSON",
        post().field("message", "{nope").attach("attachment", file, "a.bin"),
        400,
        "INPUT_INVALID",
      ],
      [
        "invalid message",
        post()
          .field("message", message({ to: "nobody" }))
          .attach("attachment", file, "a.bin"),
        400,
        "INPUT_INVALID",
      ],
      [
        "refused by the domain",
        post()
          .field(
            "message",
            message({
              type: "status-inquiry",
              threadId: "018f0000-0000-7000-8000-0000000000aa",
              body: { question: "?" },
            }),
          )
          .attach("attachment", file, "a.bin"),
        422,
        "THREAD_INVALID",
      ],
      [
        "a second field",
        post().field("message", message()).field("extra", "x").attach("attachment", file, "a.bin"),
        400,
        "MULTIPART_INVALID",
      ],
      [
        "a file under another name",
        post().field("message", message()).attach("file", file, "a.bin"),
        400,
        "MULTIPART_INVALID",
      ],
      [
        "too many files",
        post(small)
          .field("message", message())
          .attach("attachment", file, "a.bin")
          .attach("attachment", file, "b.bin")
          .attach("attachment", file, "c.bin"),
        400,
        "MULTIPART_INVALID",
      ],
      [
        "a file over its cap",
        post(small).field("message", message()).attach("attachment", randomBytes(60_000), "a.bin"),
        413,
        "INPUT_TOO_LARGE",
      ],
      [
        "files over the message cap",
        post(small)
          .field("message", message())
          .attach("attachment", randomBytes(45_000), "a.bin")
          .attach("attachment", randomBytes(45_000), "b.bin"),
        413,
        "INPUT_TOO_LARGE",
      ],
    ];
    for (const [what, req, status, code] of cases) {
      const res = await req;
      assert.equal(res.status, status, `${what}: ${res.text}`);
      assert.equal(res.body.code, code, what);
      assert.deepEqual(blobFiles().sort(), before, `${what}: no blob left`);
    }
  });

  it("cuts a download short when its blob does not authenticate", async () => {
    const data = randomBytes(300_000);
    const res = await post().field("message", message()).attach("attachment", data, "x.bin");
    assert.equal(res.status, 202, res.text);
    const record = node.store.getAttachment(String(res.body.id), 0);
    assert.ok(record?.blob);
    const path = join(node.dataDir, "blobs", record.blob.blobName);
    const bytes = readFileSync(path);
    bytes[200_000] = (bytes[200_000] ?? 0) ^ 0x80;
    writeFileSync(path, bytes);
    // A real socket: the client must see a failed transfer, never a complete file.
    const server = app.listen(0, "127.0.0.1");
    await new Promise((r) => server.once("listening", r));
    try {
      const { port } = server.address() as AddressInfo;
      const r = await fetch(
        `http://127.0.0.1:${port}/api/v1/messages/${res.body.id}/attachments/0`,
        {
          headers: { authorization: `Bearer ${token}` },
        },
      );
      assert.equal(r.status, 200);
      await assert.rejects(r.arrayBuffer());
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it("answers 404 for the attachment of an inbound message that was rejected (not kept)", async () => {
    const pki = node.pki;
    const now = node.clock.now();
    const m = newMessage({
      type: "request",
      from: "CO-FGN",
      to: "ES-MJ",
      body: exampleRequestBody(),
      now,
      attachments: [
        { name: "a.pdf", mediaType: "application/pdf", size: 3, sha256: "a".repeat(64) },
      ],
      attachmentKey: "A".repeat(43),
    });
    const sealed = await seal({
      message: m,
      signer: pki.authorities["CO-FGN"]!.sign,
      recipient: node.ctx.network().trust.encryptionCertificate("ES-MJ", now),
    });
    const receiptJws = await createReceipt({
      message: m,
      messageSha256: sealed.messageSha256,
      envelopeSha256: sealed.envelopeSha256,
      status: "rejected",
      reason: "MESSAGE_ATTACHMENT_INVALID",
      receivedAt: now,
      signer: node.ctx.keys.sign,
    });
    node.store.recordInbound({
      message: m,
      jws: sealed.jws,
      payloadSha256: sealed.messageSha256,
      envelopeSha256: sealed.envelopeSha256,
      receiptJws,
      receiptStatus: "rejected",
      reason: "MESSAGE_ATTACHMENT_INVALID",
      receivedAt: now,
    });
    const res = await get(`/api/v1/messages/${m.id}/attachments/0?box=inbox`);
    assert.equal(res.status, 404);
    assert.equal(res.body.code, "NOT_FOUND");
    assert.match(res.body.detail, /not kept/);
  });
});
