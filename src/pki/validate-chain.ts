/**
 * Generic certification path validation (RFC 5280 §6), for the x509-limbo conformance harness and
 * for paths with intermediates. mlax's own certificates are checked by validate-certificate.ts
 * against the one network CA; this is the general tool, held to the same rule: signatures with
 * node:crypto, extensions through extensions.ts, never node-forge (THREATS.md).
 *
 * Path building (RFC 4158) follows issuer/subject names from the leaf towards a trust anchor,
 * depth first, anchors before intermediates. It never loops: a certificate whose subject and key
 * are already on the path is skipped (§5.2), and the work is bounded (edges tried, signatures
 * checked, name constraint comparisons). Every complete candidate path is then validated as a
 * whole; the first that holds is returned, otherwise the first specific failure is thrown.
 *
 * Profile: RFC 5280 with a few stricter choices, stated where they are made: v3 only, a leaf is
 * never a CA, extensions that RFC 5280 requires to be (non-)critical must be, AKI holds a key
 * identifier only, RSA ≥ 2048 (multiple of 8) / P-256 / P-384 / P-521 / Ed25519 keys and SHA-2
 * (or EdDSA) signatures. Not implemented (paths that would need them are refused, never passed):
 * policy processing (critical policy extensions are unknown critical extensions), directoryName,
 * URI and other name-constraint forms, CRLs.
 */
