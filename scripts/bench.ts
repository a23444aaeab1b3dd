/**
 * `npm run bench`: what the envelope layer costs over the raw cryptography it must do
 * (docs/BENCHMARKS.md). Every figure is a ratio against a baseline measured in the same run, in
 * interleaved rounds, because the machine is shared and noisy; absolute rates are for information.
 *
 *   npm run bench                    ~60–90 s, 3072-bit (production default) and 2048-bit keys
 *   npm run bench -- --quick         ~5 s, 2048-bit keys, a few rounds (the smoke test)
 *   npm run bench -- --json          the report as JSON on stdout (progress goes to stderr)
 */
import { arch, cpus, platform } from "node:os";
import { parseArgs } from "node:util";
import { makeAttachmentCase } from "./bench/attachment-case.ts";
import { compactSinkUsed, makeCompactCase } from "./bench/compact-case.ts";
import { type BenchCase, makeEnvelopeCases } from "./bench/envelope-cases.ts";
import { FIXTURE_KEYS, makeBenchFixture } from "./bench/fixture.ts";
import { comparePair, type PairOptions } from "./bench/harness.ts";
import {
  type BenchmarkName,
  type BenchReport,
  type BenchResult,
  formatTable,
  fromPair,
  REPORT_FORMAT,
} from "./bench/report.ts";

interface Profile {
  /** RSA sizes for benchmarks 1–3; the first one also provides the envelope for benchmark 5. */
  readonly bits: readonly number[];
  readonly crypto: PairOptions;
  readonly attachment: PairOptions & { readonly bytes: number };
  readonly compact: PairOptions;
}

const MIB = 1024 * 1024;

const PROFILES: Record<"full" | "quick", Profile> = {
  full: {
    bits: [3072, 2048],
    crypto: { rounds: 12, batchMs: 250, warmupMs: 250 },
    attachment: { rounds: 8, batchMs: 0, warmupMs: 0, maxBatch: 1, bytes: 64 * MIB },
    compact: { rounds: 12, batchMs: 100, warmupMs: 100 },
  },
  quick: {
    bits: [2048],
    crypto: { rounds: 3, batchMs: 25, warmupMs: 10 },
    attachment: { rounds: 3, batchMs: 0, warmupMs: 0, maxBatch: 1, bytes: 8 * MIB },
    compact: { rounds: 3, batchMs: 10, warmupMs: 5 },
  },
};

const USAGE = `usage: npm run bench -- [--quick] [--json]
  --quick   a few rounds with 2048-bit keys and an 8 MiB attachment (~5 s)
  --json    print the report as JSON on stdout instead of a table`;

function progress(text: string): void {
  process.stderr.write(`bench: ${text}\n`);
}

async function measure(
  c: BenchCase,
  id: string,
  benchmark: BenchmarkName,
  bits: number | null,
  options: PairOptions,
): Promise<BenchResult> {
  progress(`${id} (${options.rounds} rounds)`);
  const pair = await comparePair(c.subject, c.baseline, options);
  return fromPair(
    id,
    benchmark,
    bits,
    { subject: c.subjectLabel, baseline: c.baselineLabel },
    pair,
  );
}

async function run(profile: Profile, quick: boolean): Promise<BenchReport> {
  const started = performance.now();
  const results: BenchResult[] = [];
  let envelope: string | undefined;

  // 1–3. seal, open, receipt against the bare node:crypto primitives, per key size.
  for (const bits of profile.bits) {
    progress(`generating a ${bits}-bit test PKI (${FIXTURE_KEYS} RSA keys)`);
    const fixture = makeBenchFixture(bits);
    const cases = await makeEnvelopeCases(fixture);
    envelope ??= cases.envelope;
    results.push(await measure(cases.seal, `seal/${bits}`, "seal", bits, profile.crypto));
    results.push(await measure(cases.open, `open/${bits}`, "open", bits, profile.crypto));
    results.push(await measure(cases.receipt, `receipt/${bits}`, "receipt", bits, profile.crypto));
  }

  // 4. The attachment stream cipher against single-shot AES-256-GCM, with throughput and RSS.
  const attachment = makeAttachmentCase(profile.attachment.bytes);
  const streamed = await measure(
    attachment,
    "attachment-stream",
    "attachment-stream",
    null,
    profile.attachment,
  );
  progress("attachment-stream peak RSS");
  const rss = await attachment.measureRss();
  const freshMemoryMs = attachment.measureFreshMemoryMs();
  const mbps = (msPerOp: number) => attachment.bytes / 1e6 / (msPerOp / 1000);
  results.push({
    ...streamed,
    bytes: attachment.bytes,
    subjectMBps: mbps(streamed.subjectMsPerOp),
    baselineMBps: mbps(streamed.baselineMsPerOp),
    subjectPeakRssDeltaMiB: rss.subject,
    baselinePeakRssDeltaMiB: rss.baseline,
    baselineFreshMemoryMs: freshMemoryMs,
  });

  // 5. Our compact part checks against jose's header decoding, on the first envelope sealed above.
  if (envelope === undefined) throw new Error("bench: no key size configured");
  const compact = await measure(
    makeCompactCase(envelope),
    "compact-checks",
    "compact-checks",
    null,
    profile.compact,
  );
  const openFirst = results.find((r) => r.benchmark === "open");
  results.push({
    ...compact,
    ...(openFirst ? { shareOfOpen: compact.subjectMsPerOp / openFirst.subjectMsPerOp } : {}),
  });
  if (!compactSinkUsed()) throw new Error("bench: the compact checks did not run");

  const cpuList = cpus();
  return {
    format: REPORT_FORMAT,
    date: new Date().toISOString(),
    command: `npm run bench${quick ? " -- --quick" : ""}`,
    quick,
    node: process.version,
    platform: `${platform()} ${arch()}`,
    cpus: { count: cpuList.length, model: cpuList[0]?.model.trim() ?? "unknown" },
    durationMs: performance.now() - started,
    results,
  };
}

async function main(): Promise<number> {
  let values: { quick?: boolean; json?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      options: {
        quick: { type: "boolean" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const quick = values.quick === true;
  const report = await run(quick ? PROFILES.quick : PROFILES.full, quick);
  process.stdout.write(
    values.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatTable(report)}\n`,
  );
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
