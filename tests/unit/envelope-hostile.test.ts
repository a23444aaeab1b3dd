/**
 * Hostile envelopes (THREATS.md, "Envelope and JOSE"): each must be refused by `open` with its own
 * code. Tokens are built by hand (base64url JSON headers) or with jose directly.
 */
import assert from "node:assert/strict";
import {
  createHmac,
  createSign,
  constants as cryptoConstants,
  type X509Certificate,
} from "node:crypto";
import { before, describe, it } from "node:test";
import { CompactEncrypt } from "jose";
import { envelopeHeader, MESSAGE_TYP } from "../../src/envelope/jwe-header.ts";
import { signJws } from "../../src/envelope/jws.ts";
import { LIMITS } from "../../src/envelope/limits.ts";
import type { Message } from "../../src/envelope/message.ts";
import { newMessage } from "../../src/envelope/new-message.ts";
import { type OpenOptions, open, refusedMessageOf } from "../../src/envelope/open.ts";
import { createReceipt, verifyReceipt } from "../../src/envelope/receipt.ts";
import { seal } from "../../src/envelope/seal.ts";
import type { LocalKey, PinnedCertificate, TrustView } from "../../src/envelope/trust.ts";
import { MessageRefusedError, MlaxError } from "../../src/errors.ts";
import { certificateSha256 } from "../../src/pki/fingerprint.ts";
import {
  FIXED_NOW,
  makeTestPki,
  pinnedTrust,
  type TestAuthority,
  type TestKey,
  type TestPki,
} from "../helpers/pki-fixture.ts";

const MINUTE = 60_000;
const DAY = 86_400_000;
const encoder = new TextEncoder();

const b64json = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

function pin(key: TestKey): PinnedCertificate {
  return {
    authorityId: key.authorityId,
    role: key.role,
    certificate: key.certificate,
    sha256: certificateSha256(key.certificate),
  };
}

