/**
 * `mlax audit export|verify` through main() in-process: a node store with audit rows, exported
 * with a fresh checkpoint signed by the authority's sign key from the certs folder, verified
 * offline against the CA (and the directory); tampering and a wrong authority exit 1 with the code.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { main } from "../../src/cli/main.ts";
import type { CliIo } from "../../src/cli/output.ts";
import { openStore } from "../../src/store/index.ts";

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function mlax(...args: string[]): Promise<Result> {
  let stdout = "";
  let stderr = "";
  const io: CliIo = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    now: () => new Date(),
  };
  const code = await main(["node", "mlax", ...args], io);
  return { code, stdout, stderr };
}

function ok(r: Result): Result {
  assert.equal(r.code, 0, r.stderr);
  return r;
}

describe("mlax audit export and verify", () => {
  let dir: string;
  let certs: string;
  let data: string;
  let ca: string;

  function addRows(count: number, from: number): void {
    const store = openStore(join(data, "store.sqlite"));
    try {
      for (let i = from; i < from + count; i++) {
        store.recordSecurityEvent({ kind: "client_mismatch", detail: { i } });
      }
    } finally {
      store.close();
    }
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "mlax-cli-audit-"));
    certs = join(dir, "certs");
    data = join(dir, "data");
    ca = join(certs, "ca", "ca.crt");
    ok(
      await mlax(
        "pki",
        "init",
        "--out",
        certs,
        "--authorities",
        "ES-MJ,CO-FGN",
        "--bits",
        "2048",
        "--json",
      ),
    );
    await mkdir(data, { mode: 0o700 });
    addRows(3, 0);
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("exports with a fresh checkpoint over the head, and the export verifies against the CA", async () => {
    const out = join(dir, "audit.json");
    const r = ok(
      await mlax(
        "audit",
        "export",
        "--data",
        data,
        "--certs",
        certs,
        "--as",
        "ES-MJ",
        "-o",
        out,
        "--checkpoint",
        "--json",
      ),
    );
    const result = JSON.parse(r.stdout);
    assert.equal(result.entries, 3);
    assert.equal(result.checkpoints, 1);
    assert.equal(result.signedCheckpoint.seq, 3);
    assert.equal(result.headCovered, true);
    assert.equal(r.stderr, "");
    assert.equal((await stat(out)).mode & 0o777, 0o600);
    const file = JSON.parse(await readFile(out, "utf8"));
    assert.equal(file.format, "mlax-audit/1");
    assert.equal(file.authority, "ES-MJ");

    const v = ok(await mlax("audit", "verify", out, "--ca", ca, "--json"));
    const report = JSON.parse(v.stdout);
    assert.equal(report.ok, true);
    assert.equal(report.kind, "audit");
    assert.equal(report.summary.entries, 3);
    assert.equal(report.summary.checkpoints, 1);
    assert.equal(report.summary.headCovered, true);
    assert.deepEqual(report.warnings, []);

    const text = ok(
      await mlax("audit", "verify", out, "--ca", ca, "--directory", join(certs, "directory.jws")),
    );
    assert.match(text.stdout, /^OK audit/);
    assert.match(text.stdout, /pinned in the directory/);
  });

  it("entries after the last checkpoint are a warning, not a failure", async () => {
    addRows(2, 3);
    const out = join(dir, "audit-later.json");
    const r = ok(
      await mlax("audit", "export", "--data", data, "--certs", certs, "--as", "ES-MJ", "-o", out),
    );
    assert.match(r.stdout, /audit log of ES-MJ, entries: 5, signed checkpoints: 1/);
    assert.match(r.stderr, /^warning: entries 4..5 after the last checkpoint \(seq 3\)/);
    const v = ok(await mlax("audit", "verify", out, "--ca", ca));
    assert.match(v.stdout, /unsignedEntries: 2/);
    assert.match(v.stderr, /^warning: /);
  });

  it("a tampered export exits 1 with AUDIT_CHAIN_BROKEN", async () => {
    const out = join(dir, "audit-tampered.json");
    ok(await mlax("audit", "export", "--data", data, "--certs", certs, "--as", "ES-MJ", "-o", out));
    const file = JSON.parse(await readFile(out, "utf8"));
    file.entries[1].detail.detail.i = 42;
    await writeFile(out, JSON.stringify(file));
    const r = await mlax("audit", "verify", out, "--ca", ca, "--json");
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error AUDIT_CHAIN_BROKEN: /);
    const failure = JSON.parse(r.stdout);
    assert.deepEqual(
      { ok: failure.ok, code: failure.code, seq: failure.seq, reason: failure.reason },
      { ok: false, code: "AUDIT_CHAIN_BROKEN", seq: 2, reason: "hash_mismatch" },
    );

    await writeFile(out, "{not json");
    const bad = await mlax("audit", "verify", out, "--ca", ca);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^error BUNDLE_MALFORMED: /);
  });

  it("exporting as another authority than the checkpoint signer exits 1 with SIGNER_MISMATCH", async () => {
    const out = join(dir, "audit-wrong.json");
    const r = await mlax(
      "audit",
      "export",
      "--data",
      data,
      "--certs",
      certs,
      "--as",
      "CO-FGN",
      "-o",
      out,
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, /was written but does not verify/);
    assert.match(r.stderr, /error SIGNER_MISMATCH: /);
  });

  it("a missing store exits 1; a bad authority id is a usage error (exit 2)", async () => {
    const out = join(dir, "none.json");
    const missing = await mlax(
      "audit",
      "export",
      "--data",
      join(dir, "nowhere"),
      "--certs",
      certs,
      "--as",
      "ES-MJ",
      "-o",
      out,
    );
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^error FILE_UNREADABLE: /);
    const usage = await mlax(
      "audit",
      "export",
      "--data",
      data,
      "--certs",
      certs,
      "--as",
      "es-mj",
      "-o",
      out,
    );
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /^error INPUT_INVALID: /);
  });
});
