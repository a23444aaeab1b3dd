/**
 * validateCertificate (the mlax profile), validateCaCertificate, classifyRole and validateChain:
 * the happy path for every role, then one hostile certificate per failure code. Hostile
 * certificates are built here with node-forge (issuance only; nothing is verified with it).
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { before, test } from "node:test";
import forge from "node-forge";
import { classifyRole } from "../../src/pki/classify.ts";
import { readExtensions } from "../../src/pki/extensions.ts";
import { normalizeSerial } from "../../src/pki/fingerprint.ts";
import { createNetworkCa, issueCertificate, parseCertificatePem } from "../../src/pki/issue.ts";
import { generateRsaKeyPair, type KeyPairPem } from "../../src/pki/keys.ts";
import {
  AUTHORITY_ROLES,
  EKU_CLIENT_AUTH,
  EKU_SERVER_AUTH,
  ROLE_PROFILES,
  type Role,
} from "../../src/pki/roles.ts";
import {
  subjectCommonName,
  validateCaCertificate,
  validateCertificate,
} from "../../src/pki/validate-certificate.ts";
import { validateChain } from "../../src/pki/validate-chain.ts";
import { makeTestPki, type TestPki } from "../helpers/pki-fixture.ts";

const DAY = 86_400_000;
let pki: TestPki;
/** Same CA name as `pki`, another key. */
let impostor: TestPki;
let spareKeys: KeyPairPem;
let weakKeys: KeyPairPem;

before(() => {
  pki = makeTestPki({ ids: ["ES-MJ", "CO-FGN"] });
  impostor = makeTestPki({ ids: [] });
  spareKeys = generateRsaKeyPair(2048);
  weakKeys = generateRsaKeyPair(1024);
});

// --- a local forge builder for hostile certificates ---------------------------------------------

interface Signer {
  readonly certPem?: string; // absent: self-signed
  readonly privateKeyPem: string;
}

interface ForgeOptions {
  readonly subject?: forge.pki.CertificateField[];
  readonly publicKeyPem: string;
  readonly signer: Signer;
  readonly extensions: Record<string, unknown>[];
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  readonly sha1?: boolean;
}

function forgeCertificate(o: ForgeOptions): X509Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(o.publicKeyPem);
  cert.serialNumber = "7A5E2F01";
  cert.validity.notBefore = o.notBefore ?? new Date(pki.now.getTime() - 60_000);
  cert.validity.notAfter = o.notAfter ?? new Date(pki.now.getTime() + 30 * DAY);
  const subject = o.subject ?? [{ name: "commonName", value: "ES-MJ" }];
  cert.setSubject(subject);
  const issuer = o.signer.certPem ? forge.pki.certificateFromPem(o.signer.certPem) : undefined;
  cert.setIssuer(issuer ? issuer.subject.attributes : subject);
  cert.setExtensions(o.extensions);
  const md = o.sha1 ? forge.md.sha1.create() : forge.md.sha256.create();
  cert.sign(forge.pki.privateKeyFromPem(o.signer.privateKeyPem), md);
  return parseCertificatePem(forge.pki.certificateToPem(cert));
}

function caSigner(): Signer {
  return { certPem: pki.ca.certPem, privateKeyPem: pki.ca.privateKeyPem };
}

function akiOf(certPem: string): Record<string, unknown> {
  const ca = forge.pki.certificateFromPem(certPem);
  return {
    name: "authorityKeyIdentifier",
    keyIdentifier: ca.generateSubjectKeyIdentifier().getBytes(),
  };
}

/** The extensions issue.ts gives `role`, with `patch` applied by extension name. */
function profileExtensions(
  role: Exclude<Role, "ca">,
  patch: Record<string, Record<string, unknown> | null> = {},
  issuerPem = pki.ca.certPem,
): Record<string, unknown>[] {
  const ku: Record<string, unknown> = { name: "keyUsage", critical: true };
  for (const usage of ROLE_PROFILES[role].keyUsage) ku[usage] = true;
  const exts: Record<string, Record<string, unknown>> = {
    basicConstraints: { name: "basicConstraints", cA: false, critical: true },
    keyUsage: ku,
    subjectKeyIdentifier: { name: "subjectKeyIdentifier" },
    authorityKeyIdentifier: akiOf(issuerPem),
  };
  if (role === "tls")
    exts.extKeyUsage = { name: "extKeyUsage", serverAuth: true, clientAuth: true };
  for (const [name, value] of Object.entries(patch)) {
    if (value === null) delete exts[name];
    else exts[name] = value;
  }
  return Object.values(exts);
}

