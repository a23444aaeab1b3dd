/**
 * `npm run demo` stays true: the demo script runs from nothing in a child process (2048-bit keys
 * to keep the suite fast; the demo's default is 3072) and exits 0 with verified receipts.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { it } from "node:test";
import { PROJECT_ROOT } from "../../scripts/lib/local-network.ts";

it("npm run demo: three nodes, verified receipts, a verified evidence bundle", {
  timeout: 180_000,
}, () => {
  const out = mkdtempSync(join(tmpdir(), "mlax-demo-test-"));
  try {
    const r = spawnSync(
      process.execPath,
      ["--import", "tsx", "scripts/demo.ts", "--out", out, "--bits", "2048"],
      {
        cwd: PROJECT_ROOT,
        encoding: "utf8",
        timeout: 170_000,
      },
    );
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(
      r.stdout,
      /OK: 3 authorities, 3 messages delivered with verified receipts, evidence bundle verified\./,
    );
    assert.match(r.stdout, /OK bundle/);
    for (const id of ["ES-MJ", "CO-FGN", "IT-MG"]) {
      assert.ok(existsSync(join(out, "nodes", id, "store.sqlite")), `${id} store kept`);
    }
    const bundle = JSON.parse(readFileSync(join(out, "evidence.json"), "utf8"));
    assert.equal(bundle.format, "mlax-evidence/1");
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
