/**
 * Benchmarks 1–3: seal, open and receipts against the bare node:crypto primitives each must do.
 * The baselines work on the raw bytes (the message JSON, the receipt JSON), so everything mlax
 * adds — JSON and schema work, base64url, the x5c chain, the JOSE headers and part checks, jose's
 * WebCrypto path, certificate and trust resolution — shows up in the ratio.
 */
import {
  createCipheriv,
  createDecipheriv,
  constants as cryptoConstants,
  type KeyObject,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  sign,
  verify,
} from "node:crypto";
import { type OpenOptions, open } from "../../src/envelope/open.ts";
import { createReceipt, verifyReceipt } from "../../src/envelope/receipt.ts";
import { type SealInput, seal } from "../../src/envelope/seal.ts";
import { type BenchFixture, RECEIVER } from "./fixture.ts";
import type { Operation } from "./harness.ts";

/** A subject and its baseline, ready to be measured. */
export interface BenchCase {
  readonly name: string;
  readonly subjectLabel: string;
  readonly baselineLabel: string;
  readonly subject: Operation;
  readonly baseline: Operation;
}

/** RS-PSS as PS256 does it (RFC 7518 §3.5: SHA-256, MGF1-SHA-256, 32-byte salt). */
const pss = (key: KeyObject) => ({
  key,
  padding: cryptoConstants.RSA_PKCS1_PSS_PADDING,
  saltLength: 32,
});
/** RSA-OAEP-256 (RFC 7518 §4.3: SHA-256 and MGF1-SHA-256). */
const oaep = (key: KeyObject) => ({
  key,
  padding: cryptoConstants.RSA_PKCS1_OAEP_PADDING,
  oaepHash: "sha256",
});

interface BareSealed {
  readonly signature: Buffer;
  readonly encryptedKey: Buffer;
  readonly iv: Buffer;
  readonly ciphertext: Buffer;
  readonly tag: Buffer;
}

/** The bare primitives of sealing: PSS sign, OAEP-wrap a fresh 32-byte key, AES-256-GCM. */
function bareSeal(payload: Buffer, signKey: KeyObject, encKey: KeyObject): BareSealed {
  const signature = sign("sha256", payload, pss(signKey));
  const cek = randomBytes(32);
  const iv = randomBytes(12);
  const encryptedKey = publicEncrypt(oaep(encKey), cek);
  const cipher = createCipheriv("aes-256-gcm", cek, iv);
  const ciphertext = Buffer.concat([cipher.update(payload), cipher.final()]);
  return { signature, encryptedKey, iv, ciphertext, tag: cipher.getAuthTag() };
}

/** The bare primitives of opening: OAEP-unwrap, AES-256-GCM decrypt, PSS verify. */
function bareOpen(sealed: BareSealed, decKey: KeyObject, verifyKey: KeyObject): Buffer {
  const cek = privateDecrypt(oaep(decKey), sealed.encryptedKey);
  const decipher = createDecipheriv("aes-256-gcm", cek, sealed.iv);
  decipher.setAuthTag(sealed.tag);
  const payload = Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]);
  if (!verify("sha256", payload, pss(verifyKey), sealed.signature)) {
    throw new Error("bench: the bare signature does not verify");
  }
  return payload;
}

export interface EnvelopeCases {
  readonly seal: BenchCase;
  readonly open: BenchCase;
  readonly receipt: BenchCase;
  /** A sealed envelope of the fixture's message (for the compact-check benchmark). */
  readonly envelope: string;
}

export async function makeEnvelopeCases(f: BenchFixture): Promise<EnvelopeCases> {
  const chain = [f.pki.ca.certificate];
  const sealInput: SealInput = {
    message: f.message,
    signer: f.senderSign,
    chain,
    recipient: f.recipient,
  };
  const sealed = await seal(sealInput);
  const openOptions: OpenOptions = {
    self: { authorityId: RECEIVER, enc: f.receiverEnc },
    trust: f.trust,
    now: f.now,
  };
  // Fail fast if the fixture does not open: a benchmark of a failing path would mean nothing.
  const opened = await open(sealed.envelope, openOptions);

  const messageBytes = Buffer.from(JSON.stringify(f.message), "utf8");
  const signKey = f.senderSign.privateKey;
  const signPub = f.senderSign.certificate.publicKey;
  const encPub = f.recipient.certificate.publicKey;
  const decKey = f.receiverEnc.privateKey;
  const bare = bareSeal(messageBytes, signKey, encPub);

  const receiptInput = {
    message: { id: opened.message.id, from: opened.message.from, to: opened.message.to },
    messageSha256: opened.messageSha256,
    envelopeSha256: opened.envelopeSha256,
    status: "accepted" as const,
    receivedAt: f.now,
    signer: f.receiverSign,
    chain,
  };
  const receiptToken = await createReceipt(receiptInput);
  const receiptPayload = Buffer.from(receiptToken.split(".")[1] ?? "", "base64url");
  const receiptKey = f.receiverSign.privateKey;
  const receiptPub = f.receiverSign.certificate.publicKey;

  return {
    envelope: sealed.envelope,
    seal: {
      name: "seal",
      subjectLabel: "seal(): schema, PS256 JWS with x5c, RSA-OAEP-256/A256GCM JWE",
      baselineLabel: "node:crypto PSS sign + OAEP wrap of a 32-byte key + AES-256-GCM",
      subject: () => seal(sealInput),
      baseline: () => bareSeal(messageBytes, signKey, encPub),
    },
    open: {
      name: "open",
      subjectLabel: "open(): part checks, decrypt, verify, schema, trust resolution",
      baselineLabel: "node:crypto OAEP unwrap + AES-256-GCM decrypt + PSS verify",
      subject: () => open(sealed.envelope, openOptions),
      baseline: () => bareOpen(bare, decKey, signPub),
    },
    receipt: {
      name: "receipt",
      subjectLabel: "createReceipt() + verifyReceipt() with expectations",
      baselineLabel: "node:crypto PSS sign + PSS verify of the receipt JSON",
      subject: async () => {
        const token = await createReceipt(receiptInput);
        await verifyReceipt(token, {
          trust: f.trust,
          expect: { messageSha256: opened.messageSha256, envelopeSha256: opened.envelopeSha256 },
        });
      },
      baseline: () => {
        const signature = sign("sha256", receiptPayload, pss(receiptKey));
        if (!verify("sha256", receiptPayload, pss(receiptPub), signature)) {
          throw new Error("bench: the bare receipt signature does not verify");
        }
      },
    },
  };
}