function hostileLeaf(
  role: Exclude<Role, "ca">,
  patch: Record<string, Record<string, unknown> | null> = {},
  extra: Partial<ForgeOptions> = {},
): X509Certificate {
  return forgeCertificate({
    publicKeyPem: spareKeys.publicKeyPem,
    signer: caSigner(),
    extensions: profileExtensions(role, patch),
    ...extra,
  });
}

function check(cert: X509Certificate, role: Role, more: Record<string, unknown> = {}): void {
  validateCertificate(cert, { ca: pki.ca.certificate, role, at: pki.now, ...more });
}

function rejects(fn: () => unknown, code: string, label?: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.equal((e as { code?: string }).code, code, label);
    return true;
  });
}

// --- happy paths -------------------------------------------------------------------------------

test("every role validates: sign, enc, tls per authority, directory, and the CA itself", () => {
  for (const id of ["ES-MJ", "CO-FGN"]) {
    for (const role of AUTHORITY_ROLES) {
      const cert = pki.authorities[id]![role].certificate;
      check(cert, role, { expectedCommonName: id });
      check(cert, role, { at: [pki.now, new Date(pki.now.getTime() + 300 * DAY)] });
    }
  }
  check(pki.directorySigner.certificate, "directory", { expectedCommonName: "mlax directory" });
  check(pki.ca.certificate, "ca");
  validateCaCertificate(pki.ca.certificate, [pki.now]);
});

test("a hand-built certificate with the issue.ts profile validates (the builder is sound)", () => {
  check(hostileLeaf("sign"), "sign", { expectedCommonName: "ES-MJ" });
  check(hostileLeaf("tls"), "tls");
  // An unknown extension that is not critical is ignored.
  const noted = hostileLeaf("sign", {
    unknown: { id: "1.3.6.1.4.1.55555.9.9", critical: false, value: nullDer() },
  });
  check(noted, "sign");
});

test("classifyRole names the one profile a certificate fits", () => {
  for (const role of AUTHORITY_ROLES) {
    assert.equal(classifyRole(pki.authorities["ES-MJ"]![role].certificate), role);
  }
  assert.equal(classifyRole(pki.directorySigner.certificate), "directory");
  assert.equal(classifyRole(pki.ca.certificate), undefined);
  const both = hostileLeaf("sign", {
    keyUsage: { name: "keyUsage", critical: true, digitalSignature: true, keyEncipherment: true },
  });
  assert.equal(classifyRole(both), undefined, "sign-like usages without nonRepudiation or EKU");
  const signAndEku = hostileLeaf("sign", {
    extKeyUsage: { name: "extKeyUsage", serverAuth: true },
  });
  assert.equal(classifyRole(signAndEku), undefined);
});

// --- one failure per code ----------------------------------------------------------------------

test("CERT_UNTRUSTED: another CA of the same name, a tampered signature, a foreign issuer name, SHA-1", () => {
  rejects(() => check(impostor.issue("ES-MJ", "sign").certificate, "sign"), "CERT_UNTRUSTED");
  const der = Buffer.from(pki.authorities["ES-MJ"]!.sign.certificate.raw);
  der[der.length - 1] = (der[der.length - 1] ?? 0) ^ 0x01;
  rejects(() => check(new X509Certificate(der), "sign"), "CERT_UNTRUSTED", "tampered");
  // Signed with the CA's key but naming another issuer: RFC 5280 §6.1.3 (a)(4) name chaining.
  const renamed = forgeCertificate({
    publicKeyPem: spareKeys.publicKeyPem,
    signer: { privateKeyPem: pki.ca.privateKeyPem },
    subject: [{ name: "commonName", value: "ES-MJ" }],
    extensions: profileExtensions("sign"),
  });
  rejects(() => check(renamed, "sign"), "CERT_UNTRUSTED", "issuer name");
  rejects(() => check(hostileLeaf("sign", {}, { sha1: true }), "sign"), "CERT_UNTRUSTED", "sha1");
});

