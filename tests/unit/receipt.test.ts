import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { sha256Hex } from "../../src/envelope/digest.ts";
import { MESSAGE_TYP } from "../../src/envelope/jwe-header.ts";
import { signJws } from "../../src/envelope/jws.ts";
import { LIMITS } from "../../src/envelope/limits.ts";
import { newMessage } from "../../src/envelope/new-message.ts";
import {
  type CreateReceiptInput,
  createReceipt,
  RECEIPT_TYP,
  receiptSchema,
  verifyReceipt,
} from "../../src/envelope/receipt.ts";
import type { LocalKey, TrustView } from "../../src/envelope/trust.ts";
import { MlaxError } from "../../src/errors.ts";
import {
  FIXED_NOW,
  makeTestPki,
  pinnedTrust,
  type TestAuthority,
  type TestPki,
} from "../helpers/pki-fixture.ts";

const DAY = 86_400_000;

function hasCode(code: string | readonly string[]) {
  const codes = typeof code === "string" ? [code] : code;
  return (e: unknown) => {
    assert.ok(e instanceof MlaxError, `expected an MlaxError, got ${String(e)}`);
    assert.ok(codes.includes(e.code), `${e.code} (${e.message}) not in ${codes.join(", ")}`);
    return true;
  };
}

const b64json = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

