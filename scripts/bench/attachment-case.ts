/**
 * Benchmark 4: the STREAM attachment cipher (64 KiB AES-256-GCM records, HKDF subkeys) encrypting
 * then decrypting a buffer through node streams in 64 KiB chunks, as a file would arrive, against
 * one single-shot AES-256-GCM encryption and decryption of the same buffer held in memory. Also
 * the peak RSS growth of each: the stream should stay flat while single-shot holds the whole
 * ciphertext and plaintext.
 */
import { createCipheriv, createDecipheriv, randomBytes, randomFillSync } from "node:crypto";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import {
  createDecryptStream,
  createEncryptStream,
  generateAttachmentKey,
} from "../../src/envelope/attachment-stream.ts";
import type { BenchCase } from "./envelope-cases.ts";

const CHUNK = 64 * 1024;
const MIB = 1024 * 1024;

type Sampler = () => void;

/** Plaintext in → ciphertext → plaintext out, through the streams; `sample` on every output chunk. */
async function streamRoundTrip(source: Buffer, key: string, sample?: Sampler): Promise<void> {
  let size = 0;
  await pipeline(
    async function* chunks() {
      for (let at = 0; at < source.length; at += CHUNK) yield source.subarray(at, at + CHUNK);
    },
    createEncryptStream(key, 0),
    createDecryptStream(key, 0),
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        size += chunk.length;
        sample?.();
        callback();
      },
    }),
  );
  if (size !== source.length) throw new Error("bench: the stream lost bytes");
}

/** One AES-256-GCM pass over the whole buffer each way, fresh key and IV. */
function singleShotRoundTrip(source: Buffer, sample?: Sampler): void {
  const key = randomBytes(32);
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  const ciphertext = cipher.update(source);
  cipher.final();
  const tag = cipher.getAuthTag();
  sample?.();
  const decipher = createDecipheriv("aes-256-gcm", key, iv);
  decipher.setAuthTag(tag);
  const plaintext = decipher.update(ciphertext);
  decipher.final();
  sample?.();
  if (plaintext.length !== source.length) throw new Error("bench: single-shot lost bytes");
}

/** A full garbage collection, when V8 lets us expose it at run time (no-op otherwise). */
function garbageCollector(): () => void {
  try {
    setFlagsFromString("--expose-gc");
    const gc: unknown = runInNewContext("gc");
    if (typeof gc === "function") return () => gc();
  } catch {
    // no gc: the RSS figures are then noisier, not wrong
  }
  return () => {};
}

/** Peak growth of the resident set, in MiB, while `run` runs (after a full GC). */
async function peakRssDeltaMiB(gc: () => void, run: (sample: Sampler) => unknown): Promise<number> {
  gc();
  gc();
  const base = process.memoryUsage.rss();
  let peak = base;
  const sample = () => {
    const rss = process.memoryUsage.rss();
    if (rss > peak) peak = rss;
  };
  await run(sample);
  sample();
  return (peak - base) / MIB;
}

export interface AttachmentCase extends BenchCase {
  readonly bytes: number;
  /** Peak RSS growth of one run of each side, in MiB. */
  measureRss(): Promise<{ subject: number; baseline: number }>;
  /**
   * Milliseconds to allocate and first touch two fresh buffers of `bytes` (median of 3): what
   * single-shot pays for its ciphertext and plaintext outputs before any AES work. Page faults
   * are expensive on some virtual machines; this says how much of the baseline is memory.
   */
  measureFreshMemoryMs(): number;
}

function freshMemoryMs(bytes: number): number {
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const start = performance.now();
    Buffer.allocUnsafe(bytes).fill(1);
    Buffer.allocUnsafe(bytes).fill(2);
    times.push(performance.now() - start);
  }
  return times.sort((a, b) => a - b)[1]!;
}

export function makeAttachmentCase(bytes: number): AttachmentCase {
  const source = randomFillSync(Buffer.allocUnsafe(bytes));
  const key = generateAttachmentKey();
  const gc = garbageCollector();
  return {
    name: "attachment-stream",
    subjectLabel: `createEncryptStream | createDecryptStream, ${bytes / MIB} MiB in 64 KiB chunks`,
    baselineLabel: `single-shot AES-256-GCM encrypt + decrypt of the same ${bytes / MIB} MiB buffer`,
    bytes,
    subject: () => streamRoundTrip(source, key),
    baseline: () => singleShotRoundTrip(source),
    async measureRss() {
      const subject = await peakRssDeltaMiB(gc, (s) => streamRoundTrip(source, key, s));
      const baseline = await peakRssDeltaMiB(gc, (s) => singleShotRoundTrip(source, s));
      return { subject, baseline };
    },
    measureFreshMemoryMs: () => freshMemoryMs(bytes),
  };
}