test("CERT_NOT_CA: the trust anchor lacks cA or keyCertSign", () => {
  const caExtensions = (bc: boolean, keyCertSign: boolean) => [
    { name: "basicConstraints", cA: bc, critical: true },
    { name: "keyUsage", critical: true, keyCertSign, cRLSign: true, digitalSignature: true },
    { name: "subjectKeyIdentifier" },
  ];
  for (const [bc, kcs] of [
    [false, true],
    [true, false],
  ] as const) {
    const subject = [{ name: "commonName", value: "not a CA" }];
    const fake = forgeCertificate({
      subject,
      publicKeyPem: spareKeys.publicKeyPem,
      signer: { privateKeyPem: spareKeys.privateKeyPem },
      extensions: caExtensions(bc, kcs),
    });
    const leaf = forgeCertificate({
      publicKeyPem: pki.authorities["ES-MJ"]!.sign.publicKeyPem,
      signer: { certPem: fake.toString(), privateKeyPem: spareKeys.privateKeyPem },
      extensions: profileExtensions("sign", {}, fake.toString()),
    });
    rejects(
      () => validateCertificate(leaf, { ca: fake, role: "sign", at: pki.now }),
      "CERT_NOT_CA",
      `cA ${bc} keyCertSign ${kcs}`,
    );
    rejects(() => validateCaCertificate(fake, pki.now), "CERT_NOT_CA");
  }
  rejects(
    () => validateCaCertificate(pki.authorities["ES-MJ"]!.sign.certificate, pki.now),
    "CERT_NOT_CA",
  );
});

test("CERT_EXPIRED / CERT_NOT_YET_VALID: every instant in `at` counts, bounds are inclusive", () => {
  const cert = pki.authorities["ES-MJ"]!.sign.certificate;
  const notAfter = new Date(pki.now.getTime() + 365 * DAY);
  const notBefore = new Date(pki.now.getTime() - 5 * 60_000);
  check(cert, "sign", { at: [notBefore, notAfter] });
  rejects(() => check(cert, "sign", { at: new Date(notAfter.getTime() + 1000) }), "CERT_EXPIRED");
  rejects(
    () => check(cert, "sign", { at: [pki.now, new Date(notAfter.getTime() + DAY)] }),
    "CERT_EXPIRED",
  );
  rejects(
    () => check(cert, "sign", { at: new Date(notBefore.getTime() - 1000) }),
    "CERT_NOT_YET_VALID",
  );
  // The leaf alone out of its window, the CA within its own.
  const late = hostileLeaf("sign", {}, { notBefore: new Date(pki.now.getTime() + DAY) });
  rejects(() => check(late, "sign"), "CERT_NOT_YET_VALID");
  const gone = hostileLeaf("sign", {}, { notAfter: new Date(pki.now.getTime() - 1000) });
  rejects(() => check(gone, "sign"), "CERT_EXPIRED");
  rejects(
    () => validateCaCertificate(pki.ca.certificate, new Date(pki.now.getTime() + 800 * DAY)),
    "CERT_EXPIRED",
  );
  rejects(() => check(cert, "sign", { at: [] }), "INPUT_INVALID");
});

test("CERT_REVOKED: the directory's normalized serial", () => {
  const key = pki.authorities["ES-MJ"]!.enc;
  assert.equal(normalizeSerial(key.certificate.serialNumber), key.serial);
  check(key.certificate, "enc", { revokedSerials: new Set(["ABCDEF"]) });
  rejects(
    () => check(key.certificate, "enc", { revokedSerials: new Set([key.serial]) }),
    "CERT_REVOKED",
  );
});

test("CERT_KEY_USAGE: key separation and the role profiles", () => {
  const a = pki.authorities["ES-MJ"]!;
  rejects(() => check(a.enc.certificate, "sign"), "CERT_KEY_USAGE", "enc as sign");
  rejects(() => check(a.tls.certificate, "sign"), "CERT_KEY_USAGE", "tls as sign");
  rejects(() => check(a.sign.certificate, "tls"), "CERT_KEY_USAGE", "sign as tls");
  rejects(() => check(a.sign.certificate, "directory"), "CERT_KEY_USAGE", "sign as directory");
  const cases: [string, Exclude<Role, "ca">, Record<string, Record<string, unknown> | null>][] = [
    [
      "leaf with cA",
      "sign",
      { basicConstraints: { name: "basicConstraints", cA: true, critical: true } },
    ],
    [
      "sign with keyEncipherment",
      "sign",
      {
        keyUsage: {
          name: "keyUsage",
          critical: true,
          digitalSignature: true,
          nonRepudiation: true,
          keyEncipherment: true,
        },
      },
    ],
    ["sign without keyUsage", "sign", { keyUsage: null }],
    ["sign with an EKU", "sign", { extKeyUsage: { name: "extKeyUsage", clientAuth: true } }],
    ["tls without clientAuth", "tls", { extKeyUsage: { name: "extKeyUsage", serverAuth: true } }],
    [
      "enc with digitalSignature",
      "enc",
      {
        keyUsage: {
          name: "keyUsage",
          critical: true,
          keyEncipherment: true,
          digitalSignature: true,
        },
      },
    ],
  ];
  for (const [label, role, patch] of cases) {
    rejects(() => check(hostileLeaf(role, patch), role), "CERT_KEY_USAGE", label);
  }
  assert.deepEqual(readExtensions(a.tls.certificate).extKeyUsage, [
    EKU_SERVER_AUTH,
    EKU_CLIENT_AUTH,
  ]);
});

