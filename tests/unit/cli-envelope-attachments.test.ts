/**
 * Offline attachments (src/cli/offline-attachments.ts): `mlax seal --attach` writes one encrypted
 * part `<out>.att<i>` per file; `mlax open` accepts only exactly the manifest's parts, lists their
 * ciphertext SHA-256 in the receipt, writes plaintexts under safe names, and answers a missing,
 * flipped or swapped part with a rejected receipt MESSAGE_ATTACHMENT_INVALID.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runCli } from "../../scripts/lib/local-network.ts";
import { safeAttachmentFileName } from "../../src/cli/offline-attachments.ts";
import { exampleRequestBody } from "../../src/domain/example-request.ts";
import { encryptBuffer, generateAttachmentKey } from "../../src/envelope/attachment-stream.ts";
import { newMessage } from "../../src/envelope/new-message.ts";
import { seal } from "../../src/envelope/seal.ts";
import { loadAuthorityKeys, loadNetworkTrust } from "../../src/node/load-identity.ts";

const sha256 = (bytes: Buffer | string) => createHash("sha256").update(bytes).digest("hex");

/** The payload of a compact JWS. */
function payloadOf(jws: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jws.trim().split(".")[1] ?? "", "base64url").toString("utf8"));
}

describe("CLI: offline attachments (seal --attach, open)", { timeout: 120_000 }, () => {
  let dir: string;
  let certs: string;
  const f = (name: string) => join(dir, name);
  const big = randomBytes(2 * 1024 * 1024 + 12_345);
  const hostile = Buffer.from("root:x:0:0:not really\n");

  /** Seals the request with `files` attached into `<name>` (in its own folder); the JSON report. */
  async function sealTo(name: string, files: readonly string[]) {
    mkdirSync(f(name), { recursive: true });
    const r = await runCli([
      "seal",
      "--certs",
      certs,
      "--from",
      "CO-FGN",
      "--to",
      "ES-MJ",
      f("request.json"),
      "-o",
      join(f(name), "out.jwe"),
      "--jws-out",
      join(f(name), "sent.jws"),
      ...files.flatMap((file) => ["--attach", file]),
      "--json",
    ]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout);
  }

  function openArgs(name: string, ...extra: string[]): string[] {
    return ["open", "--certs", certs, "--as", "ES-MJ", join(f(name), "out.jwe"), ...extra];
  }

  /** Opens and expects a rejected receipt MESSAGE_ATTACHMENT_INVALID; the receipt payload. */
  async function expectRejected(name: string): Promise<Record<string, unknown>> {
    const receiptPath = join(f(name), "r.jws");
    const out = join(f(name), "plain");
    const r = await runCli(openArgs(name, "--receipt", receiptPath, "--attachments-dir", out));
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /^error MESSAGE_ATTACHMENT_INVALID: /m);
    const receipt = payloadOf(readFileSync(receiptPath, "utf8"));
    assert.equal(receipt.status, "rejected");
    assert.equal(receipt.reason, "MESSAGE_ATTACHMENT_INVALID");
    assert.deepEqual(readdirSync(out), [], "nothing is written from a refused message");
    return receipt;
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "mlax-cli-att-"));
    certs = f("certs");
    const init = await runCli([
      "pki",
      "init",
      "--out",
      certs,
      "--authorities",
      "ES-MJ,CO-FGN",
      "--bits",
      "2048",
      "--json",
    ]);
    assert.equal(init.code, 0, init.stderr);
    writeFileSync(f("request.json"), JSON.stringify(exampleRequestBody()));
    writeFileSync(f("records.pdf"), big);
    writeFileSync(f("empty.txt"), "");
    mkdirSync(f("hostile"));
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it("round-trips a 2 MiB file and an empty one; the bundle still verifies", async () => {
    const sealed = await sealTo("ok", [f("records.pdf"), f("empty.txt")]);
    assert.equal(sealed.attachments.length, 2);
    assert.deepEqual(
      sealed.attachments.map((a: Record<string, unknown>) => [a.name, a.mediaType, a.size]),
      [
        ["records.pdf", "application/pdf", big.length],
        ["empty.txt", "text/plain", 0],
      ],
    );
    for (const [i, a] of sealed.attachments.entries()) {
      const part = join(f("ok"), `out.jwe.att${i}`);
      assert.equal(a.part, part);
      assert.equal(statSync(part).mode & 0o777, 0o600);
      assert.equal(sha256(readFileSync(part)), a.partSha256);
    }
    assert.equal(readFileSync(join(f("ok"), "out.jwe.att0")).includes(big.subarray(0, 64)), false);
    // Stray temporary files are gone.
    assert.deepEqual(readdirSync(f("ok")).sort(), [
      "out.jwe",
      "out.jwe.att0",
      "out.jwe.att1",
      "sent.jws",
    ]);

    const out = join(f("ok"), "plain");
    const opened = await runCli(
      openArgs(
        "ok",
        "--receipt",
        join(f("ok"), "r.jws"),
        "--jws-out",
        join(f("ok"), "m.jws"),
        "--attachments-dir",
        out,
        "--json",
      ),
    );
    assert.equal(opened.code, 0, opened.stderr);
    assert.equal(JSON.parse(opened.stdout).message.id, sealed.id);
    assert.deepEqual(readdirSync(out).sort(), ["0-records.pdf", "1-empty.txt"]);
    assert.ok(readFileSync(join(out, "0-records.pdf")).equals(big));
    assert.equal(readFileSync(join(out, "1-empty.txt")).length, 0);
    assert.equal(statSync(join(out, "0-records.pdf")).mode & 0o777, 0o600);

    const receipt = payloadOf(readFileSync(join(f("ok"), "r.jws"), "utf8"));
    assert.equal(receipt.status, "accepted");
    assert.deepEqual(
      receipt.attachmentsSha256,
      sealed.attachments.map((a: Record<string, unknown>) => a.partSha256),
    );
    assert.equal((receipt.attachmentsSha256 as string[]).length, 2);

    // Without --attachments-dir: verified only, nothing written.
    const verifyOnly = await runCli(openArgs("ok"));
    assert.equal(verifyOnly.code, 0, verifyOnly.stderr);
    assert.match(verifyOnly.stdout, /attachment 0 records\.pdf .*verified/);

    const bundled = await runCli([
      "bundle",
      "--message",
      join(f("ok"), "m.jws"),
      "--receipt",
      join(f("ok"), "r.jws"),
      "--certs",
      certs,
      "-o",
      join(f("ok"), "bundle.json"),
    ]);
    assert.equal(bundled.code, 0, bundled.stderr);
    const v = await runCli([
      "verify",
      join(f("ok"), "bundle.json"),
      "--ca",
      join(certs, "ca", "ca.crt"),
      "--directory",
      join(certs, "directory.jws"),
      "--json",
    ]);
    assert.equal(v.code, 0, v.stderr);
    assert.equal(JSON.parse(v.stdout).summary.receiptStatus, "accepted");
  });

  it("refuses to overwrite an existing file in --attachments-dir", async () => {
    const out = join(f("ok"), "plain");
    writeFileSync(join(out, "1-empty.txt"), "mine");
    rmSync(join(out, "0-records.pdf"));
    const r = await runCli(
      openArgs("ok", "--attachments-dir", out, "--receipt", join(f("ok"), "r2.jws")),
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error INPUT_INVALID: .*exists/);
    assert.equal(readFileSync(join(out, "1-empty.txt"), "utf8"), "mine");
    assert.deepEqual(readdirSync(out), ["1-empty.txt"], "nothing else written, no temporary file");
    assert.equal(existsSync(join(f("ok"), "r2.jws")), false);
  });

  it("a missing part is a rejected receipt listing the parts found", async () => {
    const sealed = await sealTo("missing", [f("records.pdf"), f("empty.txt")]);
    rmSync(join(f("missing"), "out.jwe.att1"));
    const receipt = await expectRejected("missing");
    assert.deepEqual(receipt.attachmentsSha256, [sealed.attachments[0].partSha256]);
  });

  it("an extra part is refused too", async () => {
    await sealTo("extra", [f("empty.txt")]);
    copyFileSync(join(f("extra"), "out.jwe.att0"), join(f("extra"), "out.jwe.att1"));
    const receipt = await expectRejected("extra");
    assert.equal((receipt.attachmentsSha256 as string[]).length, 2);
  });

  it("finds the parts in --parts DIR when they travelled apart", async () => {
    await sealTo("apart", [f("empty.txt")]);
    mkdirSync(join(f("apart"), "stick"));
    renameSync(join(f("apart"), "out.jwe.att0"), join(f("apart"), "stick", "out.jwe.att0"));
    const without = await runCli(openArgs("apart"));
    assert.equal(without.code, 1);
    assert.match(without.stderr, /^error MESSAGE_ATTACHMENT_INVALID: /);
    const r = await runCli(openArgs("apart", "--parts", join(f("apart"), "stick")));
    assert.equal(r.code, 0, r.stderr);
  });

  it("one flipped byte in a part is refused", async () => {
    const sealed = await sealTo("flipped", [f("records.pdf"), f("empty.txt")]);
    const part = join(f("flipped"), "out.jwe.att0");
    const bytes = readFileSync(part);
    bytes[1_000_000] = (bytes[1_000_000] as number) ^ 0x01;
    writeFileSync(part, bytes);
    const receipt = await expectRejected("flipped");
    assert.deepEqual(receipt.attachmentsSha256, [sha256(bytes), sealed.attachments[1].partSha256]);
    assert.notEqual(sha256(bytes), sealed.attachments[0].partSha256);
  });

  it("two parts swapped are refused, even of the same size", async () => {
    await sealTo("swapped", [f("records.pdf"), f("records.pdf")]);
    const a = join(f("swapped"), "out.jwe.att0");
    const b = join(f("swapped"), "out.jwe.att1");
    renameSync(a, join(f("swapped"), "tmp"));
    renameSync(b, a);
    renameSync(join(f("swapped"), "tmp"), b);
    await expectRejected("swapped");
  });

  it("a hostile display name lands as a safe file inside the folder", async () => {
    // `seal` reduces names itself, but a sender can sign any display name: build such a message.
    const now = new Date();
    const network = await loadNetworkTrust(certs, { now, allowStale: true });
    const keys = await loadAuthorityKeys(network, "CO-FGN", now);
    const key = generateAttachmentKey();
    const message = newMessage({
      type: "request",
      from: "CO-FGN",
      to: "ES-MJ",
      body: exampleRequestBody() as Record<string, unknown>,
      now,
      attachments: [
        {
          name: "../../etc/passwd",
          mediaType: "text/plain",
          size: hostile.length,
          sha256: sha256(hostile),
        },
      ],
      attachmentKey: key,
    });
    const sealed = await seal({
      message,
      signer: keys.sign,
      chain: [network.ca],
      recipient: network.trust.encryptionCertificate("ES-MJ", now),
    });
    writeFileSync(join(f("hostile"), "out.jwe"), sealed.envelope);
    writeFileSync(join(f("hostile"), "out.jwe.att0"), encryptBuffer(key, 0, hostile));

    const out = join(f("hostile"), "deep", "plain");
    const r = await runCli(openArgs("hostile", "--attachments-dir", out, "--json"));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).attachments[0].name, "../../etc/passwd");
    assert.deepEqual(readdirSync(out), ["0-passwd"]);
    assert.ok(readFileSync(join(out, "0-passwd")).equals(hostile));
    assert.deepEqual(readdirSync(join(f("hostile"), "deep")), ["plain"]);
    assert.deepEqual(readdirSync(f("hostile")).sort(), ["deep", "out.jwe", "out.jwe.att0"]);

    assert.equal(safeAttachmentFileName("../../etc/passwd", 0), "0-passwd");
    assert.equal(safeAttachmentFileName("..", 3), "3-attachment-3");
    assert.equal(safeAttachmentFileName("a b/..\\é\u202e x.pdf", 1), "1-__x.pdf");
    assert.equal(safeAttachmentFileName("x".repeat(255), 2).length, 202);
  });
});