import type { KeyObject, X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import { PkiError } from "../errors.ts";
import {
  type CertificateInfo,
  type GeneralNameEntry,
  type GeneralSubtree,
  type KeyUsageBit,
  OID_AUTHORITY_INFO_ACCESS,
  OID_AUTHORITY_KEY_IDENTIFIER,
  OID_BASIC_CONSTRAINTS,
  OID_EXT_KEY_USAGE,
  OID_KEY_USAGE,
  OID_NAME_CONSTRAINTS,
  OID_SUBJECT_ALT_NAME,
  OID_SUBJECT_KEY_IDENTIFIER,
  readCertificate,
} from "./extensions.ts";

/** The name a TLS client expects its server to present (RFC 6125, RFC 9525). */
export interface PeerName {
  readonly kind: "DNS" | "IP";
  readonly value: string;
}

export interface ValidateChainOptions {
  readonly leaf: X509Certificate;
  /** Untrusted certificates that may serve as intermediates, in any order. */
  readonly intermediates?: readonly X509Certificate[];
  /** Trust anchors. Their extensions and validity are checked too. */
  readonly anchors: readonly X509Certificate[];
  readonly at: Date;
  /** Key usages the leaf must allow (when it carries the keyUsage extension). */
  readonly keyUsage?: readonly KeyUsageBit[];
  /** Extended key usage OIDs the leaf must list (when it carries the extension). */
  readonly extKeyUsage?: readonly string[];
  /** When set, the leaf's subjectAltName must match it (the subject CN never does). */
  readonly peerName?: PeerName;
  /** Most intermediates between leaf and anchor, self-issued ones not counted. Default 4. */
  readonly maxDepth?: number;
}

export interface CertificationPath {
  /** Leaf first, trust anchor last. */
  readonly certificates: readonly X509Certificate[];
  readonly anchor: X509Certificate;
}

const DEFAULT_MAX_DEPTH = 4;
/** Self-issued intermediates (key rollover) allowed on top of maxDepth. */
const SELF_ISSUED_ALLOWANCE = 2;
const MAX_EDGES = 1024;
const MAX_SIGNATURE_CHECKS = 256;
const MAX_NAME_CONSTRAINT_CHECKS = 1 << 16;

/** Extensions this validator processes; any other critical one refuses the path (§4.2). */
const KNOWN_EXTENSIONS: ReadonlySet<string> = new Set([
  OID_BASIC_CONSTRAINTS,
  OID_KEY_USAGE,
  OID_EXT_KEY_USAGE,
  OID_SUBJECT_ALT_NAME,
  OID_NAME_CONSTRAINTS,
  OID_SUBJECT_KEY_IDENTIFIER,
  OID_AUTHORITY_KEY_IDENTIFIER,
  OID_AUTHORITY_INFO_ACCESS,
]);
/** §4.2.1.1, §4.2.1.2, §4.2.2.1: conforming CAs MUST mark these non-critical. */
const MUST_BE_NONCRITICAL: ReadonlySet<string> = new Set([
  OID_AUTHORITY_KEY_IDENTIFIER,
  OID_SUBJECT_KEY_IDENTIFIER,
  OID_AUTHORITY_INFO_ACCESS,
]);
/** §4.2.1.10, §4.2.1.11: MUST be critical. */
const MUST_BE_CRITICAL: ReadonlySet<string> = new Set([OID_NAME_CONSTRAINTS, "2.5.29.36"]);

/** sha{256,384,512}WithRSAEncryption, RSASSA-PSS, ecdsa-with-SHA{256,384,512}, Ed25519. */
const SIGNATURE_ALGORITHMS: ReadonlySet<string> = new Set([
  "1.2.840.113549.1.1.11",
  "1.2.840.113549.1.1.12",
  "1.2.840.113549.1.1.13",
  "1.2.840.113549.1.1.10",
  "1.2.840.10045.4.3.2",
  "1.2.840.10045.4.3.3",
  "1.2.840.10045.4.3.4",
  "1.3.101.112",
]);
/** P-256, P-384, P-521, by name (node) and by OID (the certificate's own encoding). */
const EC_CURVES: ReadonlyMap<string, string> = new Map([
  ["prime256v1", "1.2.840.10045.3.1.7"],
  ["secp384r1", "1.3.132.0.34"],
  ["secp521r1", "1.3.132.0.35"],
]);

interface Candidate {
  readonly cert: X509Certificate;
  readonly info: CertificateInfo;
  readonly anchor: boolean;
  /** Subject and key: the same pair twice on a path is a loop (RFC 4158 §5.2). */
  readonly loopKey: string;
  /** Issuer name equals subject name (RFC 5280 §3.3 "self-issued"). */
  readonly selfIssued: boolean;
  key?: KeyObject | null;
}

interface SearchState {
  edges: number;
  signatureChecks: number;
  readonly verified: Map<string, boolean>;
  firstError: PkiError | undefined;
}

function candidate(cert: X509Certificate, anchor: boolean): Candidate {
  const info = readCertificate(cert);
  return {
    cert,
    info,
    anchor,
    loopKey: `${info.subject.toString("hex")}/${info.subjectPublicKeyInfo.toString("hex")}`,
    selfIssued: info.issuer.equals(info.subject),
  };
}

function publicKeyOf(c: Candidate): KeyObject | null {
  if (c.key === undefined) {
    try {
      c.key = c.cert.publicKey;
    } catch {
      c.key = null;
    }
  }
  return c.key;
}

function bounded(state: SearchState, kind: "edges" | "signatureChecks", max: number): void {
  state[kind] += 1;
  if (state[kind] > max) {
    throw new PkiError("CERT_CHAIN_INVALID", `path building gave up after ${max} ${kind}`);
  }
}

/** `issuer`'s key verifies `child`'s signature (node:crypto), cached per pair. */
function verifies(child: Candidate, issuer: Candidate, state: SearchState): boolean {
  const pair = `${child.cert.fingerprint256}>${issuer.cert.fingerprint256}`;
  const known = state.verified.get(pair);
  if (known !== undefined) return known;
  bounded(state, "signatureChecks", MAX_SIGNATURE_CHECKS);
  const key = publicKeyOf(issuer);
  let ok = false;
  try {
    ok = key !== null && child.cert.verify(key);
  } catch {
    ok = false;
  }
  state.verified.set(pair, ok);
  return ok;
}

/** §4.2.1.1: when both identifiers are present they must agree. */
function keyIdentifiersAgree(child: CertificateInfo, issuer: CertificateInfo): boolean {
  const kid = child.extensions.authorityKeyIdentifier?.keyIdentifier;
  const ski = issuer.extensions.subjectKeyIdentifier;
  return !kid || !ski || kid.equals(ski);
}

// --- time ---------------------------------------------------------------------------------------

/**
 * RFC 5280 §4.1.2.5: the validity period is inclusive at both ends, with one-second granularity,
 * so an instant is compared by its whole second.
 */
export function assertWithinValidity(info: CertificateInfo, at: Date, what = "certificate"): void {
  const t = Math.floor(at.getTime() / 1000) * 1000;
  if (Number.isNaN(t)) throw new PkiError("INPUT_INVALID", "the validation time is not a date");
  if (t < info.notBefore.getTime()) {
    throw new PkiError(
      "CERT_NOT_YET_VALID",
      `the ${what} is not valid before ${info.notBefore.toISOString()}`,
    );
  }
  if (t > info.notAfter.getTime()) {
    throw new PkiError("CERT_EXPIRED", `the ${what} expired at ${info.notAfter.toISOString()}`);
  }
}

// --- names --------------------------------------------------------------------------------------

const LDH_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;

/** RFC 5280 §4.2.1.6 preferred name syntax; `*` allowed as a whole leftmost label if asked. */
function isHostname(name: string, allowWildcard: boolean): boolean {
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.split(".");
  return labels.every(
    (label, i) =>
      LDH_LABEL.test(label) || (allowWildcard && i === 0 && label === "*" && labels.length > 1),
  );
}

/** RFC 5280 §4.2.1.6: an rfc822Name is a Mailbox, `local-part@domain`. */
function isMailbox(value: string): boolean {
  const at = value.indexOf("@");
  if (at <= 0 || at !== value.lastIndexOf("@")) return false;
  return /^[\x21-\x7e]+$/.test(value.slice(0, at)) && isHostname(value.slice(at + 1), false);
}

function parseIpv4(text: string): number[] | undefined {
  if (isIP(text) !== 4) return undefined;
  return text.split(".").map(Number);
}

/** Textual IPv4 / IPv6 address to its 4 or 16 octets (zone ids refused). */
export function parseIpAddress(text: string): Buffer | undefined {
  const v4 = parseIpv4(text);
  if (v4) return Buffer.from(v4);
  if (isIP(text) !== 6 || text.includes("%")) return undefined;
  let s = text;
  const lastColon = s.lastIndexOf(":");
  const embedded = parseIpv4(s.slice(lastColon + 1));
  if (embedded) {
    const [a = 0, b = 0, c = 0, d = 0] = embedded;
    s = `${s.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", tail] = s.split("::");
  const headGroups = head ? head.split(":") : [];
  const tailGroups = tail ? tail.split(":") : [];
  const fill = tail === undefined ? 0 : 8 - headGroups.length - tailGroups.length;
  const groups = [...headGroups, ...Array<string>(fill).fill("0"), ...tailGroups];
  if (groups.length !== 8) return undefined;
  const out = Buffer.alloc(16);
  for (const [i, g] of groups.entries()) out.writeUInt16BE(Number.parseInt(g, 16), i * 2);
  return out;
}

/** RFC 6125 §6.4.3: `*` is a whole leftmost label, matches one label, and needs two more. */
function dnsPresentedMatches(presented: string, host: string): boolean {
  const p = presented.toLowerCase().split(".");
  const h = host.toLowerCase().split(".");
  if (p.length !== h.length) return false;
  if (p[0] === "*") {
    return p.length >= 3 && (h[0] ?? "") !== "" && p.slice(1).join(".") === h.slice(1).join(".");
  }
  return p.join(".") === h.join(".");
}

function assertPeerName(leaf: CertificateInfo, peer: PeerName): void {
  const sans = leaf.extensions.subjectAltNames ?? [];
  let matched = false;
  if (peer.kind === "DNS") {
    const host = peer.value;
    matched =
      isHostname(host, false) &&
      sans.some((n) => n.type === "dns" && dnsPresentedMatches(n.value, host));
  } else {
    const ip = parseIpAddress(peer.value);
    matched = ip !== undefined && sans.some((n) => n.type === "ip" && n.value.equals(ip));
  }
  if (!matched) {
    throw new PkiError(
      "CERT_SUBJECT_MISMATCH",
      `the leaf's subjectAltName does not match ${peer.kind}:${peer.value}`,
    );
  }
}

