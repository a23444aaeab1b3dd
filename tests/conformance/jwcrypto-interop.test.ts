/**
 * Interoperability with an independent JOSE implementation: Python jwcrypto (Debian's
 * python3-jwcrypto, run as /usr/bin/python3 through tests/helpers/jwcrypto_interop.py).
 *
 * - mlax → jwcrypto: an envelope from `seal` decrypts with jwcrypto (RSA-OAEP-256/A256GCM only)
 *   and its inner JWS verifies with the key of the x5c[0] certificate (PS256 only).
 * - jwcrypto → mlax: a PS256 JWS in an RSA-OAEP-256/A256GCM JWE with mlax's headers, made by
 *   jwcrypto, is accepted by `open`; the same made with zip or another algorithm is refused.
 * - OpenSSL accepts every authority certificate of the test PKI against the CA (`openssl verify`).
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { decodeHeader } from "../../src/envelope/compact.ts";
import { sha256Hex } from "../../src/envelope/digest.ts";
import type { Message } from "../../src/envelope/message.ts";
import { newMessage } from "../../src/envelope/new-message.ts";
import { open } from "../../src/envelope/open.ts";
import { seal } from "../../src/envelope/seal.ts";
import type { TrustView } from "../../src/envelope/trust.ts";
import { isMlaxError } from "../../src/errors.ts";
import { certificateThumbprintS256 } from "../../src/pki/fingerprint.ts";
import { makeTestPki, pinnedTrust, type TestPki } from "../helpers/pki-fixture.ts";

const PYTHON = "/usr/bin/python3";
const HELPER = "tests/helpers/jwcrypto_interop.py";
const probe = spawnSync(PYTHON, ["-c", "import jwcrypto, cryptography"], { encoding: "utf8" });
const NO_JWCRYPTO =
  probe.status === 0
    ? false
    : `${PYTHON} cannot import jwcrypto (apt-get install python3-jwcrypto; CI installs it)`;
const hasOpenssl = spawnSync("openssl", ["version"]).status === 0;

const FROM = "ES-MJ";
const TO = "CO-FGN";

function python(args: readonly string[]): unknown {
  return JSON.parse(execFileSync(PYTHON, [HELPER, ...args], { encoding: "utf8", timeout: 20_000 }));
}

describe("interop with Python jwcrypto", { skip: NO_JWCRYPTO }, () => {
  let pki: TestPki;
  let trust: TrustView;
  let dir: string;
  const path = (name: string) => join(dir, name);
  /** Writes a file readable by its owner only (private keys, STYLE.md). */
  const secret = (name: string, data: string) => writeFileSync(path(name), data, { mode: 0o600 });

  const request = (): Message =>
    newMessage({
      type: "request",
      from: FROM,
      to: TO,
      now: pki.now,
      body: {
        kind: "mla",
        summary: "Interop test: bank records, art. 18(3)(f) UNTOC — «ñ», 中文",
        urgent: true,
      },
    });
  const openOptions = () => ({
    self: { authorityId: TO, enc: pki.authorities[TO]!.enc },
    trust,
    now: new Date(pki.now.getTime() + 60_000),
  });

  before(() => {
    pki = makeTestPki({ ids: [FROM, TO] });
    trust = pinnedTrust(pki);
    dir = mkdtempSync(join(tmpdir(), "mlax-jwcrypto-"));
    writeFileSync(path("ca.pem"), pki.ca.certPem);
    for (const a of Object.values(pki.authorities)) {
      for (const role of ["sign", "enc", "tls"] as const) {
        writeFileSync(path(`${a.id}-${role}.crt`), a[role].certPem);
      }
    }
    secret("recipient-enc.key", pki.authorities[TO]!.enc.privateKeyPem);
    secret("sender-sign.key", pki.authorities[FROM]!.sign.privateKeyPem);
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("jwcrypto opens an envelope sealed by mlax and verifies its signature", async () => {
    const message = request();
    const sealed = await seal({
      message,
      signer: pki.authorities[FROM]!.sign,
      chain: [pki.ca.certificate],
      recipient: trust.encryptionCertificate(TO, pki.now),
    });
    writeFileSync(path("mlax.jwe"), sealed.envelope);
    const out = python([
      "open",
      "--envelope",
      path("mlax.jwe"),
      "--enc-key",
      path("recipient-enc.key"),
      "--ca",
      path("ca.pem"),
    ]) as {
      jweHeader: Record<string, unknown>;
      jwsHeader: Record<string, unknown>;
      jws: string;
      payload: unknown;
      signerSubject: string;
      signerIssuedByCa: boolean;
    };
    assert.deepEqual(out.payload, message);
    assert.equal(out.jws, sealed.jws);
    assert.equal(sha256Hex(out.jws), sealed.messageSha256);
    assert.deepEqual(out.jweHeader, {
      alg: "RSA-OAEP-256",
      enc: "A256GCM",
      typ: "mlax-envelope+jwe",
      "x5t#S256": certificateThumbprintS256(pki.authorities[TO]!.enc.certificate),
    });
    assert.equal(out.jwsHeader.alg, "PS256");
    assert.equal(out.jwsHeader.typ, "mlax-message+jws");
    assert.deepEqual(out.jwsHeader.x5c, [
      pki.authorities[FROM]!.sign.certificate.raw.toString("base64"),
      pki.ca.certificate.raw.toString("base64"),
    ]);
    assert.match(out.signerSubject, new RegExp(`CN=${FROM}`));
    assert.equal(out.signerIssuedByCa, true);
  });

  it("jwcrypto refuses an mlax envelope whose ciphertext was tampered with", async () => {
    const sealed = await seal({
      message: request(),
      signer: pki.authorities[FROM]!.sign,
      chain: [pki.ca.certificate],
      recipient: trust.encryptionCertificate(TO, pki.now),
    });
    const parts = sealed.envelope.split(".");
    const ciphertext = Buffer.from(parts[3]!, "base64url");
    ciphertext[0] = ciphertext[0]! ^ 0x01;
    parts[3] = ciphertext.toString("base64url");
    writeFileSync(path("tampered.jwe"), parts.join("."));
    const run = spawnSync(
      PYTHON,
      [
        HELPER,
        "open",
        "--envelope",
        path("tampered.jwe"),
        "--enc-key",
        path("recipient-enc.key"),
        "--ca",
        path("ca.pem"),
      ],
      { encoding: "utf8" },
    );
    assert.equal(run.status, 3, run.stderr);
    assert.match(run.stderr, /refused by jwcrypto/);
  });

  describe("mlax opens envelopes made by jwcrypto", () => {
    const jwcryptoSeal = (message: Message, extra: readonly string[] = []) => {
      writeFileSync(path("message.json"), JSON.stringify(message));
      return python([
        "seal",
        "--message",
        path("message.json"),
        "--sign-key",
        path("sender-sign.key"),
        "--sign-cert",
        path(`${FROM}-sign.crt`),
        "--ca",
        path("ca.pem"),
        "--recipient-cert",
        path(`${TO}-enc.crt`),
        ...extra,
      ]) as { envelope: string; jws: string };
    };

    it("accepts a PS256 JWS in an RSA-OAEP-256/A256GCM JWE with mlax's headers", async () => {
      const message = request();
      const made = jwcryptoSeal(message);
      const opened = await open(made.envelope, openOptions());
      assert.deepEqual(opened.message, message);
      assert.equal(opened.jws, made.jws);
      assert.equal(opened.messageSha256, sha256Hex(made.jws));
      assert.equal(opened.envelopeSha256, sha256Hex(made.envelope));
      assert.equal(opened.signer.authorityId, FROM);
      assert.equal(opened.signer.role, "sign");
    });

    for (const [name, extra, member] of [
      ["zip: DEF", ["--zip"], { zip: "DEF" }],
      ["alg RSA-OAEP (SHA-1)", ["--alg", "RSA-OAEP"], { alg: "RSA-OAEP" }],
      ["enc A128GCM", ["--enc", "A128GCM"], { enc: "A128GCM" }],
    ] as const) {
      it(`refuses the same with ${name} (ENVELOPE_HEADER_INVALID)`, async () => {
        const made = jwcryptoSeal(request(), extra);
        const header = decodeHeader(made.envelope.split(".")[0]!);
        assert.deepEqual({ ...header, ...member }, header, `jwcrypto wrote ${name}`);
        await assert.rejects(
          open(made.envelope, openOptions()),
          (e: unknown) => isMlaxError(e) && e.code === "ENVELOPE_HEADER_INVALID",
        );
      });
    }
  });

  it("openssl verify accepts each authority certificate against the CA", {
    skip: !hasOpenssl && "no openssl",
  }, () => {
    for (const a of Object.values(pki.authorities)) {
      for (const role of ["sign", "enc", "tls"] as const) {
        const out = execFileSync(
          "openssl",
          ["verify", "-x509_strict", "-CAfile", path("ca.pem"), path(`${a.id}-${role}.crt`)],
          { encoding: "utf8" },
        );
        assert.match(out, /: OK\s*$/, `${a.id} ${role}`);
      }
    }
    // Control: the same check fails against an anchor that did not issue the certificate.
    const wrong = spawnSync(
      "openssl",
      ["verify", "-CAfile", path(`${FROM}-sign.crt`), path(`${TO}-enc.crt`)],
      { encoding: "utf8" },
    );
    assert.notEqual(wrong.status, 0);
  });
});
