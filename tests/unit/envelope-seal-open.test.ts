import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { before, describe, it } from "node:test";
import { CompactEncrypt } from "jose";
import { sha256Hex } from "../../src/envelope/digest.ts";
import { envelopeHeader, MESSAGE_TYP } from "../../src/envelope/jwe-header.ts";
import { verifyJws } from "../../src/envelope/jws.ts";
import type { Message } from "../../src/envelope/message.ts";
import { DEFAULT_MESSAGE_TTL_MS, newMessage } from "../../src/envelope/new-message.ts";
import { open } from "../../src/envelope/open.ts";
import { createReceipt, verifyReceipt } from "../../src/envelope/receipt.ts";
import { seal } from "../../src/envelope/seal.ts";
import type { PinnedCertificate, TrustView } from "../../src/envelope/trust.ts";
import { uuidv7, uuidv7Time } from "../../src/envelope/uuid.ts";
import { MlaxError } from "../../src/errors.ts";
import { certificateSha256, certificateThumbprintS256 } from "../../src/pki/fingerprint.ts";
import {
  FIXED_NOW,
  makeTestPki,
  pinnedTrust,
  type TestAuthority,
  type TestKey,
  type TestPki,
} from "../helpers/pki-fixture.ts";

const MINUTE = 60_000;