// --- name constraints (§4.2.1.10, §6.1.3 (b)(c)) -------------------------------------------------

function dnsWithin(name: string, constraint: string): boolean {
  const n = name.toLowerCase();
  const c = constraint.toLowerCase();
  return c === "" || n === c || n.endsWith(`.${c}`);
}

/**
 * A wildcard dNSName `*.B` stands for every one-label child of B. Excluded: refuse when any of
 * them could fall in the subtree. Permitted: accept only when all of them do (CVE-2025-61727).
 */
function dnsMatches(name: string, constraint: string, excluded: boolean): boolean {
  if (!name.startsWith("*.")) return dnsWithin(name, constraint);
  const base = name.slice(2);
  if (dnsWithin(base, constraint)) return true;
  if (!excluded) return false;
  const c = constraint.toLowerCase();
  const b = base.toLowerCase();
  return c.endsWith(`.${b}`) && !c.slice(0, -b.length - 1).includes(".");
}

function emailMatches(name: string, constraint: string): boolean {
  const at = name.lastIndexOf("@");
  const local = name.slice(0, at);
  const host = name.slice(at + 1).toLowerCase();
  const c = constraint.toLowerCase();
  if (constraint.includes("@")) {
    const cat = constraint.lastIndexOf("@");
    return local === constraint.slice(0, cat) && host === constraint.slice(cat + 1).toLowerCase();
  }
  return c.startsWith(".") ? host.endsWith(c) : host === c;
}

