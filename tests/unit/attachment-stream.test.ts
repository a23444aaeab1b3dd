import assert from "node:assert/strict";
import { createCipheriv, createHash, hkdfSync, randomBytes } from "node:crypto";
import { Readable, type Transform, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describe, it } from "node:test";
import {
  ATTACHMENT_CIPHER_RECORD_SIZE,
  ATTACHMENT_RECORD_SIZE,
  createDecryptStream,
  createDigestStream,
  createEncryptStream,
  decryptBuffer,
  digestPlaintext,
  encryptBuffer,
  generateAttachmentKey,
} from "../../src/envelope/attachment-stream.ts";
import { isMlaxError } from "../../src/errors.ts";

const R = ATTACHMENT_RECORD_SIZE;
const C = ATTACHMENT_CIPHER_RECORD_SIZE;

/** Pipes `input` through `transform` in chunks of `chunkSize` bytes and collects the output. */
async function through(transform: Transform, input: Buffer, chunkSize = 10_000): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for (let i = 0; i < input.length; i += chunkSize) chunks.push(input.subarray(i, i + chunkSize));
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks), transform, async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) out.push(chunk);
  });
  return Buffer.concat(out);
}

function isAttachmentInvalid(e: unknown): boolean {
  return isMlaxError(e) && e.code === "MESSAGE_ATTACHMENT_INVALID";
}

/** Both decryptors (in-memory and streaming, with awkward chunk sizes) must refuse `ciphertext`. */
async function assertRefused(key: string, index: number, ciphertext: Buffer): Promise<void> {
  assert.throws(() => decryptBuffer(key, index, ciphertext), isAttachmentInvalid);
  for (const chunkSize of [1_000, C, C + 1]) {
    await assert.rejects(
      through(createDecryptStream(key, index), ciphertext, chunkSize),
      isAttachmentInvalid,
    );
  }
}

function records(ciphertext: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < ciphertext.length; i += C) out.push(ciphertext.subarray(i, i + C));
  return out;
}

function flip(buffer: Buffer, at: number): Buffer {
  const copy = Buffer.from(buffer);
  copy[at] = copy[at]! ^ 0x01;
  return copy;
}