test("CERT_CRITICAL_EXTENSION: an unknown critical extension, in the leaf or the CA", () => {
  const leaf = hostileLeaf("sign", {
    unknown: { id: "1.3.6.1.4.1.55555.9.9", critical: true, value: nullDer() },
  });
  rejects(() => check(leaf, "sign"), "CERT_CRITICAL_EXTENSION");
  // nameConstraints is RFC 5280, but not part of the mlax profile: critical means refuse.
  const constrained = hostileLeaf("sign", {
    nameConstraints: { id: "2.5.29.30", critical: true, value: permitDnsDer("example.org") },
  });
  rejects(() => check(constrained, "sign"), "CERT_CRITICAL_EXTENSION");
  const caKeys = spareKeys;
  const subject = [{ name: "commonName", value: "odd CA" }];
  const oddCa = forgeCertificate({
    subject,
    publicKeyPem: caKeys.publicKeyPem,
    signer: { privateKeyPem: caKeys.privateKeyPem },
    extensions: [
      { name: "basicConstraints", cA: true, critical: true },
      { name: "keyUsage", critical: true, keyCertSign: true },
      { id: "1.3.6.1.4.1.55555.9.9", critical: true, value: nullDer() },
    ],
  });
  rejects(() => validateCaCertificate(oddCa, pki.now), "CERT_CRITICAL_EXTENSION");
});

test("CERT_SUBJECT_MISMATCH: another authority's CN, or two CNs", () => {
  const cert = pki.authorities["ES-MJ"]!.sign.certificate;
  rejects(() => check(cert, "sign", { expectedCommonName: "CO-FGN" }), "CERT_SUBJECT_MISMATCH");
  const twoNames = hostileLeaf(
    "sign",
    {},
    {
      subject: [
        { name: "commonName", value: "ES-MJ" },
        { name: "commonName", value: "CO-FGN" },
      ],
    },
  );
  assert.equal(subjectCommonName(twoNames), undefined);
  rejects(() => check(twoNames, "sign", { expectedCommonName: "ES-MJ" }), "CERT_SUBJECT_MISMATCH");
});

test("CERT_WEAK_KEY: a 1024-bit leaf, and a 1024-bit CA", () => {
  const weak = pki.issue("ES-MJ", "sign", { bits: 1024 });
  rejects(() => check(weak.certificate, "sign"), "CERT_WEAK_KEY");
  const weakCa = createNetworkCa({
    subject: { commonName: "weak CA" },
    keyPair: weakKeys,
    now: pki.now,
    days: 30,
  });
  const ca = parseCertificatePem(weakCa.certPem);
  rejects(() => validateCaCertificate(ca, pki.now), "CERT_WEAK_KEY");
  const leaf = issueCertificate({
    ca: { certPem: weakCa.certPem, privateKeyPem: weakKeys.privateKeyPem },
    subject: { commonName: "ES-MJ" },
    role: "sign",
    publicKeyPem: spareKeys.publicKeyPem,
    now: pki.now,
    days: 10,
  });
  rejects(
    () => validateCertificate(parseCertificatePem(leaf.certPem), { ca, role: "sign", at: pki.now }),
    "CERT_WEAK_KEY",
  );
});

test("CERT_MALFORMED: undecodable DER, a duplicated extension", () => {
  rejects(() => readExtensions(Buffer.from("not a certificate")), "CERT_MALFORMED");
  rejects(() => readExtensions(Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01])), "CERT_MALFORMED");
  const twice = forgeCertificate({
    publicKeyPem: spareKeys.publicKeyPem,
    signer: caSigner(),
    extensions: [...profileExtensions("sign"), { name: "subjectKeyIdentifier" }],
  });
  rejects(() => check(twice, "sign"), "CERT_MALFORMED");
  assert.equal(classifyRole(twice), undefined);
  assert.equal(subjectCommonName(twice), undefined);
});

