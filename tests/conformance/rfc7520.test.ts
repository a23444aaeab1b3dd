/**
 * RFC 7520 §6 "Nesting Signatures and Encryption" (ietf-jose/cookbook, ../shared/vectors/rfc7520):
 * a JWS nested in a JWE, the shape of an mlax envelope. jose opens it with allow-lists for the
 * example's own algorithms; our part checks accept its canonical compact forms; and our profile
 * refuses it, because the example uses RSA-OAEP (SHA-1) with A128GCM, `cty: "JWT"` and no `x5c`,
 * where mlax requires RSA-OAEP-256 with A256GCM, its own `typ` values and the signer certificate.
 */
import assert from "node:assert/strict";
import { createDecipheriv, createPrivateKey, privateDecrypt, constants as rsa } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { compactDecrypt, compactVerify, type JWK, errors as joseErrors } from "jose";
import { decodeHeader, splitCompact } from "../../src/envelope/compact.ts";
import {
  checkEnvelopeParts,
  JWE_CONTENT_ALGORITHM,
  JWE_KEY_ALGORITHM,
  MESSAGE_TYP,
} from "../../src/envelope/jwe-header.ts";
import { JWS_ALGORITHM, parseJwsHeader } from "../../src/envelope/jws.ts";
import { LIMITS } from "../../src/envelope/limits.ts";
import { isMlaxError } from "../../src/errors.ts";

interface Example {
  sign: {
    input: { payload: string; key: JWK; alg: string };
    signing: { protected: Record<string, unknown> };
    output: { compact: string };
  };
  encrypt: {
    input: { plaintext: string; key: JWK; alg: string; enc: string };
    generated: { cek: string; iv: string };
    encrypting_key: { encrypted_key: string };
    encrypting_content: {
      protected: Record<string, unknown>;
      protected_b64u: string;
      ciphertext: string;
      tag: string;
    };
    output: { compact: string; json: unknown; json_flat: unknown };
  };
}

const example: Example = JSON.parse(
  readFileSync("../shared/vectors/rfc7520/6.nesting_signatures_and_encryption.json", "utf8"),
);
const jwe = example.encrypt.output.compact;
const jws = example.sign.output.compact;
const { d, p, q, dp, dq, qi, ...signPublic } = example.sign.input.key;

function hasCode(code: string) {
  return (error: unknown) => isMlaxError(error) && error.code === code;
}