/** Asserts an MlaxError with `code` that is (or is not) an authentic-but-refused message. */
function refusedWith(code: string, refused = false) {
  return (e: unknown) => {
    assert.ok(e instanceof MlaxError, `expected an MlaxError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.equal(e instanceof MessageRefusedError, refused, `MessageRefusedError: ${refused}`);
    return true;
  };
}

/** Encrypts any plaintext to `cert` with jose, with our header unless overridden. */
async function encryptTo(
  plaintext: string | Uint8Array,
  cert: X509Certificate,
  header: Record<string, unknown> = {},
): Promise<string> {
  const bytes = typeof plaintext === "string" ? encoder.encode(plaintext) : plaintext;
  return new CompactEncrypt(bytes)
    .setProtectedHeader({ ...envelopeHeader(cert), ...header })
    .encrypt(cert.publicKey);
}

/** Replaces one compact part. */
function withPart(token: string, index: number, part: string): string {
  const parts = token.split(".");
  parts[index] = part;
  return parts.join(".");
}

/** Flips one bit of the decoded bytes of a part, keeping it canonical base64url. */
function flipByte(token: string, index: number, at = 0): string {
  const bytes = Buffer.from(token.split(".")[index] ?? "", "base64url");
  bytes[at] = (bytes[at] ?? 0) ^ 0x01;
  return withPart(token, index, bytes.toString("base64url"));
}

/** A compact JWS with any header, signed by hand (RSA-PSS SHA-256, like PS256) with `key`. */
function psSigned(header: Record<string, unknown>, payload: unknown, key: LocalKey): string {
  const input = `${b64json(header)}.${b64json(payload)}`;
  const signer = createSign("sha256");
  signer.update(input);
  const sig = signer.sign({
    key: key.privateKey,
    padding: cryptoConstants.RSA_PKCS1_PSS_PADDING,
    saltLength: 32,
  });
  return `${input}.${sig.toString("base64url")}`;
}

const x5cOf = (key: TestKey) => [key.certificate.raw.toString("base64")];

describe("open refuses hostile envelopes", () => {
  let pki: TestPki;
  let trust: TrustView;
  let es: TestAuthority;
  let co: TestAuthority;
  let it_: TestAuthority;
  let message: Message;
  let valid: string;
  let validJws: string;
  let coOptions: OpenOptions;
  const coOpen = (token: unknown, over: Partial<OpenOptions> = {}) =>
    open(token, { ...coOptions, ...over });
  /** A message from ES-MJ to CO-FGN created at `createdAt`. */
  const messageAt = (createdAt: Date, over: Partial<Message> = {}): Message => ({
    ...newMessage({ type: "request", from: "ES-MJ", to: "CO-FGN", body: {}, now: createdAt }),
    ...over,
  });
  /** Signs `payload` with `key` as a message JWS and encrypts it to CO-FGN. */
  const signedToCo = async (payload: unknown, key: LocalKey) =>
    encryptTo(
      await signJws(encoder.encode(JSON.stringify(payload)), { typ: MESSAGE_TYP, key }),
      co.enc.certificate,
    );

  before(async () => {
    pki = makeTestPki();
    trust = pinnedTrust(pki);
    es = pki.authorities["ES-MJ"]!;
    co = pki.authorities["CO-FGN"]!;
    it_ = pki.authorities["IT-MG"]!;
    coOptions = { self: { authorityId: "CO-FGN", enc: co.enc }, trust, now: FIXED_NOW };
    message = messageAt(FIXED_NOW);
    const sealed = await seal({ message, signer: es.sign, recipient: pin(co.enc) });
    valid = sealed.envelope;
    validJws = sealed.jws;
    // Sanity: the unmodified envelope opens, so each refusal below is caused by its mutation.
    await coOpen(valid);
  });

  describe("compact serialization (our checks, before jose)", () => {
    it("refuses non-string input", async () => {
      for (const input of [undefined, null, 42, {}, [valid], Buffer.from(valid)]) {
        await assert.rejects(coOpen(input), refusedWith("ENVELOPE_MALFORMED"));
      }
    });

    it("refuses 4- and 6-part tokens", async () => {
      const parts = valid.split(".");
      await assert.rejects(coOpen(parts.slice(0, 4).join(".")), refusedWith("ENVELOPE_MALFORMED"));
      await assert.rejects(coOpen(`${valid}.${parts[4]}`), refusedWith("ENVELOPE_MALFORMED"));
      await assert.rejects(coOpen(`${validJws}`), refusedWith("ENVELOPE_MALFORMED"));
    });

    it("refuses an oversize envelope before parsing it", async () => {
      await assert.rejects(
        coOpen("a".repeat(LIMITS.maxEnvelopeChars + 1)),
        refusedWith("ENVELOPE_TOO_LARGE"),
      );
    });

    it("refuses whitespace, '=' and '+' inside each part", async () => {
      const parts = valid.split(".");
      for (let i = 0; i < parts.length; i++) {
        const part = parts[i]!;
        const mid = Math.floor(part.length / 2);
        for (const bad of [" ", "\n", "\t", "=", "+", "/"]) {
          const mutated = withPart(valid, i, part.slice(0, mid) + bad + part.slice(mid));
          await assert.rejects(
            coOpen(mutated),
            refusedWith("ENVELOPE_MALFORMED"),
            `part ${i} ${JSON.stringify(bad)}`,
          );
        }
        await assert.rejects(
          coOpen(withPart(valid, i, `${part}=`)),
          refusedWith("ENVELOPE_MALFORMED"),
        );
      }
      await assert.rejects(coOpen(` ${valid}`), refusedWith("ENVELOPE_MALFORMED"));
      await assert.rejects(coOpen(`${valid}\n`), refusedWith("ENVELOPE_MALFORMED"));
    });

    it("refuses a truncated tag, IV or encrypted key by their lengths", async () => {
      const parts = valid.split(".");
      await assert.rejects(
        coOpen(withPart(valid, 4, parts[4]!.slice(0, 20))),
        refusedWith("ENVELOPE_MALFORMED"),
      );
      const shortTag = Buffer.from(parts[4]!, "base64url").subarray(0, 12).toString("base64url");
      await assert.rejects(coOpen(withPart(valid, 4, shortTag)), refusedWith("ENVELOPE_MALFORMED"));
      await assert.rejects(coOpen(withPart(valid, 4, "")), refusedWith("ENVELOPE_MALFORMED"));
      const shortIv = Buffer.from(parts[2]!, "base64url").subarray(0, 8).toString("base64url");
      await assert.rejects(coOpen(withPart(valid, 2, shortIv)), refusedWith("ENVELOPE_MALFORMED"));
      const shortKey = Buffer.from(parts[1]!, "base64url").subarray(1).toString("base64url");
      await assert.rejects(coOpen(withPart(valid, 1, shortKey)), refusedWith("ENVELOPE_MALFORMED"));
      await assert.rejects(coOpen(withPart(valid, 3, "")), refusedWith("ENVELOPE_MALFORMED"));
    });
  });

  describe("JWE protected header", () => {
    const header = (over: Record<string, unknown>) => ({
      ...envelopeHeader(co.enc.certificate),
      ...over,
    });
    const withHeader = (h: Record<string, unknown>) => withPart(valid, 0, b64json(h));

    it("refuses alg none, other key management and content algorithms", async () => {
      for (const alg of [
        "none",
        "RSA-OAEP",
        "RSA1_5",
        "dir",
        "ECDH-ES",
        "PBES2-HS256+A128KW",
        "A256KW",
      ]) {
        await assert.rejects(
          coOpen(withHeader(header({ alg }))),
          refusedWith("ENVELOPE_HEADER_INVALID"),
          alg,
        );
      }
      for (const enc of ["A128GCM", "A256CBC-HS512", "none"]) {
        await assert.rejects(
          coOpen(withHeader(header({ enc }))),
          refusedWith("ENVELOPE_HEADER_INVALID"),
          enc,
        );
      }
      const { alg: _alg, ...noAlg } = header({});
      await assert.rejects(coOpen(withHeader(noAlg)), refusedWith("ENVELOPE_HEADER_INVALID"));
    });

    it("refuses a real zip: DEF envelope outright", async () => {
      const zipped = await encryptTo(validJws, co.enc.certificate, { zip: "DEF" });
      await assert.rejects(coOpen(zipped), refusedWith("ENVELOPE_HEADER_INVALID"));
    });

    it("refuses an unknown crit, even one jose would process", async () => {
      const crit = await new CompactEncrypt(encoder.encode(validJws))
        .setProtectedHeader(header({ crit: ["mlax-x"], "mlax-x": true }))
        .encrypt(co.enc.certificate.publicKey, { crit: { "mlax-x": true } });
      await assert.rejects(coOpen(crit), refusedWith("ENVELOPE_HEADER_INVALID"));
      await assert.rejects(
        coOpen(withHeader(header({ crit: ["exp"] }))),
        refusedWith("ENVELOPE_HEADER_INVALID"),
      );
    });

    it("refuses a wrong or missing typ, a cty and keys carried in the header", async () => {
      for (const over of [
        { typ: "JWE" },
        { typ: "mlax-receipt+jws" },
        { typ: undefined },
        { cty: "mlax-message+jws" },
        { jwk: { kty: "RSA", n: "AQAB", e: "AQAB" } },
        { jku: "https://evil.example/jwks" },
        { x5u: "https://evil.example/cert" },
        { x5c: x5cOf(co.enc) },
        { kid: "enc" },
      ]) {
        await assert.rejects(
          coOpen(withHeader(header(over))),
          refusedWith("ENVELOPE_HEADER_INVALID"),
          JSON.stringify(over),
        );
      }
    });

    it("refuses a header that is not a JSON object", async () => {
      for (const raw of ["not json", "[]", "null", '"x"']) {
        await assert.rejects(
          coOpen(withPart(valid, 0, Buffer.from(raw).toString("base64url"))),
          refusedWith("ENVELOPE_MALFORMED"),
        );
      }
    });

    it("refuses an envelope sealed to another certificate (ENVELOPE_NOT_FOR_ME)", async () => {
      const toIt = await seal({
        message: { ...message, to: "IT-MG" },
        signer: es.sign,
        recipient: pin(it_.enc),
      });
      await assert.rejects(coOpen(toIt.envelope), refusedWith("ENVELOPE_NOT_FOR_ME"));
      // CO-FGN's own sign certificate is not its enc certificate either.
      const toSign = await encryptTo(validJws, co.enc.certificate, {
        "x5t#S256": envelopeHeader(co.sign.certificate)["x5t#S256"],
      });
      await assert.rejects(coOpen(toSign), refusedWith("ENVELOPE_NOT_FOR_ME"));
      const { "x5t#S256": _x5t, ...noX5t } = header({});
      await assert.rejects(coOpen(withHeader(noX5t)), refusedWith("ENVELOPE_HEADER_INVALID"));
    });
  });

  describe("decryption (jose, restricted)", () => {
    it("refuses a flipped ciphertext, tag, IV or encrypted-key byte", async () => {
      const ciphertextLength = Buffer.from(valid.split(".")[3]!, "base64url").length;
      for (const at of [0, ciphertextLength - 1]) {
        await assert.rejects(
          coOpen(flipByte(valid, 3, at)),
          refusedWith("ENVELOPE_DECRYPTION_FAILED"),
        );
      }
      await assert.rejects(
        coOpen(flipByte(valid, 4, 15)),
        refusedWith("ENVELOPE_DECRYPTION_FAILED"),
      );
      await assert.rejects(
        coOpen(flipByte(valid, 2, 0)),
        refusedWith("ENVELOPE_DECRYPTION_FAILED"),
      );
      for (const at of [0, 100, 255]) {
        await assert.rejects(
          coOpen(flipByte(valid, 1, at)),
          refusedWith("ENVELOPE_DECRYPTION_FAILED"),
        );
      }
    });

    it("refuses a header swapped after encryption (it is the AAD)", async () => {
      const other = await encryptTo(validJws, co.enc.certificate);
      const swapped = withPart(
        valid,
        0,
        b64json(JSON.parse(Buffer.from(other.split(".")[0]!, "base64url").toString())),
      );
      // Same JSON, different serialization: re-serialized key order changes the AAD bytes.
      const reordered = withPart(
        valid,
        0,
        b64json({
          enc: "A256GCM",
          alg: "RSA-OAEP-256",
          typ: "mlax-envelope+jwe",
          "x5t#S256": envelopeHeader(co.enc.certificate)["x5t#S256"],
        }),
      );
      await coOpen(swapped); // identical bytes: still valid
      await assert.rejects(coOpen(reordered), refusedWith("ENVELOPE_DECRYPTION_FAILED"));
    });

    it("refuses an envelope naming our certificate but encrypted to another key", async () => {
      const wrongKey = await new CompactEncrypt(encoder.encode(validJws))
        .setProtectedHeader({ ...envelopeHeader(co.enc.certificate) })
        .encrypt(it_.enc.certificate.publicKey);
      await assert.rejects(coOpen(wrongKey), refusedWith("ENVELOPE_DECRYPTION_FAILED"));
    });
  });

  describe("inner JWS", () => {
    it("refuses a plaintext that is not a compact JWS", async () => {
      for (const plaintext of ["hello", "", `${validJws}.x`, new Uint8Array([0xff, 0xfe, 0x2e])]) {
        const env = await encryptTo(plaintext, co.enc.certificate);
        await assert.rejects(coOpen(env), refusedWith("ENVELOPE_MALFORMED"));
      }
      await assert.rejects(
        coOpen(await encryptTo(`\ufeff${validJws}`, co.enc.certificate)),
        refusedWith("ENVELOPE_MALFORMED"),
      );
    });

    it("refuses alg none", async () => {
      const none = `${b64json({ alg: "none", typ: MESSAGE_TYP, x5c: x5cOf(es.sign) })}.${b64json(message)}.`;
      await assert.rejects(
        coOpen(await encryptTo(none, co.enc.certificate)),
        refusedWith("ENVELOPE_HEADER_INVALID"),
      );
    });

    it("refuses HS256 keyed with the sender's public key", async () => {
      const input = `${b64json({ alg: "HS256", typ: MESSAGE_TYP, x5c: x5cOf(es.sign) })}.${b64json(message)}`;
      for (const secret of [
        es.sign.publicKeyPem,
        es.sign.certificate.publicKey.export({ type: "spki", format: "der" }),
        es.sign.certPem,
      ]) {
        const mac = createHmac("sha256", secret).update(input).digest("base64url");
        const env = await encryptTo(`${input}.${mac}`, co.enc.certificate);
        await assert.rejects(coOpen(env), refusedWith("ENVELOPE_HEADER_INVALID"));
      }
    });

    it("refuses an unknown crit, a wrong typ and header-carried keys", async () => {
      const headers: Record<string, unknown>[] = [
        { alg: "PS256", typ: MESSAGE_TYP, x5c: x5cOf(es.sign), crit: ["exp"], exp: 1 },
        { alg: "PS256", typ: "mlax-receipt+jws", x5c: x5cOf(es.sign) },
        { alg: "PS256", typ: "JWT", x5c: x5cOf(es.sign) },
        { alg: "PS256", x5c: x5cOf(es.sign) },
        { alg: "PS256", typ: MESSAGE_TYP, x5c: x5cOf(es.sign), jwk: { kty: "RSA" } },
        { alg: "PS256", typ: MESSAGE_TYP, x5c: x5cOf(es.sign), b64: false, crit: ["b64"] },
        { alg: "RS256", typ: MESSAGE_TYP, x5c: x5cOf(es.sign) },
      ];
      for (const h of headers) {
        const env = await encryptTo(psSigned(h, message, es.sign), co.enc.certificate);
        await assert.rejects(
          coOpen(env),
          refusedWith("ENVELOPE_HEADER_INVALID"),
          JSON.stringify(h),
        );
      }
      // Control: the same hand-made signature with the proper header opens.
      const ok = psSigned(
        { alg: "PS256", typ: MESSAGE_TYP, x5c: x5cOf(es.sign) },
        message,
        es.sign,
      );
      assert.equal((await coOpen(await encryptTo(ok, co.enc.certificate))).message.id, message.id);
    });

    it("refuses a flipped signature and a signature by another key under a pinned x5c", async () => {
      const parts = validJws.split(".");
      const sig = Buffer.from(parts[2]!, "base64url");
      sig[10] = (sig[10] ?? 0) ^ 0x80;
      const flipped = `${parts[0]}.${parts[1]}.${sig.toString("base64url")}`;
      await assert.rejects(
        coOpen(await encryptTo(flipped, co.enc.certificate)),
        refusedWith("ENVELOPE_SIGNATURE_INVALID"),
      );
      const tampered = `${parts[0]}.${b64json({ ...message, body: { x: 1 } })}.${parts[2]}`;
      await assert.rejects(
        coOpen(await encryptTo(tampered, co.enc.certificate)),
        refusedWith("ENVELOPE_SIGNATURE_INVALID"),
      );
      // x5c names ES-MJ's pinned certificate, but IT-MG's key signed.
      const forged = psSigned(
        { alg: "PS256", typ: MESSAGE_TYP, x5c: x5cOf(es.sign) },
        message,
        it_.sign,
      );
      await assert.rejects(
        coOpen(await encryptTo(forged, co.enc.certificate)),
        refusedWith("ENVELOPE_SIGNATURE_INVALID"),
      );
    });
  });

  describe("signer (resolved through the trust view)", () => {
    it("refuses a message signed with the sender's enc or tls key", async () => {
      for (const key of [es.enc, es.tls]) {
        await assert.rejects(
          coOpen(await signedToCo(message, key)),
          refusedWith("SIGNER_KEY_ROLE"),
        );
      }
    });

    it("refuses a signer absent from the trust view", async () => {
      const unpinned = pki.issue("ES-MJ", "sign");
      await assert.rejects(
        coOpen(await signedToCo(message, unpinned)),
        refusedWith("SIGNER_UNKNOWN"),
      );
    });

    it("refuses a certificate from another CA (unknown, or untrusted when pinned)", async () => {
      const other = makeTestPki({ ids: ["ES-MJ"], caName: "rogue CA" });
      const rogue = other.authorities["ES-MJ"]!.sign;
      const env = await signedToCo(message, rogue);
      await assert.rejects(coOpen(env), refusedWith("SIGNER_UNKNOWN"));
      await assert.rejects(
        coOpen(env, { trust: pinnedTrust(pki, { extra: [rogue] }) }),
        refusedWith("CERT_UNTRUSTED"),
      );
    });

    it("refuses an expired and a not-yet-valid signer certificate", async () => {
      // Certificates are valid from FIXED_NOW - 5 min for 365 days.
      const late = new Date(FIXED_NOW.getTime() + 400 * DAY);
      const lateEnv = (
        await seal({ message: messageAt(late), signer: es.sign, recipient: pin(co.enc) })
      ).envelope;
      await assert.rejects(coOpen(lateEnv, { now: late }), refusedWith("CERT_EXPIRED"));
      const early = new Date(FIXED_NOW.getTime() - DAY);
      const earlyEnv = (
        await seal({ message: messageAt(early), signer: es.sign, recipient: pin(co.enc) })
      ).envelope;
      await assert.rejects(coOpen(earlyEnv, { now: early }), refusedWith("CERT_NOT_YET_VALID"));
    });

    it("refuses a certificate valid now but not at the message createdAt", async () => {
      const before = messageAt(new Date(FIXED_NOW.getTime() - 60 * MINUTE));
      const env = (await seal({ message: before, signer: es.sign, recipient: pin(co.enc) }))
        .envelope;
      await assert.rejects(coOpen(env), refusedWith("CERT_NOT_YET_VALID"));
    });

    it("refuses a revoked signer certificate", async () => {
      const revoked = pinnedTrust(pki, { revokedSerials: new Set([es.sign.serial]) });
      await assert.rejects(coOpen(valid, { trust: revoked }), refusedWith("CERT_REVOKED"));
    });

    it("refuses `from` other than the signer's authority (not authentic)", async () => {
      const lying = { ...message, from: "IT-MG" };
      await assert.rejects(
        coOpen(await signedToCo(lying, es.sign)),
        refusedWith("SIGNER_MISMATCH"),
      );
      // Even when the rest of the payload is invalid.
      await assert.rejects(
        coOpen(await signedToCo({ from: "IT-MG" }, es.sign)),
        refusedWith("SIGNER_MISMATCH"),
      );
    });
  });

  describe("authentic but refused (MessageRefusedError, for a rejected receipt)", () => {
    it("refuses a message signed for someone else but encrypted to me", async () => {
      const toIt = await seal({
        message: { ...message, to: "IT-MG" },
        signer: es.sign,
        recipient: pin(it_.enc),
      });
      const env = await encryptTo(toIt.jws, co.enc.certificate);
      await assert.rejects(coOpen(env), (e: unknown) => {
        refusedWith("MESSAGE_WRONG_RECIPIENT", true)(e);
        const r = refusedMessageOf(e)!;
        assert.deepEqual(r.message, { id: message.id, from: "ES-MJ", to: "IT-MG" });
        assert.equal(r.jws, toIt.jws);
        assert.equal(r.messageSha256, toIt.messageSha256);
        assert.equal(r.signer.authorityId, "ES-MJ");
        return true;
      });
    });

    it("refuses surreptitious forwarding: B re-encrypts A's message to C", async () => {
      const opened = await coOpen(valid);
      const forwarded = await encryptTo(opened.jws, it_.enc.certificate);
      const itOptions = { self: { authorityId: "IT-MG", enc: it_.enc }, trust, now: FIXED_NOW };
      let refusal: unknown;
      await assert.rejects(open(forwarded, itOptions), (e: unknown) => {
        refusal = e;
        return refusedWith("MESSAGE_WRONG_RECIPIENT", true)(e);
      });
      const r = refusedMessageOf(refusal)!;
      assert.equal(r.signer.authorityId, "ES-MJ");
      assert.equal(r.message.to, "CO-FGN");
      // IT-MG answers with a rejected receipt in its own name, to the original sender.
      const token = await createReceipt({
        message: r.message,
        messageSha256: r.messageSha256,
        envelopeSha256: r.envelopeSha256,
        status: "rejected",
        reason: "MESSAGE_WRONG_RECIPIENT",
        receivedAt: FIXED_NOW,
        signer: it_.sign,
      });
      const { receipt } = await verifyReceipt(token, {
        trust,
        expect: { from: "IT-MG", to: "ES-MJ", messageId: message.id },
      });
      assert.equal(receipt.status, "rejected");
      assert.equal(receipt.reason, "MESSAGE_WRONG_RECIPIENT");
    });

    it("refuses a message past its expiresAt", async () => {
      const short = newMessage({
        type: "request",
        from: "ES-MJ",
        to: "CO-FGN",
        body: {},
        now: FIXED_NOW,
        ttlMs: 60 * MINUTE,
      });
      const env = (await seal({ message: short, signer: es.sign, recipient: pin(co.enc) }))
        .envelope;
      await coOpen(env, { now: new Date(FIXED_NOW.getTime() + 60 * MINUTE) });
      await assert.rejects(
        coOpen(env, { now: new Date(FIXED_NOW.getTime() + 60 * MINUTE + 1) }),
        refusedWith("MESSAGE_EXPIRED", true),
      );
    });

    it("refuses a createdAt beyond the clock skew", async () => {
      const future = messageAt(new Date(FIXED_NOW.getTime() + LIMITS.clockSkewMs + 1000));
      const env = (await seal({ message: future, signer: es.sign, recipient: pin(co.enc) }))
        .envelope;
      await assert.rejects(coOpen(env), refusedWith("MESSAGE_FROM_FUTURE", true));
    });

    it("refuses expiresAt not after createdAt", async () => {
      const env = await signedToCo({ ...message, expiresAt: message.createdAt }, es.sign);
      await assert.rejects(coOpen(env), refusedWith("MESSAGE_INVALID", true));
    });

    it("refuses a malformed message: refused when id/from/to are readable, else not", async () => {
      const { body: _body, ...noBody } = message;
      for (const payload of [
        noBody,
        { ...message, extra: true },
        { ...message, v: 2 },
        { ...message, type: "gossip" },
      ]) {
        await assert.rejects(coOpen(await signedToCo(payload, es.sign)), (e: unknown) => {
          refusedWith("MESSAGE_INVALID", true)(e);
          assert.deepEqual(refusedMessageOf(e)?.message, {
            id: message.id,
            from: "ES-MJ",
            to: "CO-FGN",
          });
          assert.equal(refusedMessageOf(e)?.parsed, undefined);
          return true;
        });
      }
      for (const payload of [
        [],
        "text",
        1,
        { ...message, id: "nope" },
        { ...message, from: undefined },
      ]) {
        await assert.rejects(
          coOpen(await signedToCo(payload, es.sign)),
          refusedWith("MESSAGE_INVALID", false),
        );
      }
    });
  });

  it("throws only MlaxErrors, never INTERNAL, for hundreds of random mutations", async () => {
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ";
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const started = Date.now();
    for (let i = 0; i < 300; i++) {
      let token = valid;
      const kind = rand(3);
      const at = rand(token.length);
      if (kind === 0)
        token = token.slice(0, at) + alphabet[rand(alphabet.length)] + token.slice(at + 1);
      else if (kind === 1) token = token.slice(0, at);
      else token = token.slice(0, at) + token.slice(at + 1 + rand(8));
      if (token === valid) continue;
      await assert.rejects(coOpen(token), (e: unknown) => {
        assert.ok(e instanceof MlaxError, String(e));
        assert.notEqual(e.code, "INTERNAL", e.message);
        return true;
      });
    }
    assert.ok(Date.now() - started < 15_000, "bounded work");
  });
});
