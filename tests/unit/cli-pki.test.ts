/**
 * `mlax pki …` and `mlax directory show`: init, the overwrite refusal and a usage error through the
 * real bin (scripts/mlax.mjs) in a child process; the rest through main() in-process (faster).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { main } from "../../src/cli/main.ts";
import type { CliIo } from "../../src/cli/output.ts";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "..", "..");
const BIN = join(ROOT, "scripts", "mlax.mjs");
const IDS = ["ES-MJ", "CO-FGN", "IT-MG"];

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function mlax(...args: string[]): Promise<Result> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { cwd: ROOT });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    if (typeof err.code !== "number") throw e;
    return { code: err.code, stdout: err.stdout ?? "", stderr: err.stderr ?? "" };
  }
}

async function inProcess(...args: string[]): Promise<Result> {
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

const mode = async (path: string) => (await stat(path)).mode & 0o777;

interface ShowJson {
  serial: number;
  stale: boolean;
  authorities: {
    id: string;
    endpoint: string;
    languages: string[];
    certificates: { role: string; serial: string; status: string }[];
  }[];
  revoked: { serial: string; reason?: string }[];
}

describe("mlax pki and directory commands", () => {
  let dir: string;
  let certs: string;
  type InitJson = {
    serial: number;
    authorities: {
      id: string;
      endpoint: string;
      certificates: Record<string, { serial: string }>;
    }[];
  };
  let init: InitJson;
  const show = async (): Promise<ShowJson> =>
    JSON.parse(ok(await inProcess("directory", "show", "--certs", certs, "--json")).stdout);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "mlax-cli-"));
    certs = join(dir, "certs");
    const r = ok(
      await mlax(
        "pki",
        "init",
        "--out",
        certs,
        "--authorities",
        IDS.join(","),
        "--bits",
        "2048",
        "--json",
      ),
    );
    init = JSON.parse(r.stdout);
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("init writes the layout with private keys 0600 in folders 0700", async () => {
    assert.equal(init.serial, 1);
    assert.deepEqual(
      init.authorities.map((a) => [a.id, a.endpoint]),
      IDS.map((id, i) => [id, `https://127.0.0.1:${8443 + i}`]),
    );
    for (const key of ["ca/ca.key", "ca/directory.key"]) {
      assert.equal(await mode(join(certs, key)), 0o600, key);
    }
    for (const crt of ["ca/ca.crt", "ca/directory.crt", "directory.jws"]) {
      assert.equal(await mode(join(certs, crt)), 0o644, crt);
    }
    assert.equal(await mode(join(certs, "ca")), 0o700);
    for (const id of IDS) {
      assert.equal(await mode(join(certs, "authorities", id)), 0o700);
      for (const role of ["sign", "enc", "tls"]) {
        assert.equal(await mode(join(certs, "authorities", id, `${role}.key`)), 0o600);
        assert.match(
          await readFile(join(certs, "authorities", id, `${role}.crt`), "utf8"),
          /^-----BEGIN CERTIFICATE-----/,
        );
      }
    }
  });

  it("openssl verify accepts the authority and directory certificates against the CA", async () => {
    const files = [
      join(certs, "ca", "directory.crt"),
      ...IDS.flatMap((id) =>
        ["sign", "enc", "tls"].map((role) => join(certs, "authorities", id, `${role}.crt`)),
      ),
    ];
    const { stdout } = await run("openssl", [
      "verify",
      "-CAfile",
      join(certs, "ca", "ca.crt"),
      ...files,
    ]);
    assert.equal(
      stdout
        .trim()
        .split("\n")
        .filter((l) => l.endsWith(": OK")).length,
      files.length,
    );
    const { stdout: text } = await run("openssl", [
      "x509",
      "-noout",
      "-ext",
      "subjectAltName",
      "-in",
      join(certs, "authorities", "ES-MJ", "tls.crt"),
    ]);
    assert.match(text, /DNS:localhost/);
    assert.match(text, /IP Address:127\.0\.0\.1/);
  });

  it("refuses to overwrite the CA without --force", async () => {
    const before = await readFile(join(certs, "ca", "ca.crt"), "utf8");
    const r = await mlax("pki", "init", "--out", certs, "--authorities", "ES-MJ", "--bits", "2048");
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error INPUT_INVALID: /);
    assert.equal(await readFile(join(certs, "ca", "ca.crt"), "utf8"), before);
  });

  it("directory show verifies and lists the authorities", async () => {
    const view = await show();
    assert.equal(view.serial, 1);
    assert.equal(view.stale, false);
    assert.deepEqual(
      view.authorities.map((a) => a.id),
      IDS,
    );
    assert.deepEqual(view.authorities[0]?.languages, ["es", "en"]);
    assert.ok(view.authorities.every((a) => a.certificates.every((c) => c.status === "valid")));
    const text = ok(await inProcess("directory", "show", "--certs", certs)).stdout;
    for (const id of IDS) assert.match(text, new RegExp(`^${id} `, "m"));
  });

  it("pki add issues keys, raises the serial and takes the next free port", async () => {
    const r = ok(
      await inProcess(
        "pki",
        "add",
        "FR-MJ",
        "--certs",
        certs,
        "--languages",
        "fr,en",
        "--bits",
        "2048",
        "--json",
      ),
    );
    assert.equal(JSON.parse(r.stdout).serial, 2);
    assert.equal(await mode(join(certs, "authorities", "FR-MJ", "sign.key")), 0o600);
    const view = await show();
    assert.equal(view.serial, 2);
    const fr = view.authorities.find((a) => a.id === "FR-MJ");
    assert.equal(fr?.endpoint, "https://127.0.0.1:8446");
    assert.deepEqual(fr?.languages, ["fr", "en"]);
    const again = await inProcess("pki", "add", "FR-MJ", "--certs", certs, "--bits", "2048");
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^error AUTHORITY_EXISTS: /);
  });

  it("pki revoke lists the revoked serials of an authority, then of one certificate", async () => {
    const co = init.authorities.find((a) => a.id === "CO-FGN")!;
    const expected = Object.values(co.certificates)
      .map((c) => c.serial)
      .sort();
    const r = ok(
      await inProcess("pki", "revoke", "CO-FGN", "--certs", certs, "--reason", "test", "--json"),
    );
    const out = JSON.parse(r.stdout) as { serial: number; revoked: { serial: string }[] };
    assert.equal(out.serial, 3);
    assert.deepEqual(out.revoked.map((x) => x.serial).sort(), expected);
    const tls = init.authorities.find((a) => a.id === "ES-MJ")!.certificates.tls!.serial;
    ok(await inProcess("pki", "revoke", tls, "--certs", certs));
    const view = await show();
    assert.equal(view.serial, 4);
    assert.deepEqual(view.revoked.map((x) => x.serial).sort(), [...expected, tls].sort());
    const coView = view.authorities.find((a) => a.id === "CO-FGN")!;
    assert.ok(coView.certificates.every((c) => c.status === "revoked"));
    const esTls = view.authorities
      .find((a) => a.id === "ES-MJ")!
      .certificates.find((c) => c.role === "tls");
    assert.equal(esTls?.status, "revoked");
  });

  it("directory show refuses a tampered directory", async () => {
    const copy = join(dir, "tampered.jws");
    const [h, p, s] = (await readFile(join(certs, "directory.jws"), "utf8")).trim().split(".");
    const payload = JSON.parse(Buffer.from(p!, "base64url").toString("utf8"));
    payload.serial = 99;
    await writeFile(
      copy,
      [h, Buffer.from(JSON.stringify(payload)).toString("base64url"), s].join("."),
    );
    const r = await inProcess("directory", "show", "--certs", certs, "--file", copy);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error DIRECTORY_SIGNATURE_INVALID: /);
  });

  it("bad input exits non-zero with INPUT_INVALID on stderr", async () => {
    const badId = await mlax("pki", "init", "--out", join(dir, "x"), "--authorities", "es-mj");
    assert.equal(badId.code, 2);
    assert.match(badId.stderr, /^error INPUT_INVALID: /);
    for (const args of [
      ["pki", "add", "ES_MJ", "--certs", certs],
      ["pki", "init", "--out", join(dir, "y"), "--authorities", "ES-MJ", "--bits", "1024"],
      [
        "pki",
        "init",
        "--out",
        join(dir, "y"),
        "--authorities",
        "ES-MJ",
        "--endpoint",
        "IT-MG=https://a:1",
      ],
      ["pki", "revoke", "not a serial", "--certs", certs],
      ["pki", "init", "--nope"],
    ]) {
      const r = await inProcess(...args);
      assert.equal(r.code, 2, args.join(" "));
      assert.match(r.stderr, /^error INPUT_INVALID: /, args.join(" "));
    }
    const missing = await inProcess("directory", "show", "--certs", join(dir, "none"));
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^error FILE_UNREADABLE: /);
  });

  it("--help exits 0 and names the command groups", async () => {
    const r = ok(await inProcess("--help"));
    assert.match(r.stdout, /pki/);
    assert.match(r.stdout, /directory/);
    assert.match(ok(await inProcess("pki", "init", "--help")).stdout, /--authorities <ids>/);
  });
});