describe("receipts", () => {
  let pki: TestPki;
  let trust: TrustView;
  let es: TestAuthority;
  let co: TestAuthority;
  let base: CreateReceiptInput;
  let accepted: string;
  const message = newMessage({
    type: "request",
    from: "ES-MJ",
    to: "CO-FGN",
    body: {},
    now: FIXED_NOW,
  });
  const messageSha256 = sha256Hex("message");
  const envelopeSha256 = sha256Hex("envelope");
  /** Signs any payload as a receipt JWS. */
  const signReceipt = (payload: unknown, key: LocalKey, typ = RECEIPT_TYP) =>
    signJws(new TextEncoder().encode(JSON.stringify(payload)), { typ, key });
  const payloadOf = (token: string) =>
    JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString("utf8"));

  before(async () => {
    pki = makeTestPki({ ids: ["ES-MJ", "CO-FGN"] });
    trust = pinnedTrust(pki);
    es = pki.authorities["ES-MJ"]!;
    co = pki.authorities["CO-FGN"]!;
    base = {
      message,
      messageSha256,
      envelopeSha256,
      status: "accepted",
      receivedAt: FIXED_NOW,
      signer: co.sign,
      chain: [pki.ca.certificate],
    };
    accepted = await createReceipt(base);
  });

  it("writes the payload and header of the wire protocol", () => {
    const header = JSON.parse(Buffer.from(accepted.split(".")[0]!, "base64url").toString("utf8"));
    assert.equal(header.typ, "mlax-receipt+jws");
    assert.equal(header.alg, "PS256");
    assert.equal(header.x5c.length, 2);
    const payload = payloadOf(accepted);
    assert.deepEqual(Object.keys(payload), [
      "v",
      "type",
      "id",
      "messageId",
      "from",
      "to",
      "receivedAt",
      "status",
      "messageSha256",
      "envelopeSha256",
      "attachmentsSha256",
    ]);
    assert.equal(payload.from, "CO-FGN");
    assert.equal(payload.to, "ES-MJ");
    assert.equal(payload.messageId, message.id);
    assert.deepEqual(payload.attachmentsSha256, []);
    assert.equal(receiptSchema.safeParse(payload).success, true);
  });

  it("verifies an accepted receipt against every expectation", async () => {
    const { receipt, signer } = await verifyReceipt(accepted, {
      trust,
      at: [new Date(FIXED_NOW.getTime() + DAY)],
      expect: { messageId: message.id, messageSha256, envelopeSha256, from: "CO-FGN", to: "ES-MJ" },
    });
    assert.equal(receipt.status, "accepted");
    assert.equal(receipt.reason, undefined);
    assert.equal(signer.authorityId, "CO-FGN");
    assert.equal(signer.role, "sign");
  });

  it("round trips a rejected receipt with its reason, without throwing", async () => {
    const token = await createReceipt({ ...base, status: "rejected", reason: "MESSAGE_EXPIRED" });
    const { receipt } = await verifyReceipt(token, { trust, expect: { messageId: message.id } });
    assert.equal(receipt.status, "rejected");
    assert.equal(receipt.reason, "MESSAGE_EXPIRED");
  });

  it("refuses to create a receipt that does not match its schema", async () => {
    await assert.rejects(createReceipt({ ...base, status: "rejected" }), hasCode("INPUT_INVALID"));
    await assert.rejects(
      createReceipt({ ...base, reason: "MESSAGE_EXPIRED" }),
      hasCode("INPUT_INVALID"),
    );
    await assert.rejects(
      createReceipt({ ...base, messageSha256: "ABC" }),
      hasCode("INPUT_INVALID"),
    );
    await assert.rejects(
      createReceipt({ ...base, attachmentsSha256: ["x"] }),
      hasCode("INPUT_INVALID"),
    );
  });

  it("refuses a flipped byte in any part", async () => {
    const parts = accepted.split(".");
    for (let i = 0; i < 3; i++) {
      const bytes = Buffer.from(parts[i]!, "base64url");
      for (const at of [0, Math.floor(bytes.length / 2), bytes.length - 1]) {
        const copy = Buffer.from(bytes);
        copy[at] = (copy[at] ?? 0) ^ 0x04;
        const mutated = [...parts];
        mutated[i] = copy.toString("base64url");
        await assert.rejects(
          verifyReceipt(mutated.join("."), { trust }),
          hasCode(["RECEIPT_SIGNATURE_INVALID", "RECEIPT_MALFORMED", "SIGNER_UNKNOWN"]),
          `part ${i} byte ${at}`,
        );
      }
    }
    // A flipped signature byte is a bad signature, nothing else.
    const sig = Buffer.from(parts[2]!, "base64url");
    sig[5] = (sig[5] ?? 0) ^ 0x01;
    await assert.rejects(
      verifyReceipt(`${parts[0]}.${parts[1]}.${sig.toString("base64url")}`, { trust }),
      hasCode("RECEIPT_SIGNATURE_INVALID"),
    );
  });

  it("refuses malformed tokens and payloads as RECEIPT_MALFORMED", async () => {
    for (const token of [
      42,
      null,
      "a.b",
      `${accepted}.x`,
      `${accepted} `,
      "x".repeat(LIMITS.maxReceiptChars + 1),
    ]) {
      await assert.rejects(verifyReceipt(token, { trust }), hasCode("RECEIPT_MALFORMED"));
    }
    const good = payloadOf(accepted);
    for (const payload of [
      { ...good, status: "maybe" },
      { ...good, status: "rejected" },
      { ...good, extra: 1 },
      { ...good, receivedAt: "yesterday" },
      { ...good, type: "message" },
      [],
    ]) {
      await assert.rejects(
        verifyReceipt(await signReceipt(payload, co.sign), { trust }),
        hasCode("RECEIPT_MALFORMED"),
      );
    }
    // A message JWS is not a receipt.
    await assert.rejects(
      verifyReceipt(await signReceipt(good, co.sign, MESSAGE_TYP), { trust }),
      hasCode("RECEIPT_MALFORMED"),
    );
    const none = `${b64json({ alg: "none", typ: RECEIPT_TYP, x5c: [co.sign.certificate.raw.toString("base64")] })}.${b64json(good)}.`;
    await assert.rejects(verifyReceipt(none, { trust }), hasCode("RECEIPT_MALFORMED"));
  });

  it("refuses a receipt signed with the enc key", async () => {
    const token = await createReceipt({ ...base, signer: co.enc });
    await assert.rejects(verifyReceipt(token, { trust }), hasCode("SIGNER_KEY_ROLE"));
  });

  it("refuses a receipt whose from is not the signer's authority", async () => {
    const token = await signReceipt({ ...payloadOf(accepted), from: "ES-MJ" }, co.sign);
    await assert.rejects(verifyReceipt(token, { trust }), hasCode("SIGNER_MISMATCH"));
  });

  it("refuses every mismatched expectation", async () => {
    for (const expect of [
      {
        messageId: newMessage({
          type: "request",
          from: "ES-MJ",
          to: "CO-FGN",
          body: {},
          now: FIXED_NOW,
        }).id,
      },
      { messageSha256: sha256Hex("other") },
      { envelopeSha256: sha256Hex("other") },
      { from: "ES-MJ" },
      { to: "CO-FGN" },
    ]) {
      await assert.rejects(verifyReceipt(accepted, { trust, expect }), (e: unknown) => {
        hasCode("RECEIPT_MISMATCH")(e);
        assert.equal((e as MlaxError).details?.field, Object.keys(expect)[0]);
        return true;
      });
    }
  });

  it("checks the signer certificate at receivedAt and at each given instant", async () => {
    const late = await createReceipt({
      ...base,
      receivedAt: new Date(FIXED_NOW.getTime() + 400 * DAY),
    });
    await assert.rejects(verifyReceipt(late, { trust }), hasCode("CERT_EXPIRED"));
    await assert.rejects(
      verifyReceipt(accepted, { trust, at: [new Date(FIXED_NOW.getTime() + 400 * DAY)] }),
      hasCode("CERT_EXPIRED"),
    );
    const early = await createReceipt({ ...base, receivedAt: new Date(FIXED_NOW.getTime() - DAY) });
    await assert.rejects(verifyReceipt(early, { trust }), hasCode("CERT_NOT_YET_VALID"));
    const revoked = pinnedTrust(pki, { revokedSerials: new Set([co.sign.serial]) });
    await assert.rejects(verifyReceipt(accepted, { trust: revoked }), hasCode("CERT_REVOKED"));
  });

  it("refuses a receipt signed by a certificate outside the trust view", async () => {
    const token = await createReceipt({ ...base, signer: pki.issue("CO-FGN", "sign") });
    await assert.rejects(verifyReceipt(token, { trust }), hasCode("SIGNER_UNKNOWN"));
    // Sanity: the sender's own key is pinned, so its receipt verifies (role sign, from = ES-MJ).
    const own = await createReceipt({ ...base, signer: es.sign });
    assert.equal((await verifyReceipt(own, { trust })).receipt.from, "ES-MJ");
  });
});