function ipMatches(name: Buffer, constraint: Buffer): boolean {
  if (constraint.length !== name.length * 2) return false;
  for (let i = 0; i < name.length; i++) {
    const mask = constraint[name.length + i] ?? 0;
    if (((name[i] ?? 0) & mask) !== ((constraint[i] ?? 0) & mask)) return false;
  }
  return true;
}

function contiguousMask(mask: Buffer): boolean {
  let bits = "";
  for (const b of mask) bits += b.toString(2).padStart(8, "0");
  return /^1*0*$/.test(bits);
}

function assertSubtreeWellFormed(subtree: GeneralSubtree): void {
  const { base } = subtree;
  // §4.2.1.10: minimum MUST be zero and maximum MUST be absent.
  let ok = subtree.minimum === 0 && subtree.maximum === undefined;
  if (base.type === "dns") ok &&= base.value === "" || isHostname(base.value, false);
  if (base.type === "ip") {
    ok &&=
      (base.value.length === 8 || base.value.length === 32) &&
      contiguousMask(base.value.subarray(base.value.length / 2));
  }
  if (base.type === "email") {
    const v = base.value;
    ok &&= v.includes("@") ? isMailbox(v) : isHostname(v.startsWith(".") ? v.slice(1) : v, false);
  }
  if (!ok) throw new PkiError("CERT_MALFORMED", "a name constraint is malformed");
}

function sameKind(a: GeneralNameEntry, b: GeneralNameEntry): boolean {
  return a.type === b.type && (a.type !== "other" || b.type !== "other" || a.tag === b.tag);
}

/** undefined: this validator cannot compare names of this kind. */
function nameMatches(
  name: GeneralNameEntry,
  base: GeneralNameEntry,
  excluded: boolean,
): boolean | undefined {
  if (name.type === "dns" && base.type === "dns")
    return dnsMatches(name.value, base.value, excluded);
  if (name.type === "email" && base.type === "email") return emailMatches(name.value, base.value);
  if (name.type === "ip" && base.type === "ip") return ipMatches(name.value, base.value);
  return undefined;
}

function namesOf(info: CertificateInfo): GeneralNameEntry[] {
  const names: GeneralNameEntry[] = [];
  if (!info.subjectEmpty) names.push({ type: "directory", value: info.subject });
  for (const email of info.subjectEmails) names.push({ type: "email", value: email });
  names.push(...(info.extensions.subjectAltNames ?? []));
  return names;
}

function refuseName(reason: string): PkiError {
  return new PkiError("CERT_CHAIN_INVALID", `name constraints: ${reason}`);
}

