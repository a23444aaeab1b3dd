/**
 * The benchmark report: one machine-readable document (`--json`) and a readable table. Every ratio
 * is subject cost / baseline cost per operation, both measured in the same run, interleaved.
 */
import type { PairResult } from "./harness.ts";

export const REPORT_FORMAT = "mlax-bench/1";

export const BENCHMARKS = [
  "seal",
  "open",
  "receipt",
  "attachment-stream",
  "compact-checks",
] as const;
export type BenchmarkName = (typeof BENCHMARKS)[number];

export interface BenchResult {
  /** `<benchmark>` or `<benchmark>/<bits>`. */
  readonly id: string;
  readonly benchmark: BenchmarkName;
  /** RSA modulus size of the keys used, or null where no RSA key is involved. */
  readonly bits: number | null;
  readonly subject: string;
  readonly baseline: string;
  readonly rounds: number;
  /** Median of per-round (subject ms/op) / (baseline ms/op). 1 = as cheap as the baseline. */
  readonly ratio: number;
  readonly ratioQ1: number;
  readonly ratioQ3: number;
  readonly subjectOpsPerSec: number;
  readonly baselineOpsPerSec: number;
  readonly subjectMsPerOp: number;
  readonly baselineMsPerOp: number;
  /** Attachment stream: plaintext bytes per operation and MB/s (10^6 bytes) of encrypt+decrypt. */
  readonly bytes?: number;
  readonly subjectMBps?: number;
  readonly baselineMBps?: number;
  /** Attachment stream: peak resident-set growth of one operation, MiB. */
  readonly subjectPeakRssDeltaMiB?: number;
  readonly baselinePeakRssDeltaMiB?: number;
  /** Attachment stream: ms to fault in the 2 × bytes of fresh output memory single-shot needs. */
  readonly baselineFreshMemoryMs?: number;
  /** Compact checks: their cost as a fraction of one open() measured in this run (3072 if any). */
  readonly shareOfOpen?: number;
}

export interface BenchReport {
  readonly format: typeof REPORT_FORMAT;
  readonly date: string;
  readonly command: string;
  readonly quick: boolean;
  readonly node: string;
  readonly platform: string;
  readonly cpus: { readonly count: number; readonly model: string };
  readonly durationMs: number;
  readonly results: readonly BenchResult[];
}

/** The common fields of a result from a measured pair. */
export function fromPair(
  id: string,
  benchmark: BenchmarkName,
  bits: number | null,
  labels: { subject: string; baseline: string },
  pair: PairResult,
): BenchResult {
  return {
    id,
    benchmark,
    bits,
    subject: labels.subject,
    baseline: labels.baseline,
    rounds: pair.rounds,
    ratio: pair.ratio,
    ratioQ1: pair.ratioQ1,
    ratioQ3: pair.ratioQ3,
    subjectOpsPerSec: pair.subject.opsPerSec,
    baselineOpsPerSec: pair.baseline.opsPerSec,
    subjectMsPerOp: pair.subject.msPerOp,
    baselineMsPerOp: pair.baseline.msPerOp,
  };
}

const fixed = (n: number, digits: number) => (Number.isFinite(n) ? n.toFixed(digits) : "n/a");

function rate(r: BenchResult, side: "subject" | "baseline"): string {
  const mbps = side === "subject" ? r.subjectMBps : r.baselineMBps;
  if (mbps !== undefined) return `${fixed(mbps, 0)} MB/s`;
  const ops = side === "subject" ? r.subjectOpsPerSec : r.baselineOpsPerSec;
  return ops >= 10_000 ? `${fixed(ops / 1000, 0)}k ops/s` : `${fixed(ops, 0)} ops/s`;
}

function notes(r: BenchResult): string {
  const out: string[] = [];
  if (r.subjectPeakRssDeltaMiB !== undefined && r.baselinePeakRssDeltaMiB !== undefined) {
    out.push(
      `peak RSS +${fixed(r.subjectPeakRssDeltaMiB, 1)} MiB vs +${fixed(r.baselinePeakRssDeltaMiB, 1)} MiB`,
    );
  }
  if (r.baselineFreshMemoryMs !== undefined && r.bytes !== undefined) {
    out.push(
      `fresh ${fixed((2 * r.bytes) / 1048576, 0)} MiB costs ${fixed(r.baselineFreshMemoryMs, 0)} ms of single-shot's ${fixed(r.baselineMsPerOp, 0)} ms`,
    );
  }
  if (r.shareOfOpen !== undefined) out.push(`${fixed(r.shareOfOpen * 100, 2)}% of one open()`);
  return out.join("; ");
}

/** A fixed-width text table of the results. */
export function formatTable(report: BenchReport): string {
  const header = ["benchmark", "ratio", "q1–q3", "subject", "baseline", "notes"];
  const rows = report.results.map((r) => [
    r.id,
    `${fixed(r.ratio, 2)}×`,
    `${fixed(r.ratioQ1, 2)}–${fixed(r.ratioQ3, 2)}`,
    rate(r, "subject"),
    rate(r, "baseline"),
    notes(r),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) =>
        i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!),
      )
      .join("  ")
      .trimEnd();
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  const legend = [
    "",
    "ratio = subject cost / baseline cost per operation (median of interleaved rounds; 1.00× = as",
    "cheap as the baseline). ops/s and MB/s are absolute figures on a shared machine: for information.",
    ...report.results.map((r) => `  ${r.id}: ${r.subject}  vs  ${r.baseline}`),
    "",
    `${report.date}  node ${report.node}  ${report.platform}  ${report.cpus.count}× ${report.cpus.model}  ${fixed(report.durationMs / 1000, 1)} s${report.quick ? "  (--quick)" : ""}`,
  ];
  return [line(header), rule, ...rows.map(line), ...legend].join("\n");
}
