/**
 * Interleaved paired measurement for a noisy, shared machine: a subject and its baseline run in
 * alternating batches (A B, B A, A B, …), each round yields one cost ratio from two adjacent
 * batches, and the report is the median of those ratios. Drift in machine load hits both sides of
 * a round alike and cancels in the ratio; absolute ops/s are only for information.
 */

/** One operation; may be sync (no await, so microsecond cases are not swamped by microtasks). */
export type Operation = () => unknown;

export interface PairOptions {
  /** Paired rounds (each runs one subject batch and one baseline batch). */
  readonly rounds: number;
  /** Target wall time of one batch, from which the batch size of each side is calibrated. */
  readonly batchMs: number;
  /** Untimed warm-up time per side (JIT, jose's key import cache, allocator). */
  readonly warmupMs: number;
  /** Upper bound on the operations in one batch. */
  readonly maxBatch?: number;
}

export interface SideStats {
  /** Operations per batch. */
  readonly batch: number;
  /** Median milliseconds per operation over the rounds. */
  readonly msPerOp: number;
  /** 1000 / msPerOp. */
  readonly opsPerSec: number;
}

export interface PairResult {
  readonly rounds: number;
  /** Median over rounds of (subject ms/op) / (baseline ms/op): the cost of the subject in baselines. */
  readonly ratio: number;
  /** First and third quartiles of the per-round ratios. */
  readonly ratioQ1: number;
  readonly ratioQ3: number;
  readonly subject: SideStats;
  readonly baseline: SideStats;
}

async function runOnce(op: Operation): Promise<void> {
  const r = op();
  if (r instanceof Promise) await r;
}

/** Runs `op` `n` times and returns milliseconds per operation. */
async function timeBatch(op: Operation, n: number): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    const r = op();
    if (r instanceof Promise) await r;
  }
  return (performance.now() - start) / n;
}

/** Warms `op` up for about `ms` and returns an estimate of its milliseconds per operation. */
async function warmUp(op: Operation, ms: number): Promise<number> {
  await runOnce(op);
  let n = 0;
  const start = performance.now();
  let elapsed: number;
  do {
    await runOnce(op);
    n++;
    elapsed = performance.now() - start;
  } while (elapsed < ms);
  return elapsed / n;
}

/** Linear-interpolated quantile of an unsorted sample. */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return a + (b - a) * (pos - lo);
}

export const median = (values: readonly number[]): number => quantile(values, 0.5);

/** Measures `subject` against `baseline` in alternating batches (ABBA order). */
export async function comparePair(
  subject: Operation,
  baseline: Operation,
  options: PairOptions,
): Promise<PairResult> {
  const maxBatch = options.maxBatch ?? 1_000_000;
  const estimateS = await warmUp(subject, options.warmupMs);
  const estimateB = await warmUp(baseline, options.warmupMs);
  const size = (msPerOp: number) =>
    Math.max(1, Math.min(maxBatch, Math.round(options.batchMs / Math.max(msPerOp, 1e-6))));
  const nS = size(estimateS);
  const nB = size(estimateB);

  const subjectMs: number[] = [];
  const baselineMs: number[] = [];
  const ratios: number[] = [];
  for (let round = 0; round < options.rounds; round++) {
    let s: number;
    let b: number;
    if (round % 2 === 0) {
      s = await timeBatch(subject, nS);
      b = await timeBatch(baseline, nB);
    } else {
      b = await timeBatch(baseline, nB);
      s = await timeBatch(subject, nS);
    }
    subjectMs.push(s);
    baselineMs.push(b);
    ratios.push(s / b);
  }
  const side = (batch: number, ms: readonly number[]): SideStats => {
    const msPerOp = median(ms);
    return { batch, msPerOp, opsPerSec: 1000 / msPerOp };
  };
  return {
    rounds: options.rounds,
    ratio: median(ratios),
    ratioQ1: quantile(ratios, 0.25),
    ratioQ3: quantile(ratios, 0.75),
    subject: side(nS, subjectMs),
    baseline: side(nB, baselineMs),
  };
}