// --- validateChain -----------------------------------------------------------------------------

test("validateChain: leaf to network CA, peer names, usages", () => {
  const tls = pki.authorities["ES-MJ"]!.tls.certificate;
  const path = validateChain({
    leaf: tls,
    anchors: [impostor.ca.certificate, pki.ca.certificate],
    at: pki.now,
    extKeyUsage: [EKU_SERVER_AUTH],
    keyUsage: ["digitalSignature"],
    peerName: { kind: "DNS", value: "LocalHost" },
  });
  assert.deepEqual(
    path.certificates.map((c) => c.fingerprint256),
    [tls.fingerprint256, pki.ca.certificate.fingerprint256],
  );
  validateChain({
    leaf: tls,
    anchors: [pki.ca.certificate],
    at: pki.now,
    peerName: { kind: "IP", value: "127.0.0.1" },
  });
  rejects(
    () =>
      validateChain({
        leaf: tls,
        anchors: [pki.ca.certificate],
        at: pki.now,
        peerName: { kind: "DNS", value: "example.org" },
      }),
    "CERT_SUBJECT_MISMATCH",
  );
  rejects(
    () =>
      validateChain({
        leaf: pki.authorities["ES-MJ"]!.sign.certificate,
        anchors: [pki.ca.certificate],
        at: pki.now,
        keyUsage: ["keyEncipherment"],
      }),
    "CERT_KEY_USAGE",
  );
  rejects(
    () => validateChain({ leaf: tls, anchors: [impostor.ca.certificate], at: pki.now }),
    "CERT_CHAIN_INVALID",
  );
  rejects(
    () =>
      validateChain({
        leaf: tls,
        anchors: [pki.ca.certificate],
        at: new Date(pki.now.getTime() + 400 * DAY),
      }),
    "CERT_EXPIRED",
  );
});

test("validateChain: an intermediate under the pathLen 0 network CA is CERT_PATH_LENGTH", () => {
  const intermediateSubject = [{ name: "commonName", value: "mlax intermediate" }];
  const intermediate = forgeCertificate({
    subject: intermediateSubject,
    publicKeyPem: spareKeys.publicKeyPem,
    signer: caSigner(),
    extensions: [
      { name: "basicConstraints", cA: true, critical: true },
      { name: "keyUsage", critical: true, keyCertSign: true, cRLSign: true },
      { name: "subjectKeyIdentifier" },
      akiOf(pki.ca.certPem),
    ],
  });
  const leaf = forgeCertificate({
    publicKeyPem: pki.authorities["CO-FGN"]!.sign.publicKeyPem,
    signer: { certPem: intermediate.toString(), privateKeyPem: spareKeys.privateKeyPem },
    extensions: profileExtensions("sign", {}, intermediate.toString()),
  });
  rejects(
    () =>
      validateChain({
        leaf,
        intermediates: [intermediate],
        anchors: [pki.ca.certificate],
        at: pki.now,
      }),
    "CERT_PATH_LENGTH",
  );
  // With the intermediate itself as the anchor, the same leaf validates.
  validateChain({ leaf, anchors: [intermediate], at: pki.now });
  // And without it there is no path at all.
  rejects(
    () => validateChain({ leaf, anchors: [pki.ca.certificate], at: pki.now }),
    "CERT_CHAIN_INVALID",
  );
  // The mlax profile refuses it outright: not issued by the network CA.
  rejects(() => check(leaf, "sign"), "CERT_UNTRUSTED");
});

/** NameConstraints ::= SEQUENCE { permittedSubtrees [0] { GeneralSubtree { dNSName } } }. */
function permitDnsDer(host: string): string {
  const { asn1 } = forge;
  const dns = asn1.create(asn1.Class.CONTEXT_SPECIFIC, 2, false, host);
  const subtree = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [dns]);
  const permitted = asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [subtree]);
  return asn1
    .toDer(asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [permitted]))
    .getBytes();
}

function nullDer(): string {
  return forge.asn1
    .toDer(forge.asn1.create(forge.asn1.Class.UNIVERSAL, forge.asn1.Type.NULL, false, ""))
    .getBytes();
}