function assertNameConstraints(path: readonly Candidate[]): void {
  let comparisons = 0;
  for (let k = 1; k < path.length; k++) {
    const nc = path[k]?.info.extensions.nameConstraints;
    if (!nc) continue;
    for (let j = 0; j < k; j++) {
      const c = path[j]!;
      // §6.1.3 (b): self-issued intermediates are not checked.
      if (j > 0 && c.selfIssued) continue;
      const names = namesOf(c.info);
      comparisons += names.length * (nc.permitted.length + nc.excluded.length);
      if (comparisons > MAX_NAME_CONSTRAINT_CHECKS) throw refuseName("too many comparisons");
      for (const name of names) {
        for (const sub of nc.excluded) {
          if (!sameKind(name, sub.base)) continue;
          const hit = nameMatches(name, sub.base, true);
          if (hit === undefined) throw refuseName(`${name.type} constraints are not supported`);
          if (hit) throw refuseName(`a ${name.type} name is excluded`);
        }
        const relevant = nc.permitted.filter((sub) => sameKind(name, sub.base));
        if (relevant.length === 0) continue;
        const hits = relevant.map((sub) => nameMatches(name, sub.base, false));
        if (hits.includes(undefined))
          throw refuseName(`${name.type} constraints are not supported`);
        if (!hits.includes(true)) throw refuseName(`a ${name.type} name is not permitted`);
      }
    }
  }
}

// --- per-certificate profile -------------------------------------------------------------------

function malformed(message: string): PkiError {
  return new PkiError("CERT_MALFORMED", message);
}

/** RFC 5280 §4.1 and §4.2 structure rules that do not depend on the position in the path. */
function assertWellFormed(info: CertificateInfo): void {
  const ext = info.extensions;
  if (info.version !== 3) throw malformed("not an X.509 v3 certificate");
  if (!info.signatureAlgorithmsMatch) {
    throw malformed("signatureAlgorithm differs from tbsCertificate.signature (§4.1.1.2)");
  }
  // §4.1.2.2: a positive INTEGER of at most 20 octets.
  const serial = info.serialNumber;
  if (serial.length === 0 || serial.length > 20 || (serial[0] ?? 0) & 0x80) {
    throw malformed("serialNumber is negative or longer than 20 octets");
  }
  if (serial.every((b) => b === 0)) throw malformed("serialNumber is zero");
  if (info.issuerEmpty) throw malformed("the issuer name is empty (§4.1.2.4)");
  for (const oid of ext.allOids) {
    const critical = ext.criticalOids.includes(oid);
    if (critical && MUST_BE_NONCRITICAL.has(oid)) throw malformed(`extension ${oid} is critical`);
    if (!critical && MUST_BE_CRITICAL.has(oid)) throw malformed(`extension ${oid} is not critical`);
  }
  // §4.1.2.6 / §4.2.1.6: an empty subject needs a critical subjectAltName; otherwise (stricter
  // than the SHOULD) the subjectAltName is non-critical.
  const sanCritical = ext.criticalOids.includes(OID_SUBJECT_ALT_NAME);
  if (info.subjectEmpty ? !ext.subjectAltNames || !sanCritical : sanCritical) {
    throw malformed("subjectAltName criticality does not fit the subject (§4.2.1.6)");
  }
  for (const name of ext.subjectAltNames ?? []) {
    const ok =
      name.type === "dns"
        ? isHostname(name.value, true)
        : name.type === "email"
          ? isMailbox(name.value)
          : name.type === "ip"
            ? name.value.length === 4 || name.value.length === 16
            : true;
    if (!ok) throw malformed(`a subjectAltName ${name.type} entry is malformed`);
  }
  // Stricter: AKI carries keyIdentifier only (what the network CA and the Web PKI issue).
  const aki = ext.authorityKeyIdentifier;
  if (aki && (!aki.keyIdentifier || aki.hasIssuerOrSerial)) {
    throw malformed("authorityKeyIdentifier must hold a keyIdentifier only");
  }
  for (const subtree of [
    ...(ext.nameConstraints?.permitted ?? []),
    ...(ext.nameConstraints?.excluded ?? []),
  ]) {
    assertSubtreeWellFormed(subtree);
  }
  const unknown = ext.criticalOids.filter((oid) => !KNOWN_EXTENSIONS.has(oid));
  if (unknown.length > 0) {
    throw new PkiError(
      "CERT_CRITICAL_EXTENSION",
      `unknown critical extension ${unknown.join(", ")}`,
      {
        details: { oids: unknown },
      },
    );
  }
}

