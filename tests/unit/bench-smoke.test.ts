/**
 * Smoke test of `npm run bench` (docs/BENCHMARKS.md): the quick profile runs to completion in a
 * child process and prints a JSON report with a usable ratio for each of the five benchmarks.
 * Timings are never asserted: the machine is shared and the figures are noisy.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BENCHMARKS = ["seal", "open", "receipt", "attachment-stream", "compact-checks"];

type Result = Record<string, unknown> & { benchmark: string; id: string };

const positive = (value: unknown): boolean =>
  typeof value === "number" && Number.isFinite(value) && value > 0;

describe("npm run bench -- --quick --json", () => {
  let report: { format?: unknown; quick?: unknown; results?: unknown };
  let results: Result[];

  before(async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["--import", "tsx", "scripts/bench.ts", "--quick", "--json"],
      { cwd: ROOT, timeout: 120_000, maxBuffer: 4 * 1024 * 1024 },
    );
    // execFile rejects on a non-zero exit code, so reaching here means exit 0.
    report = JSON.parse(stdout);
    assert.ok(Array.isArray(report.results), "the report has a results array");
    results = report.results as Result[];
  });

  it("prints a quick mlax-bench/1 report", () => {
    assert.equal(report.format, "mlax-bench/1");
    assert.equal(report.quick, true);
  });

  it("has a finite, positive ratio and rates for each benchmark", () => {
    for (const name of BENCHMARKS) {
      const rows = results.filter((r) => r.benchmark === name);
      assert.ok(rows.length > 0, `no result for ${name}`);
      for (const r of rows) {
        for (const field of [
          "ratio",
          "ratioQ1",
          "ratioQ3",
          "subjectOpsPerSec",
          "baselineOpsPerSec",
        ]) {
          assert.ok(positive(r[field]), `${r.id}.${field} = ${String(r[field])}`);
        }
        assert.ok(
          (r.ratioQ1 as number) <= (r.ratioQ3 as number),
          `${r.id}: the quartiles are in order`,
        );
      }
    }
  });

  it("reports key sizes for the RSA benchmarks and MB/s and RSS for the attachment stream", () => {
    for (const r of results.filter((x) => ["seal", "open", "receipt"].includes(x.benchmark))) {
      assert.ok(r.bits === 2048 || r.bits === 3072, `${r.id}.bits = ${String(r.bits)}`);
    }
    const stream = results.find((r) => r.benchmark === "attachment-stream");
    assert.ok(stream);
    assert.ok(positive(stream.subjectMBps) && positive(stream.baselineMBps));
    for (const field of ["subjectPeakRssDeltaMiB", "baselinePeakRssDeltaMiB"]) {
      const v = stream[field];
      assert.ok(typeof v === "number" && Number.isFinite(v), `${field} = ${String(v)}`);
    }
  });
});