describe("RFC 7520 §6: a JWS nested in a JWE", () => {
  it("our part checks accept both compact forms (they are canonical base64url)", () => {
    const outer = splitCompact(jwe, { parts: 5, maxChars: LIMITS.maxEnvelopeChars });
    assert.equal(outer.join("."), jwe);
    assert.deepEqual(decodeHeader(outer[0]!), example.encrypt.encrypting_content.protected);
    const inner = splitCompact(jws, { parts: 3, maxChars: LIMITS.maxJwsChars });
    assert.equal(inner.join("."), jws);
    assert.deepEqual(decodeHeader(inner[0]!), example.sign.signing.protected);
  });

  it("our part checks refuse the JSON serializations (mlax accepts compact only)", () => {
    for (const form of [example.encrypt.output.json, example.encrypt.output.json_flat]) {
      assert.throws(
        () => splitCompact(JSON.stringify(form), { parts: 5, maxChars: LIMITS.maxEnvelopeChars }),
        hasCode("ENVELOPE_MALFORMED"),
      );
    }
  });

  it("jose decrypts the JWE and verifies the inner JWS, with the example's allow-lists", async () => {
    const { alg, enc } = example.encrypt.input;
    assert.deepEqual([alg, enc], ["RSA-OAEP", "A128GCM"]);
    const opened = await compactDecrypt(jwe, example.encrypt.input.key, {
      keyManagementAlgorithms: [alg],
      contentEncryptionAlgorithms: [enc],
    });
    assert.deepEqual(opened.protectedHeader, { alg: "RSA-OAEP", cty: "JWT", enc: "A128GCM" });
    const innerJws = new TextDecoder().decode(opened.plaintext);
    assert.equal(innerJws, jws);
    assert.equal(example.sign.input.alg, JWS_ALGORITHM, "the inner JWS is PS256, as in mlax");
    const verified = await compactVerify(innerJws, signPublic, { algorithms: [JWS_ALGORITHM] });
    assert.equal(new TextDecoder().decode(verified.payload), example.sign.input.payload);
    assert.deepEqual(JSON.parse(new TextDecoder().decode(verified.payload)), {
      iss: "hobbiton.example",
      exp: 1300819380,
      "http://example.com/is_root": true,
    });
  });

  it("node:crypto reproduces the example's content encryption step by step (RFC 7516 §5.2)", () => {
    const c = example.encrypt.encrypting_content;
    const [header, encryptedKey, iv, ciphertext, tag] = jwe.split(".");
    assert.deepEqual(
      [header, encryptedKey, iv, ciphertext, tag],
      [
        c.protected_b64u,
        example.encrypt.encrypting_key.encrypted_key,
        example.encrypt.generated.iv,
        c.ciphertext,
        c.tag,
      ],
    );
    // RSA-OAEP (SHA-1, RFC 7518 §4.3) unwraps the CEK the example generated.
    const cek = privateDecrypt(
      {
        key: createPrivateKey({ key: example.encrypt.input.key, format: "jwk" }),
        padding: rsa.RSA_PKCS1_OAEP_PADDING,
        oaepHash: "sha1",
      },
      Buffer.from(encryptedKey!, "base64url"),
    );
    assert.equal(cek.toString("base64url"), example.encrypt.generated.cek);
    // AES-128-GCM with AAD = ASCII(BASE64URL(protected header)) (RFC 7516 §5.2 step 14).
    const decipher = createDecipheriv("aes-128-gcm", cek, Buffer.from(iv!, "base64url"));
    decipher.setAAD(Buffer.from(header!, "ascii"));
    decipher.setAuthTag(Buffer.from(tag!, "base64url"));
    const plaintext = Buffer.concat([
      decipher.update(Buffer.from(ciphertext!, "base64url")),
      decipher.final(),
    ]);
    assert.equal(plaintext.toString("utf8"), jws);
  });

  it("the mlax profile refuses the example's headers, while jose (above) opens it", async () => {
    // Outer: alg RSA-OAEP (not RSA-OAEP-256), enc A128GCM (not A256GCM), a cty, no typ/x5t#S256.
    const recipient = { thumbprint: "A".repeat(43), modulusBytes: 256 };
    assert.throws(
      () => checkEnvelopeParts(jwe.split("."), recipient),
      hasCode("ENVELOPE_HEADER_INVALID"),
    );
    // jose itself, given mlax's allow-lists, refuses the example's algorithms.
    await assert.rejects(
      compactDecrypt(jwe, example.encrypt.input.key, {
        keyManagementAlgorithms: [JWE_KEY_ALGORITHM],
        contentEncryptionAlgorithms: [JWE_CONTENT_ALGORITHM],
      }),
      joseErrors.JOSEAlgNotAllowed,
    );
    // Inner: PS256 as in mlax, but typ "JWT" (not mlax-message+jws) and no x5c.
    assert.throws(() => parseJwsHeader(jws, MESSAGE_TYP), hasCode("ENVELOPE_HEADER_INVALID"));
  });

  it("a flipped bit in any part of the JWE makes jose refuse it", async () => {
    const parts = jwe.split(".");
    for (const i of [1, 2, 3, 4]) {
      const bytes = Buffer.from(parts[i]!, "base64url");
      bytes[0] = bytes[0]! ^ 0x01;
      const tampered = parts.map((part, j) => (j === i ? bytes.toString("base64url") : part));
      await assert.rejects(
        compactDecrypt(tampered.join("."), example.encrypt.input.key, {
          keyManagementAlgorithms: ["RSA-OAEP"],
          contentEncryptionAlgorithms: ["A128GCM"],
        }),
        (e: unknown) => e instanceof joseErrors.JOSEError,
        `part ${i}`,
      );
    }
  });
});