function assertKeyPolicy(c: Candidate): void {
  const key = publicKeyOf(c);
  const type = key?.asymmetricKeyType;
  const details = key?.asymmetricKeyDetails;
  const bits = details?.modulusLength ?? 0;
  const ok =
    type === "rsa" || type === "rsa-pss"
      ? bits >= 2048 && bits <= 16384 && bits % 8 === 0
      : type === "ec"
        ? EC_CURVES.get(details?.namedCurve ?? "") === c.info.publicKeyNamedCurve
        : type === "ed25519";
  if (!ok) {
    throw new PkiError(
      "CERT_WEAK_KEY",
      `public key not accepted (${type ?? "unreadable"} ${bits || ""})`,
    );
  }
}

function isSelfSigned(c: Candidate, state: SearchState): boolean {
  return c.selfIssued && verifies(c, c, state);
}

/** Everything RFC 5280 §6.1 asks of one complete candidate path (leaf first, anchor last). */
function assertPath(
  path: readonly Candidate[],
  options: ValidateChainOptions,
  state: SearchState,
): void {
  const n = path.length;
  const leaf = path[0]!;
  const anchor = path[n - 1]!;
  for (const [i, c] of path.entries()) {
    const what = i === 0 ? "leaf" : i === n - 1 ? "trust anchor" : "intermediate";
    assertWellFormed(c.info);
    assertKeyPolicy(c);
    if (i < n - 1 && !SIGNATURE_ALGORITHMS.has(c.info.signatureAlgorithm)) {
      throw new PkiError(
        "CERT_WEAK_KEY",
        `signature algorithm ${c.info.signatureAlgorithm} not accepted`,
      );
    }
    // §6.1.3 (a)(2), and the anchor too.
    assertWithinValidity(c.info, options.at, what);
    const ext = c.info.extensions;
    const isCa = ext.basicConstraints?.ca === true;
    // §4.2.1.9: keyCertSign without cA is not allowed.
    if (ext.keyUsage?.has("keyCertSign") && !isCa) {
      throw new PkiError("CERT_KEY_USAGE", `the ${what} asserts keyCertSign without cA`);
    }
    if (ext.nameConstraints && !isCa) {
      throw malformed("nameConstraints in a certificate that is not a CA (§4.2.1.10)");
    }
    // §4.2.1.1: every certificate but a self-signed one names its issuer's key.
    if (i < n - 1) {
      if (!ext.authorityKeyIdentifier) throw malformed(`the ${what} has no authorityKeyIdentifier`);
      if (!keyIdentifiersAgree(c.info, path[i + 1]!.info)) {
        throw malformed(`the ${what}'s authorityKeyIdentifier does not name its issuer`);
      }
    }
  }
  // §6.1.1 (d): the anchor stands for its name and key, so its own AKI is not required; a
  // self-signed one that has an AKI must name its own key.
  if (isSelfSigned(anchor, state) && !keyIdentifiersAgree(anchor.info, anchor.info)) {
    throw malformed("the self-signed trust anchor's authorityKeyIdentifier is not its own key");
  }
  // Issuers (§6.1.4 (k)(n)): CA, keyCertSign if keyUsage is present, a subject and an SKI.
  for (let i = 1; i < n; i++) {
    const c = path[i]!;
    const ext = c.info.extensions;
    if (!ext.basicConstraints?.ca) {
      throw new PkiError("CERT_NOT_CA", "an issuing certificate is not a CA (basicConstraints)");
    }
    if (!ext.criticalOids.includes(OID_BASIC_CONSTRAINTS)) {
      throw malformed("a CA's basicConstraints is not critical (§4.2.1.9)");
    }
    if (ext.keyUsage && !ext.keyUsage.has("keyCertSign")) {
      throw new PkiError("CERT_NOT_CA", "an issuing certificate lacks keyCertSign");
    }
    if (c.info.subjectEmpty) throw malformed("a CA has an empty subject (§4.1.2.6)");
    if (!ext.subjectKeyIdentifier) throw malformed("a CA has no subjectKeyIdentifier (§4.2.1.2)");
  }
  // Stricter than RFC 5280: a leaf is an end entity.
  if (leaf.info.extensions.basicConstraints?.ca) {
    throw new PkiError("CERT_KEY_USAGE", "the leaf is a CA certificate");
  }
  // §6.1.4 (l)(m): pathLenConstraint counts the non-self-issued intermediates below.
  for (let i = 1; i < n; i++) {
    const limit = path[i]!.info.extensions.basicConstraints?.pathLength;
    if (limit === undefined) continue;
    const below = path.slice(1, i).filter((c) => !c.selfIssued).length;
    if (below > limit) {
      throw new PkiError("CERT_PATH_LENGTH", `pathLenConstraint ${limit} exceeded (${below})`);
    }
  }
  assertNameConstraints(path);
  // §4.2.1.3, §4.2.1.12: the leaf's usages, when the caller asks for some.
  const ku = leaf.info.extensions.keyUsage;
  const missingKu = (options.keyUsage ?? []).filter((u) => ku && !ku.has(u));
  const eku = leaf.info.extensions.extKeyUsage;
  const missingEku = (options.extKeyUsage ?? []).filter((oid) => eku && !eku.includes(oid));
  if (missingKu.length > 0 || missingEku.length > 0) {
    throw new PkiError("CERT_KEY_USAGE", "the leaf does not allow the requested usage", {
      details: { keyUsage: missingKu, extKeyUsage: missingEku },
    });
  }
  if (options.peerName) assertPeerName(leaf.info, options.peerName);
}

