/**
 * The committed envelope vectors (tests/vectors/envelope-v1, made by scripts/make-vectors.ts) open
 * with the outcome they record, at the vector's clock. They pin the wire format: a change that
 * breaks them breaks interoperability with every node already deployed.
 */
import assert from "node:assert/strict";
import {
  createDecipheriv,
  createPrivateKey,
  constants as cryptoConstants,
  privateDecrypt,
  type X509Certificate,
} from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { inflateRawSync } from "node:zlib";
import { sha256Hex } from "../../src/envelope/digest.ts";
import { open } from "../../src/envelope/open.ts";
import { verifyReceipt } from "../../src/envelope/receipt.ts";
import type { LocalKey, PinnedCertificate, TrustView } from "../../src/envelope/trust.ts";
import { MessageRefusedError, MlaxError } from "../../src/errors.ts";
import { certificateSha256 } from "../../src/pki/fingerprint.ts";
import { parseCertificatePem } from "../../src/pki/issue.ts";
import type { Role } from "../../src/pki/roles.ts";
import { validateCertificate } from "../../src/pki/validate-certificate.ts";

const DIR = new URL("../vectors/envelope-v1/", import.meta.url);
const read = (name: string) => readFileSync(new URL(name, DIR), "utf8");

interface VectorCase {
  name: string;
  file: string;
  outcome: "accepted" | "refused" | "error";
  code?: string;
  now?: string;
  message?: unknown;
  messageSha256?: string;
  envelopeSha256?: string;
}

const expected = JSON.parse(read("expected.json")) as {
  format: string;
  clock: string;
  ca: string;
  pins: { authorityId: string; role: Role; file: string }[];
  recipient: { authorityId: string; encCertificate: string; encPrivateKey: string };
  cases: VectorCase[];
  receipt: {
    file: string;
    status: string;
    from: string;
    to: string;
    messageId: string;
    messageSha256: string;
    envelopeSha256: string;
  };
};
const clock = new Date(expected.clock);
const ca = parseCertificatePem(read(expected.ca));

/** A TrustView over the committed pins, anchored at the committed CA. */
function committedTrust(): TrustView {
  const pins = new Map<string, PinnedCertificate>();
  for (const p of expected.pins) {
    const certificate = parseCertificatePem(read(p.file));
    const sha256 = certificateSha256(certificate);
    pins.set(sha256, { authorityId: p.authorityId, role: p.role, certificate, sha256 });
  }
  const check = (p: PinnedCertificate, at: readonly Date[]) =>
    validateCertificate(p.certificate, { ca, role: p.role, at, expectedCommonName: p.authorityId });
  return {
    resolveSigner(x5c: readonly X509Certificate[], at: readonly Date[]) {
      const pinned = x5c[0] ? pins.get(certificateSha256(x5c[0])) : undefined;
      if (!pinned) throw new MlaxError("SIGNER_UNKNOWN");
      check(pinned, at);
      return pinned;
    },
    encryptionCertificate(authorityId: string, at: Date) {
      const pinned = [...pins.values()].find(
        (p) => p.authorityId === authorityId && p.role === "enc",
      );
      if (!pinned) throw new MlaxError("AUTHORITY_UNKNOWN");
      check(pinned, [at]);
      return pinned;
    },
  };
}

const privateKey = createPrivateKey(read(expected.recipient.encPrivateKey));
const self = {
  authorityId: expected.recipient.authorityId,
  enc: {
    authorityId: expected.recipient.authorityId,
    privateKey,
    certificate: parseCertificatePem(read(expected.recipient.encCertificate)),
  } satisfies LocalKey,
};

/** RFC 7516 §5.2 by hand with node:crypto (no jose): the plaintext bytes of a compact JWE. */
function decryptByHand(token: string): { header: Record<string, unknown>; plaintext: Buffer } {
  const [h = "", k = "", iv = "", c = "", t = ""] = token.split(".");
  const cek = privateDecrypt(
    { key: privateKey, padding: cryptoConstants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" },
    Buffer.from(k, "base64url"),
  );
  const decipher = createDecipheriv("aes-256-gcm", cek, Buffer.from(iv, "base64url"));
  decipher.setAAD(Buffer.from(h, "ascii"));
  decipher.setAuthTag(Buffer.from(t, "base64url"));
  const plaintext = Buffer.concat([decipher.update(Buffer.from(c, "base64url")), decipher.final()]);
  return { header: JSON.parse(Buffer.from(h, "base64url").toString("utf8")), plaintext };
}

describe("committed envelope-v1 vectors", () => {
  it("are the format this test reads, and say they are test-only", () => {
    assert.equal(expected.format, "mlax-envelope-vectors/1");
    assert.match(read("README.md"), /TEST ONLY/);
    assert.match(read(expected.recipient.encPrivateKey), /^TEST ONLY/);
    assert.ok(expected.cases.some((c) => c.outcome === "accepted"));
    assert.ok(expected.cases.filter((c) => c.outcome !== "accepted").length >= 3);
  });

  for (const c of expected.cases) {
    it(`${c.name}: ${c.outcome}${c.code ? ` ${c.code}` : ""}`, async () => {
      const envelope = read(c.file);
      const options = { self, trust: committedTrust(), now: c.now ? new Date(c.now) : clock };
      if (c.outcome === "accepted") {
        const opened = await open(envelope, options);
        assert.deepEqual(opened.message, c.message);
        assert.equal(opened.messageSha256, c.messageSha256);
        assert.equal(opened.envelopeSha256, c.envelopeSha256);
        assert.equal(sha256Hex(opened.jws), c.messageSha256);
        assert.equal(sha256Hex(envelope), c.envelopeSha256);
        return;
      }
      await assert.rejects(open(envelope, options), (e: unknown) => {
        assert.ok(e instanceof MlaxError, String(e));
        assert.equal(e.code, c.code, e.message);
        assert.equal(e instanceof MessageRefusedError, c.outcome === "refused");
        return true;
      });
    });
  }

  it("the valid envelope decrypts with node:crypto alone to the JWS jose signed", () => {
    const valid = expected.cases.find((c) => c.name === "valid")!;
    const { header, plaintext } = decryptByHand(read(valid.file));
    assert.deepEqual(Object.keys(header).sort(), ["alg", "enc", "typ", "x5t#S256"]);
    assert.equal(sha256Hex(plaintext.toString("utf8")), valid.messageSha256);
  });

  it("the zip vector is a well-formed compressed JWE of that same JWS (refused only for zip)", () => {
    const valid = expected.cases.find((c) => c.name === "valid")!;
    const { header, plaintext } = decryptByHand(read("hostile-zip.jwe"));
    assert.equal(header.zip, "DEF");
    assert.equal(sha256Hex(inflateRawSync(plaintext).toString("utf8")), valid.messageSha256);
  });

  it("the committed receipt verifies and names the valid message", async () => {
    const r = expected.receipt;
    const { receipt, signer } = await verifyReceipt(read(r.file), {
      trust: committedTrust(),
      at: [clock],
      expect: {
        messageId: r.messageId,
        messageSha256: r.messageSha256,
        envelopeSha256: r.envelopeSha256,
        from: r.from,
        to: r.to,
      },
    });
    assert.equal(receipt.status, r.status);
    assert.equal(signer.authorityId, r.from);
  });
});