function hasCode(code: string) {
  return (e: unknown) => {
    assert.ok(e instanceof MlaxError, `expected an MlaxError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return true;
  };
}

function pin(key: TestKey): PinnedCertificate {
  return {
    authorityId: key.authorityId,
    role: key.role,
    certificate: key.certificate,
    sha256: certificateSha256(key.certificate),
  };
}

function decodeJson(part: string | undefined): Record<string, unknown> {
  return JSON.parse(Buffer.from(part ?? "", "base64url").toString("utf8"));
}

describe("uuidv7 (RFC 9562 §5.7)", () => {
  it("is lowercase canonical, version 7, variant 10, and encodes the instant", () => {
    const id = uuidv7(FIXED_NOW);
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(uuidv7Time(id)?.getTime(), FIXED_NOW.getTime());
  });

  it("puts the random bytes after the timestamp, under the version and variant bits", () => {
    const id = uuidv7(new Date(0x0123456789ab), () => new Uint8Array(10).fill(0xff));
    assert.equal(id, "01234567-89ab-7fff-bfff-ffffffffffff");
    const zero = uuidv7(new Date(0), () => new Uint8Array(10));
    assert.equal(zero, "00000000-0000-7000-8000-000000000000");
  });

  it("sorts by time and differs within the same millisecond", () => {
    const a = uuidv7(FIXED_NOW);
    const b = uuidv7(FIXED_NOW);
    const c = uuidv7(new Date(FIXED_NOW.getTime() + 1));
    assert.notEqual(a, b);
    assert.ok(a < c && b < c);
  });

  it("refuses an invalid or pre-1970 instant", () => {
    assert.throws(() => uuidv7(new Date(Number.NaN)), hasCode("INPUT_INVALID"));
    assert.throws(() => uuidv7(new Date(-1)), hasCode("INPUT_INVALID"));
  });
});

describe("newMessage", () => {
  it("fills v, id, times (30-day default TTL) and opens its own thread for a request", () => {
    const m = newMessage({
      type: "request",
      from: "ES-MJ",
      to: "CO-FGN",
      body: { kind: "mla" },
      now: FIXED_NOW,
    });
    assert.equal(m.v, 1);
    assert.equal(uuidv7Time(m.id)?.getTime(), FIXED_NOW.getTime());
    assert.equal(m.createdAt, FIXED_NOW.toISOString());
    assert.equal(Date.parse(m.expiresAt) - FIXED_NOW.getTime(), DEFAULT_MESSAGE_TTL_MS);
    assert.equal(DEFAULT_MESSAGE_TTL_MS, 30 * 86_400_000);
    assert.equal(m.threadId, m.id);
    assert.deepEqual(m.attachments, []);
    assert.equal("inReplyTo" in m, false);
  });

  it("keeps the thread of a follow-up message and honours ttlMs", () => {
    const req = newMessage({
      type: "request",
      from: "ES-MJ",
      to: "CO-FGN",
      body: {},
      now: FIXED_NOW,
    });
    const ack = newMessage({
      type: "acknowledgement",
      from: "CO-FGN",
      to: "ES-MJ",
      body: { caseNumber: "42" },
      now: FIXED_NOW,
      ttlMs: 60 * MINUTE,
      threadId: req.id,
      inReplyTo: req.id,
    });
    assert.equal(ack.threadId, req.id);
    assert.equal(ack.inReplyTo, req.id);
    assert.equal(Date.parse(ack.expiresAt) - Date.parse(ack.createdAt), 60 * MINUTE);
  });

  it("refuses bad input with INPUT_INVALID and the zod issues", () => {
    const base = { type: "request" as const, to: "CO-FGN", body: {}, now: FIXED_NOW };
    assert.throws(
      () => newMessage({ ...base, from: "spain" }),
      (e: unknown) => {
        hasCode("INPUT_INVALID")(e);
        const issues = (e as MlaxError).details?.issues;
        assert.ok(Array.isArray(issues) && issues.length > 0);
        return true;
      },
    );
    assert.throws(() => newMessage({ ...base, from: "ES-MJ", ttlMs: 0 }), hasCode("INPUT_INVALID"));
    assert.throws(
      () => newMessage({ ...base, from: "ES-MJ", threadId: uuidv7(FIXED_NOW) }),
      hasCode("INPUT_INVALID"),
    );
    assert.throws(
      () => newMessage({ ...base, type: "clarification", from: "ES-MJ" }),
      hasCode("INPUT_INVALID"),
    );
  });
});

describe("seal → open → receipt", () => {
  let pki: TestPki;
  let trust: TrustView;
  let es: TestAuthority;
  let co: TestAuthority;
  let it_: TestAuthority;
  let message: Message;
  const coSelf = () => ({ authorityId: "CO-FGN", enc: co.enc });

  before(() => {
    pki = makeTestPki();
    trust = pinnedTrust(pki);
    es = pki.authorities["ES-MJ"]!;
    co = pki.authorities["CO-FGN"]!;
    it_ = pki.authorities["IT-MG"]!;
    message = newMessage({
      type: "request",
      from: "ES-MJ",
      to: "CO-FGN",
      body: { kind: "mla", summary: "Ñandú — confiscation of assets" },
      now: FIXED_NOW,
      attachments: [
        { name: "evidence.pdf", mediaType: "application/pdf", size: 3, sha256: "a".repeat(64) },
      ],
      attachmentKey: Buffer.alloc(32, 7).toString("base64url"),
    });
  });

  it("round trips, with the digests DESIGN.md defines, and the receipt verifies", async () => {
    const sealed = await seal({
      message,
      signer: es.sign,
      chain: [pki.ca.certificate],
      recipient: pin(co.enc),
    });
    assert.equal(sealed.messageSha256, sha256Hex(sealed.jws));
    assert.equal(sealed.envelopeSha256, sha256Hex(sealed.envelope));

    const opened = await open(sealed.envelope, { self: coSelf(), trust, now: FIXED_NOW });
    assert.deepEqual(opened.message, message);
    assert.equal(opened.jws, sealed.jws);
    assert.equal(opened.messageSha256, sealed.messageSha256);
    assert.equal(opened.envelopeSha256, sealed.envelopeSha256);
    assert.equal(opened.signer.authorityId, "ES-MJ");
    assert.equal(opened.signer.role, "sign");

    const receivedAt = new Date(FIXED_NOW.getTime() + 1000);
    const token = await createReceipt({
      message: opened.message,
      messageSha256: opened.messageSha256,
      envelopeSha256: opened.envelopeSha256,
      attachmentsSha256: ["b".repeat(64)],
      status: "accepted",
      receivedAt,
      signer: co.sign,
      chain: [pki.ca.certificate],
    });
    const { receipt, signer } = await verifyReceipt(token, {
      trust,
      at: [FIXED_NOW],
      expect: {
        messageId: message.id,
        messageSha256: sealed.messageSha256,
        envelopeSha256: sealed.envelopeSha256,
        from: "CO-FGN",
        to: "ES-MJ",
      },
    });
    assert.equal(signer.authorityId, "CO-FGN");
    assert.equal(receipt.status, "accepted");
    assert.equal(receipt.receivedAt, receivedAt.toISOString());
    assert.deepEqual(receipt.attachmentsSha256, ["b".repeat(64)]);
    assert.equal(uuidv7Time(receipt.id)?.getTime(), receivedAt.getTime());
  });

  it("writes exactly the headers of the wire protocol", async () => {
    const sealed = await seal({
      message,
      signer: es.sign,
      chain: [pki.ca.certificate],
      recipient: pin(co.enc),
    });
    const jweParts = sealed.envelope.split(".");
    assert.equal(jweParts.length, 5);
    assert.deepEqual(decodeJson(jweParts[0]), {
      alg: "RSA-OAEP-256",
      enc: "A256GCM",
      typ: "mlax-envelope+jwe",
      "x5t#S256": certificateThumbprintS256(co.enc.certificate),
    });
    const jwsParts = sealed.jws.split(".");
    const header = decodeJson(jwsParts[0]);
    assert.deepEqual(Object.keys(header).sort(), ["alg", "typ", "x5c"]);
    assert.equal(header.alg, "PS256");
    assert.equal(header.typ, MESSAGE_TYP);
    const x5c = header.x5c as string[];
    assert.equal(x5c.length, 2);
    assert.ok(
      new X509Certificate(Buffer.from(x5c[0]!, "base64")).raw.equals(es.sign.certificate.raw),
    );
    assert.ok(
      new X509Certificate(Buffer.from(x5c[1]!, "base64")).raw.equals(pki.ca.certificate.raw),
    );
    assert.deepEqual(decodeJson(jwsParts[1]), JSON.parse(JSON.stringify(message)));
  });

  it("seals the same message twice into different envelopes whose JWS both verify", async () => {
    const a = await seal({ message, signer: es.sign, recipient: pin(co.enc) });
    const b = await seal({ message, signer: es.sign, recipient: pin(co.enc) });
    assert.notEqual(a.envelope, b.envelope);
    const [, keyA, ivA] = a.envelope.split(".");
    const [, keyB, ivB] = b.envelope.split(".");
    assert.notEqual(keyA, keyB, "fresh CEK");
    assert.notEqual(ivA, ivB, "fresh IV");
    for (const s of [a, b]) {
      const v = await verifyJws(s.jws, { typ: MESSAGE_TYP, trust, role: "sign", at: [FIXED_NOW] });
      assert.deepEqual(JSON.parse(Buffer.from(v.payload).toString("utf8")), message);
      const opened = await open(s.envelope, { self: coSelf(), trust, now: FIXED_NOW });
      assert.equal(opened.jws, s.jws);
    }
    // The same JWS encrypted twice: still two different envelopes.
    const again = await new CompactEncrypt(new TextEncoder().encode(a.jws))
      .setProtectedHeader({ ...envelopeHeader(co.enc.certificate) })
      .encrypt(co.enc.certificate.publicKey);
    assert.notEqual(again, a.envelope);
    const reopened = await open(again, { self: coSelf(), trust, now: FIXED_NOW });
    assert.equal(reopened.messageSha256, a.messageSha256);
    assert.notEqual(reopened.envelopeSha256, a.envelopeSha256);
  });

  it("accepts a createdAt within the clock skew and refuses one just beyond it", async () => {
    const within = newMessage({
      type: "request",
      from: "ES-MJ",
      to: "CO-FGN",
      body: {},
      now: new Date(FIXED_NOW.getTime() + 4 * MINUTE),
    });
    const s1 = await seal({ message: within, signer: es.sign, recipient: pin(co.enc) });
    const opened = await open(s1.envelope, { self: coSelf(), trust, now: FIXED_NOW });
    assert.equal(opened.message.id, within.id);
    await assert.rejects(
      open(s1.envelope, { self: coSelf(), trust, now: FIXED_NOW, skewMs: MINUTE }),
      hasCode("MESSAGE_FROM_FUTURE"),
    );
  });

  it("refuses to seal an invalid message or to the wrong certificate", async () => {
    const s = (over: Partial<Parameters<typeof seal>[0]>) =>
      seal({ message, signer: es.sign, recipient: pin(co.enc), ...over });
    await assert.rejects(s({ recipient: pin(co.sign) }), hasCode("INPUT_INVALID"));
    await assert.rejects(s({ recipient: pin(it_.enc) }), hasCode("INPUT_INVALID"));
    await assert.rejects(s({ signer: it_.sign }), hasCode("SIGNER_MISMATCH"));
    await assert.rejects(
      s({ message: { ...message, to: "nowhere" } as Message }),
      hasCode("INPUT_INVALID"),
    );
    await assert.rejects(
      s({ message: { ...message, extra: 1 } as unknown as Message }),
      hasCode("INPUT_INVALID"),
    );
    await assert.rejects(
      s({ message: { ...message, expiresAt: message.createdAt } }),
      hasCode("INPUT_INVALID"),
    );
  });

  it("opens only with the enc key of the authority it is given as self", async () => {
    const sealed = await seal({ message, signer: es.sign, recipient: pin(co.enc) });
    await assert.rejects(
      open(sealed.envelope, { self: { authorityId: "IT-MG", enc: co.enc }, trust, now: FIXED_NOW }),
      hasCode("CONFIG_INVALID"),
    );
    await assert.rejects(
      open(sealed.envelope, {
        self: { authorityId: "IT-MG", enc: it_.enc },
        trust,
        now: FIXED_NOW,
      }),
      hasCode("ENVELOPE_NOT_FOR_ME"),
    );
  });
});
