/**
 * Certificates from issue.ts, read back with extensions.ts (never with node-forge): each meets its
 * role profile, names its authority, carries a normalized serial, does not outlive the CA, and
 * OpenSSL's own verifier accepts it under the network CA.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { classifyRole, roleProfileViolation } from "../../src/pki/classify.ts";
import {
  OID_BASIC_CONSTRAINTS,
  OID_KEY_USAGE,
  readCertificate,
  readExtensions,
} from "../../src/pki/extensions.ts";
import { normalizeSerial } from "../../src/pki/fingerprint.ts";
import { createNetworkCa } from "../../src/pki/issue.ts";
import { generateRsaKeyPair } from "../../src/pki/keys.ts";
import { AUTHORITY_ROLES, ROLE_PROFILES } from "../../src/pki/roles.ts";
import { subjectCommonName, validateCaCertificate } from "../../src/pki/validate-certificate.ts";
import { makeTestPki, type TestKey, type TestPki } from "../helpers/pki-fixture.ts";

const IDS = ["ES-MJ", "CO-FGN"];
let pki: TestPki;
let dir: string;

before(() => {
  pki = makeTestPki({ ids: IDS });
  dir = mkdtempSync(join(tmpdir(), "mlax-pki-issue-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function everyKey(): TestKey[] {
  return [
    ...IDS.flatMap((id) => AUTHORITY_ROLES.map((role) => pki.authorities[id]![role])),
    pki.directorySigner,
  ];
}

const sorted = (xs: Iterable<string>) => [...xs].sort();

test("each certificate meets its role profile, read back with a real ASN.1 parser", () => {
  const caSki = readExtensions(pki.ca.certificate).subjectKeyIdentifier;
  assert.ok(caSki);
  for (const key of everyKey()) {
    const role = key.role;
    const ext = readExtensions(key.certificate);
    const profile = ROLE_PROFILES[role];
    assert.equal(roleProfileViolation(ext, role), undefined, `${key.authorityId} ${role}`);
    assert.deepEqual(sorted(ext.keyUsage ?? []), sorted(profile.keyUsage), role);
    assert.deepEqual(ext.basicConstraints, { ca: false });
    assert.ok(ext.criticalOids.includes(OID_BASIC_CONSTRAINTS));
    assert.ok(ext.criticalOids.includes(OID_KEY_USAGE));
    if (profile.extKeyUsage.length === 0) assert.equal(ext.extKeyUsage, undefined, role);
    else assert.deepEqual(sorted(ext.extKeyUsage ?? []), sorted(profile.extKeyUsage), role);
    // RFC 5280 §4.2.1.1: the leaf names the CA's key.
    assert.ok(ext.authorityKeyIdentifier?.keyIdentifier?.equals(caSki));
    assert.ok(ext.subjectKeyIdentifier);
    assert.equal(classifyRole(key.certificate), role);
    // The same reading from bare DER.
    assert.deepEqual(readExtensions(key.certificate.raw), ext);
  }
});

test("tls certificates carry the endpoint names in subjectAltName", () => {
  for (const id of IDS) {
    const sans = readExtensions(pki.authorities[id]!.tls.certificate).subjectAltNames ?? [];
    assert.ok(sans.some((n) => n.type === "dns" && n.value === "localhost"));
    assert.ok(sans.some((n) => n.type === "ip" && n.value.equals(Buffer.from([127, 0, 0, 1]))));
    const sign = readExtensions(pki.authorities[id]!.sign.certificate);
    assert.equal(sign.subjectAltNames, undefined);
  }
});

test("the network CA is a CA for leaves only (cA, pathLen 0, keyCertSign + cRLSign)", () => {
  const ext = readExtensions(pki.ca.certificate);
  assert.deepEqual(ext.basicConstraints, { ca: true, pathLength: 0 });
  assert.ok(ext.criticalOids.includes(OID_BASIC_CONSTRAINTS));
  assert.deepEqual(sorted(ext.keyUsage ?? []), ["cRLSign", "keyCertSign"]);
  assert.equal(roleProfileViolation(ext, "ca"), undefined);
  assert.equal(classifyRole(pki.ca.certificate), undefined);
  validateCaCertificate(pki.ca.certificate, pki.now);
});

test("subject CN is the authority id", () => {
  for (const id of IDS) {
    for (const role of AUTHORITY_ROLES) {
      assert.equal(subjectCommonName(pki.authorities[id]![role].certificate), id);
    }
  }
  assert.equal(subjectCommonName(pki.directorySigner.certificate), "mlax directory");
});

test("serials are positive, random, uppercase hex without leading zeros", () => {
  const seen = new Set<string>();
  for (const key of everyKey()) {
    assert.match(key.serial, /^[1-9A-F][0-9A-F]*$/);
    assert.equal(key.serial, normalizeSerial(key.certificate.serialNumber));
    const raw = readCertificate(key.certificate).serialNumber;
    assert.ok(raw.length <= 20 && ((raw[0] ?? 0) & 0x80) === 0, "RFC 5280 §4.1.2.2");
    seen.add(key.serial);
  }
  assert.equal(seen.size, everyKey().length);
  assert.equal(normalizeSerial("00:0a:bC"), "ABC");
  assert.equal(normalizeSerial("00 00"), "0");
});

test("validity: backdated 5 minutes, and never past the CA's notAfter", () => {
  const caInfo = readCertificate(pki.ca.certificate);
  const normal = readCertificate(pki.authorities["ES-MJ"]!.sign.certificate);
  assert.equal(normal.notBefore.getTime(), pki.now.getTime() - 5 * 60_000);
  assert.equal(normal.notAfter.getTime(), pki.now.getTime() + 365 * 86_400_000);
  assert.ok(normal.notAfter < caInfo.notAfter);
  const long = readCertificate(pki.issue("ES-MJ", "sign", { days: 5000 }).certificate);
  assert.equal(long.notAfter.getTime(), caInfo.notAfter.getTime());
});

test("openssl verify -x509_strict accepts every certificate under the network CA", () => {
  const attime = String(Math.floor(pki.now.getTime() / 1000));
  const caFile = join(dir, "ca.crt");
  writeFileSync(caFile, pki.ca.certPem);
  for (const [i, key] of everyKey().entries()) {
    const file = join(dir, `leaf-${i}.crt`);
    writeFileSync(file, key.certPem);
    const out = execFileSync(
      "openssl",
      ["verify", "-x509_strict", "-attime", attime, "-CAfile", caFile, file],
      { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
    );
    assert.equal(out.trim(), `${file}: OK`, `${key.authorityId} ${key.role}`);
  }
});

test("openssl verify refuses a certificate under another CA of the same name", () => {
  const keys = generateRsaKeyPair(2048);
  const other = createNetworkCa({
    subject: { commonName: "mlax test network CA" },
    keyPair: keys,
    now: pki.now,
    days: 30,
  });
  const caFile = join(dir, "other-ca.crt");
  const leafFile = join(dir, "leaf-other.crt");
  writeFileSync(caFile, other.certPem);
  writeFileSync(leafFile, pki.authorities["ES-MJ"]!.sign.certPem);
  const attime = String(Math.floor(pki.now.getTime() / 1000));
  assert.throws(() =>
    execFileSync("openssl", ["verify", "-attime", attime, "-CAfile", caFile, leafFile], {
      stdio: ["ignore", "pipe", "pipe"],
    }),
  );
});