describe("attachment stream cipher", () => {
  const key = generateAttachmentKey();

  it("generates 32-byte keys as canonical base64url", () => {
    assert.match(key, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(Buffer.from(key, "base64url").length, 32);
    assert.notEqual(generateAttachmentKey(), key);
  });

  it("round-trips sizes 0, 1, 65535, 65536, 65537, 3×65536 and ~5 MiB, streaming and in memory", async () => {
    for (const size of [0, 1, R - 1, R, R + 1, 3 * R, 5 * 1024 * 1024 + 12_345]) {
      const plaintext = randomBytes(size);
      const expectedRecords = Math.max(1, Math.ceil(size / R));
      const fromBuffer = encryptBuffer(key, 3, plaintext);
      assert.equal(fromBuffer.length, size + 16 * expectedRecords, `size ${size}`);
      // The stream and the in-memory helper write the same bytes, whatever the chunking.
      const fromStream = await through(createEncryptStream(key, 3), plaintext, 7_777);
      assert.ok(fromStream.equals(fromBuffer), `stream == buffer for size ${size}`);
      assert.ok(decryptBuffer(key, 3, fromBuffer).equals(plaintext), `buffer size ${size}`);
      const streamed = await through(createDecryptStream(key, 3), fromBuffer, 9_999);
      assert.ok(streamed.equals(plaintext), `stream size ${size}`);
    }
  });

  it("an empty plaintext is still one final record (a tag)", () => {
    const ct = encryptBuffer(key, 0, Buffer.alloc(0));
    assert.equal(ct.length, 16);
    assert.equal(decryptBuffer(key, 0, ct).length, 0);
  });

  it("writes exactly the documented format (independent re-implementation)", () => {
    const k = Buffer.alloc(32, 7);
    const index = 2;
    const info = Buffer.concat([Buffer.from("mlax attachment v1"), Buffer.from([0, 0, 0, 2])]);
    const okm = Buffer.from(hkdfSync("sha256", k, Buffer.alloc(0), info, 39));
    const plaintext = Buffer.alloc(R + 5, 0x61);
    const expected = [0, 1].map((j) => {
      const last = j === 1;
      const nonce = Buffer.concat([
        okm.subarray(32, 39),
        Buffer.from([0, 0, 0, j]),
        Buffer.from([last ? 1 : 0]),
      ]);
      const cipher = createCipheriv("aes-256-gcm", okm.subarray(0, 32), nonce);
      const part = last ? plaintext.subarray(R) : plaintext.subarray(0, R);
      return Buffer.concat([cipher.update(part), cipher.final(), cipher.getAuthTag()]);
    });
    assert.ok(encryptBuffer(k, index, plaintext).equals(Buffer.concat(expected)));
    assert.ok(
      encryptBuffer(k.toString("base64url"), index, plaintext).equals(Buffer.concat(expected)),
    );
  });

  it("never reuses a nonce across attachments under one key", () => {
    const plaintext = Buffer.alloc(100, 1);
    const a = encryptBuffer(key, 0, plaintext);
    const b = encryptBuffer(key, 1, plaintext);
    assert.notDeepEqual(a.subarray(0, 16), b.subarray(0, 16));
  });

  describe("refuses tampering with MESSAGE_ATTACHMENT_INVALID", () => {
    // 4 records: 3 full ones and a final one of 100 bytes.
    const plaintext = randomBytes(3 * R + 100);
    const ct = encryptBuffer(key, 0, plaintext);
    const [r0, r1, r2, r3] = records(ct) as [Buffer, Buffer, Buffer, Buffer];
    // 2 full records, the second final: the boundary case of truncation.
    const even = encryptBuffer(key, 0, randomBytes(2 * R));

    it("sanity: the untouched ciphertext opens", async () => {
      assert.equal(records(ct).length, 4);
      assert.ok(decryptBuffer(key, 0, ct).equals(plaintext));
      assert.ok((await through(createDecryptStream(key, 0), ct, 1_000)).equals(plaintext));
    });

    it("an empty stream, or one shorter than a tag", async () => {
      await assertRefused(key, 0, Buffer.alloc(0));
      await assertRefused(key, 0, ct.subarray(0, 15));
    });

    it("truncation: the final record missing", async () => {
      await assertRefused(key, 0, Buffer.concat([r0, r1, r2]));
      await assertRefused(key, 0, even.subarray(0, C));
      await assertRefused(key, 0, r0);
    });

    it("truncation inside a record", async () => {
      await assertRefused(key, 0, ct.subarray(0, ct.length - 1));
      await assertRefused(key, 0, ct.subarray(0, 2 * C + 1000));
    });

    it("data after the final record", async () => {
      await assertRefused(key, 0, Buffer.concat([ct, Buffer.from([0])]));
      await assertRefused(key, 0, Buffer.concat([ct, r3]));
      await assertRefused(key, 0, Buffer.concat([ct, ct]));
      await assertRefused(key, 0, Buffer.concat([even, even.subarray(0, 16)]));
    });

    it("reordered or duplicated records", async () => {
      await assertRefused(key, 0, Buffer.concat([r1, r0, r2, r3]));
      await assertRefused(key, 0, Buffer.concat([r0, r2, r1, r3]));
      await assertRefused(key, 0, Buffer.concat([r0, r0, r1, r2, r3]));
      await assertRefused(key, 0, Buffer.concat([r0, r1, r3]));
    });

    it("splicing between attachments and messages", async () => {
      // The same ciphertext presented as another attachment of the message.
      await assertRefused(key, 1, ct);
      // A record of attachment 1 (same message key, same position) spliced into attachment 0.
      const other = records(encryptBuffer(key, 1, randomBytes(3 * R + 100)));
      await assertRefused(key, 0, Buffer.concat([r0, other[1]!, r2, r3]));
      // The same attachment under another message's key.
      await assertRefused(generateAttachmentKey(), 0, ct);
    });

    it("a flipped bit anywhere", async () => {
      for (const at of [0, C - 1, C + 5_000, 3 * C, ct.length - 1]) {
        await assertRefused(key, 0, flip(ct, at));
      }
    });

    it("a wrongly formed key or index", () => {
      assert.throws(() => decryptBuffer(`${key.slice(0, 42)}B`, 0, ct), isAttachmentInvalid);
      assert.throws(() => decryptBuffer(Buffer.alloc(16), 0, ct), isAttachmentInvalid);
      assert.throws(() => createDecryptStream(key, -1), isAttachmentInvalid);
      assert.throws(() => createEncryptStream(key, 1.5), isAttachmentInvalid);
    });
  });

  describe("checks the signed manifest entry while decrypting", () => {
    const plaintext = randomBytes(2 * R + 3);
    const ct = encryptBuffer(key, 0, plaintext);
    const sha256 = createHash("sha256").update(plaintext).digest("hex");

    it("accepts the right size and digest", async () => {
      const out = await through(
        createDecryptStream(key, 0, { expect: { size: plaintext.length, sha256 } }),
        ct,
      );
      assert.ok(out.equals(plaintext));
    });

    it("refuses a wrong size or digest", async () => {
      for (const expect of [
        { size: plaintext.length - 1, sha256 },
        { size: plaintext.length + 1, sha256 },
        { size: plaintext.length, sha256: "0".repeat(64) },
      ]) {
        await assert.rejects(
          through(createDecryptStream(key, 0, { expect }), ct),
          isAttachmentInvalid,
        );
      }
    });

    it("stops as soon as the plaintext outgrows the signed size", async () => {
      const stream = createDecryptStream(key, 0, { expect: { size: 10, sha256 } });
      let passed = 0;
      await assert.rejects(
        pipeline(Readable.from([ct]), stream, async (source: AsyncIterable<Buffer>) => {
          for await (const chunk of source) passed += chunk.length;
        }),
        isAttachmentInvalid,
      );
      assert.equal(passed, 0);
    });
  });

  it("digests plaintext while streaming", async () => {
    const plaintext = randomBytes(R + 17);
    const digest = createDigestStream();
    const out = await through(digest, plaintext, 4_096);
    assert.ok(out.equals(plaintext));
    const expected = {
      sha256: createHash("sha256").update(plaintext).digest("hex"),
      size: plaintext.length,
    };
    assert.deepEqual(digest.result(), expected);
    assert.deepEqual(
      await digestPlaintext(Readable.from([plaintext.subarray(0, 5), plaintext.subarray(5)])),
      expected,
    );
    assert.throws(
      () => createDigestStream().result(),
      (e: unknown) => isMlaxError(e),
    );
  });

  it("streams 200 MiB through encrypt → decrypt in flat memory", async (t) => {
    const total = 200 * 1024 * 1024;
    const chunk = 50_000; // not a record multiple: exercises re-chunking on both sides
    let produced = 0;
    let counter = 0;
    const source = new Readable({
      read() {
        if (produced >= total) {
          this.push(null);
          return;
        }
        const n = Math.min(chunk, total - produced);
        const bytes = Buffer.allocUnsafe(n).fill(counter++ & 0xff);
        produced += n;
        this.push(bytes);
      },
    });
    const before = createDigestStream();
    const after = createDigestStream();
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    let received = 0;
    const sink = new Writable({
      write(data: Buffer, _encoding, callback) {
        received += data.length;
        if ((received & 0xfffff) < data.length) peak = Math.max(peak, process.memoryUsage().rss);
        callback();
      },
    });
    await pipeline(
      source,
      before,
      createEncryptStream(key, 0),
      createDecryptStream(key, 0),
      after,
      sink,
    );
    peak = Math.max(peak, process.memoryUsage().rss);
    assert.equal(received, total);
    assert.deepEqual(after.result(), before.result());
    const growthMiB = (peak - baseline) / 1024 / 1024;
    t.diagnostic(`rss growth over 200 MiB: ${growthMiB.toFixed(1)} MiB`);
    assert.ok(growthMiB < 64, `rss grew by ${growthMiB.toFixed(1)} MiB`);
  });
});
