/**
 * The offline round trip of issue "Trust and envelope core": pki init → seal → open (receipt) →
 * bundle → verify, through the real CLI; and one flipped byte anywhere in any of those files makes
 * open/verify exit non-zero with an error code.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runCli } from "../../scripts/lib/local-network.ts";
import { exampleRequestBody } from "../../src/domain/example-request.ts";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** Replaces the character at `i` (a base64url or hex character) with another one. */
function flipAt(text: string, i: number): string {
  const c = text[i] ?? "A";
  const next = ALPHABET[(ALPHABET.indexOf(c) + 7) % ALPHABET.length] ?? "B";
  return `${text.slice(0, i)}${next === c ? "Q" : next}${text.slice(i + 1)}`;
}

/** Evenly spread positions of characters that belong to the base64url alphabet. */
function positions(text: string, count: number): number[] {
  const candidates = [...text].flatMap((c, i) => (ALPHABET.includes(c) ? [i] : []));
  const step = Math.max(1, Math.floor(candidates.length / count));
  return candidates.filter((_, k) => k % step === Math.floor(step / 2)).slice(0, count);
}

describe("CLI: seal → open → bundle → verify", { timeout: 120_000 }, () => {
  let dir: string;
  let certs: string;
  const f = (name: string) => join(dir, name);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "mlax-cli-env-"));
    certs = f("certs");
    const init = await runCli([
      "pki",
      "init",
      "--out",
      certs,
      "--authorities",
      "ES-MJ,CO-FGN,IT-MG",
      "--bits",
      "2048",
      "--json",
    ]);
    assert.equal(init.code, 0, init.stderr);
    writeFileSync(f("request.json"), JSON.stringify(exampleRequestBody()));
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it("round-trips, and the bundle verifies with and without the directory", async () => {
    const sealed = await runCli([
      "seal",
      "--certs",
      certs,
      "--from",
      "CO-FGN",
      "--to",
      "ES-MJ",
      f("request.json"),
      "-o",
      f("out.jwe"),
      "--jws-out",
      f("sent.jws"),
      "--json",
    ]);
    assert.equal(sealed.code, 0, sealed.stderr);
    const seal = JSON.parse(sealed.stdout);
    const opened = await runCli([
      "open",
      "--certs",
      certs,
      "--as",
      "ES-MJ",
      f("out.jwe"),
      "--receipt",
      f("r.jws"),
      "--jws-out",
      f("m.jws"),
      "--json",
    ]);
    assert.equal(opened.code, 0, opened.stderr);
    const open = JSON.parse(opened.stdout);
    assert.equal(open.message.id, seal.id);
    assert.equal(open.messageSha256, seal.messageSha256);
    assert.equal(
      readFileSync(f("m.jws"), "utf8"),
      readFileSync(f("sent.jws"), "utf8"),
      "the JWS inside is the one sealed",
    );
    const bundled = await runCli([
      "bundle",
      "--message",
      f("m.jws"),
      "--receipt",
      f("r.jws"),
      "--certs",
      certs,
      "-o",
      f("bundle.json"),
      "--json",
    ]);
    assert.equal(bundled.code, 0, bundled.stderr);
    for (const extra of [[], ["--directory", join(certs, "directory.jws")]]) {
      for (const file of ["bundle.json", "m.jws", "r.jws"]) {
        const v = await runCli([
          "verify",
          f(file),
          "--ca",
          join(certs, "ca", "ca.crt"),
          ...extra,
          "--json",
        ]);
        assert.equal(v.code, 0, `${file}: ${v.stderr}`);
        assert.equal(JSON.parse(v.stdout).ok, true);
      }
    }
  });

  it("is opened only by its recipient: IT-MG cannot open ES-MJ's envelope", async () => {
    const r = await runCli(["open", "--certs", certs, "--as", "IT-MG", f("out.jwe")]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error ENVELOPE_NOT_FOR_ME: /);
  });

  it("a flipped byte anywhere in any file makes open or verify fail with a code", async () => {
    const ca = join(certs, "ca", "ca.crt");
    const cases: [string, (path: string) => string[]][] = [
      ["out.jwe", (p) => ["open", "--certs", certs, "--as", "ES-MJ", p]],
      ["m.jws", (p) => ["verify", p, "--ca", ca]],
      ["r.jws", (p) => ["verify", p, "--ca", ca]],
      ["bundle.json", (p) => ["verify", p, "--ca", ca]],
    ];
    let tried = 0;
    for (const [name, command] of cases) {
      const original = readFileSync(f(name), "utf8");
      for (const i of positions(original, 12)) {
        const path = f(`flipped-${name}`);
        writeFileSync(path, flipAt(original, i));
        const r = await runCli(command(path));
        assert.notEqual(r.code, 0, `${name} flipped at ${i} was accepted`);
        assert.match(r.stderr, /^error [A-Z][A-Z0-9_]+: /, `${name} at ${i}: ${r.stderr}`);
        tried++;
      }
    }
    assert.ok(tried >= 40);
  });

  it("refuses a request body that does not state what UNTOC 18(15) asks", async () => {
    const body = exampleRequestBody() as Record<string, unknown>;
    delete body.purpose;
    writeFileSync(f("bad.json"), JSON.stringify(body));
    const r = await runCli([
      "seal",
      "--certs",
      certs,
      "--from",
      "CO-FGN",
      "--to",
      "ES-MJ",
      f("bad.json"),
      "-o",
      f("bad.jwe"),
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error INPUT_INVALID: /);
  });
});