// --- path building ------------------------------------------------------------------------------

function parseOptional(cert: X509Certificate, anchor: boolean): Candidate | undefined {
  try {
    return candidate(cert, anchor);
  } catch (e) {
    if (e instanceof PkiError) return undefined; // an unusable certificate is simply not used
    throw e;
  }
}

/**
 * Finds and validates a certification path from `leaf` to one of `anchors`. Returns the path, or
 * throws PkiError: the first specific failure of a complete candidate path, else
 * CERT_CHAIN_INVALID (no path, or the work bound was reached).
 */
export function validateChain(options: ValidateChainOptions): CertificationPath {
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
  if (!Number.isInteger(maxDepth) || maxDepth < 0 || maxDepth > 255) {
    throw new PkiError("INPUT_INVALID", "maxDepth must be an integer in 0..255");
  }
  const leaf = candidate(options.leaf, false);
  const byDer = new Set<string>();
  const bySubject = new Map<string, Candidate[]>();
  const add = (c: Candidate | undefined) => {
    if (!c || byDer.has(c.cert.fingerprint256)) return;
    byDer.add(c.cert.fingerprint256);
    const key = c.info.subject.toString("hex");
    bySubject.set(key, [...(bySubject.get(key) ?? []), c]);
  };
  for (const a of options.anchors) add(parseOptional(a, true));
  for (const i of options.intermediates ?? []) add(parseOptional(i, false));

  const state: SearchState = {
    edges: 0,
    signatureChecks: 0,
    verified: new Map(),
    firstError: undefined,
  };
  const extend = (path: Candidate[]): Candidate[] | undefined => {
    const child = path[path.length - 1]!;
    for (const issuer of bySubject.get(child.info.issuer.toString("hex")) ?? []) {
      if (path.some((p) => p.loopKey === issuer.loopKey)) continue;
      if (!keyIdentifiersAgree(child.info, issuer.info)) continue;
      const next = [...path, issuer];
      if (!issuer.anchor) {
        const intermediates = next.slice(1);
        const counted = intermediates.filter((c) => !c.selfIssued).length;
        if (counted > maxDepth || intermediates.length > maxDepth + SELF_ISSUED_ALLOWANCE) continue;
      }
      bounded(state, "edges", MAX_EDGES);
      if (!verifies(child, issuer, state)) continue;
      if (!issuer.anchor) {
        const found = extend(next);
        if (found) return found;
        continue;
      }
      try {
        assertPath(next, options, state);
        return next;
      } catch (e) {
        if (!(e instanceof PkiError) || e.code === "INPUT_INVALID") throw e;
        state.firstError ??= e;
      }
    }
    return undefined;
  };
  const path = extend([leaf]);
  if (!path) {
    throw (
      state.firstError ??
      new PkiError("CERT_CHAIN_INVALID", "no certification path to a trust anchor")
    );
  }
  return { certificates: path.map((c) => c.cert), anchor: path[path.length - 1]!.cert };
}
