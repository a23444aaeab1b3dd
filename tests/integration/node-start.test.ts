/**
 * `mlax node start` refuses to start, saying what to fix, when the configuration cannot work; and
 * a started node stops cleanly on SIGTERM and SIGINT.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { freePort, PROJECT_ROOT, runCli } from "../../scripts/lib/local-network.ts";

describe("mlax node start", { timeout: 120_000 }, () => {
  let dir: string;
  let certs: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "mlax-start-"));
    certs = join(dir, "certs");
    const init = await runCli([
      "pki",
      "init",
      "--out",
      certs,
      "--authorities",
      "ES-MJ,CO-FGN",
      "--bits",
      "2048",
    ]);
    assert.equal(init.code, 0, init.stderr);
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  const start = (...args: string[]) =>
    runCli([
      "node",
      "start",
      "--log-level",
      "silent",
      "--certs",
      certs,
      "--data",
      join(dir, "data"),
      ...args,
    ]);

  it("refuses an authority that is not in the directory", async () => {
    const r = await start("--as", "FR-MJ");
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error AUTHORITY_UNKNOWN: .*mlax pki add FR-MJ/);
  });

  it("refuses a missing certs folder, naming the file", async () => {
    const r = await runCli([
      "node",
      "start",
      "--certs",
      join(dir, "nope"),
      "--as",
      "ES-MJ",
      "--data",
      join(dir, "d2"),
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error FILE_UNREADABLE: .*ca\.crt/);
  });

  it("refuses a key that does not match its certificate", async () => {
    const copy = join(dir, "certs-swapped");
    await runCli(["pki", "init", "--out", copy, "--authorities", "ES-MJ,CO-FGN", "--bits", "2048"]);
    copyFileSync(
      join(copy, "authorities", "CO-FGN", "sign.key"),
      join(copy, "authorities", "ES-MJ", "sign.key"),
    );
    const r = await runCli([
      "node",
      "start",
      "--certs",
      copy,
      "--as",
      "ES-MJ",
      "--data",
      join(dir, "d3"),
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error KEY_MISMATCH: /);
  });

  it("refuses a port in use", async () => {
    const blocker = createServer();
    const port = await freePort();
    await new Promise<void>((r) => blocker.listen(port, "127.0.0.1", () => r()));
    try {
      const r = await start(
        "--as",
        "ES-MJ",
        "--peer-port",
        String(port),
        "--api-port",
        String(await freePort()),
      );
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^error CONFIG_INVALID: .*EADDRINUSE/);
    } finally {
      blocker.close();
    }
  });

  it("refuses an invalid config file", async () => {
    const file = join(dir, "node.json");
    writeFileSync(
      file,
      JSON.stringify({ authorityId: "es-mj", certsDir: certs, dataDir: join(dir, "d4") }),
    );
    const r = await runCli(["node", "start", "--config", file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error CONFIG_INVALID: .*authorityId/);
    writeFileSync(
      file,
      JSON.stringify({
        authorityId: "ES-MJ",
        certsDir: certs,
        dataDir: join(dir, "d4"),
        api: { host: "0.0.0.0" },
      }),
    );
    const open = await runCli(["node", "start", "--config", file]);
    assert.equal(open.code, 1);
    assert.match(
      open.stderr,
      /^error CONFIG_INVALID: .*api\.host: the operator API must listen on loopback/,
    );
  });

  it("refuses a directory with a lower serial than one it accepted (rollback)", async () => {
    const data = join(dir, "d5");
    const oldDirectory = readFileSync(join(certs, "directory.jws"), "utf8");
    // Accept serial 2 once (start and stop), then put serial 1 back.
    const renewed = await runCli(["directory", "renew", "--certs", certs]);
    assert.equal(renewed.code, 0, renewed.stderr);
    const peer = await freePort();
    const api = await freePort();
    const child = spawn(
      process.execPath,
      [
        join(PROJECT_ROOT, "scripts", "mlax.mjs"),
        "node",
        "start",
        "--certs",
        certs,
        "--as",
        "ES-MJ",
        "--data",
        data,
        "--peer-port",
        String(peer),
        "--api-port",
        String(api),
      ],
      { cwd: PROJECT_ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no start: ${output}`)), 30_000);
      child.stdout.on("data", () => {
        if (output.includes("started")) {
          clearTimeout(t);
          resolve();
        }
      });
    });
    child.kill("SIGINT");
    const code = await new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
    assert.equal(code, 0, "stops cleanly on SIGINT");
    assert.match(output, /stopped/);
    writeFileSync(join(certs, "directory.jws"), oldDirectory);
    const r = await start("--as", "ES-MJ", "--data", data);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error DIRECTORY_ROLLBACK: /);
  });
});
