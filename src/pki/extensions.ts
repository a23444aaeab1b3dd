/**
 * Reads a certificate's TBSCertificate fields and X.509 v3 extensions (RFC 5280 §4.1, §4.2) with a
 * real ASN.1 parser: @peculiar/asn1-x509 for the typed structures, asn1js for GeneralNames (whose
 * raw octets — iPAddress masks, IA5String bytes — the typed layer would rewrite). node:crypto
 * exposes none of this on Node 20 (THREATS.md). Anything that does not decode is CERT_MALFORMED;
 * this module never throws anything else and never verifies anything.
 *
 * @peculiar/x509 itself needs a global reflect-metadata polyfill (tsyringe), which src/pki must not
 * install; its own schema packages need none.
 */
import { X509Certificate } from "node:crypto";
import { AsnConvert } from "@peculiar/asn1-schema";
import {
  AuthorityInfoAccessSyntax,
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  KeyUsage,
  type Name,
  SubjectKeyIdentifier,
} from "@peculiar/asn1-x509";
import * as asn1js from "asn1js";
import { PkiError } from "../errors.ts";
import type { KeyUsageName } from "./roles.ts";

export const OID_SUBJECT_KEY_IDENTIFIER = "2.5.29.14";
export const OID_KEY_USAGE = "2.5.29.15";
export const OID_SUBJECT_ALT_NAME = "2.5.29.17";
export const OID_BASIC_CONSTRAINTS = "2.5.29.19";
export const OID_NAME_CONSTRAINTS = "2.5.29.30";
export const OID_AUTHORITY_KEY_IDENTIFIER = "2.5.29.35";
export const OID_EXT_KEY_USAGE = "2.5.29.37";
export const OID_AUTHORITY_INFO_ACCESS = "1.3.6.1.5.5.7.1.1";
export const OID_ANY_EXTENDED_KEY_USAGE = "2.5.29.37.0";
const OID_COMMON_NAME = "2.5.4.3";
const OID_EMAIL_ADDRESS = "1.2.840.113549.1.9.1";

/** RFC 5280 §4.2.1.3 bits; the two agreement-only bits are not mlax role usages. */
export type KeyUsageBit = KeyUsageName | "encipherOnly" | "decipherOnly";

/** One GeneralName (RFC 5280 §4.2.1.6) with its raw value where matching needs it. */
export type GeneralNameEntry =
  | { readonly type: "dns"; readonly value: string }
  | { readonly type: "email"; readonly value: string }
  | { readonly type: "uri"; readonly value: string }
  | { readonly type: "ip"; readonly value: Buffer }
  | { readonly type: "directory"; readonly value: Buffer }
  /** otherName [0], x400Address [3], ediPartyName [5], registeredID [8]. */
  | { readonly type: "other"; readonly tag: number };

export interface GeneralSubtree {
  readonly base: GeneralNameEntry;
  readonly minimum: number;
  readonly maximum?: number;
}

export interface NameConstraints {
  readonly permitted: readonly GeneralSubtree[];
  readonly excluded: readonly GeneralSubtree[];
}

export interface CertificateExtensions {
  readonly keyUsage: ReadonlySet<KeyUsageBit> | undefined;
  readonly basicConstraints: { readonly ca: boolean; readonly pathLength?: number } | undefined;
  /** Extended key usage OIDs. */
  readonly extKeyUsage: readonly string[] | undefined;
  readonly subjectAltNames: readonly GeneralNameEntry[] | undefined;
  readonly nameConstraints: NameConstraints | undefined;
  readonly subjectKeyIdentifier: Buffer | undefined;
  readonly authorityKeyIdentifier:
    | { readonly keyIdentifier?: Buffer; readonly hasIssuerOrSerial: boolean }
    | undefined;
  /** Present when the AIA extension is (its content is only checked to be well formed). */
  readonly authorityInfoAccess: number | undefined;
  readonly criticalOids: readonly string[];
  readonly allOids: readonly string[];
}

export interface CertificateInfo {
  /** 1, 2 or 3. */
  readonly version: number;
  /** Content octets of the serialNumber INTEGER (two's complement, as encoded). */
  readonly serialNumber: Buffer;
  /** DER of the issuer and subject Names (re-encoded by the parser, so comparable byte-wise). */
  readonly issuer: Buffer;
  readonly subject: Buffer;
  readonly issuerEmpty: boolean;
  readonly subjectEmpty: boolean;
  readonly subjectCommonNames: readonly string[];
  /** Legacy emailAddress attributes of the subject (RFC 5280 §4.1.2.6). */
  readonly subjectEmails: readonly string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** OID of the outer signatureAlgorithm. */
  readonly signatureAlgorithm: string;
  /** RFC 5280 §4.1.1.2: the outer signatureAlgorithm equals tbsCertificate.signature. */
  readonly signatureAlgorithmsMatch: boolean;
  readonly subjectPublicKeyInfo: Buffer;
  /** subjectPublicKeyInfo.algorithm OID, and its parameters when they are a named curve OID. */
  readonly publicKeyAlgorithm: string;
  readonly publicKeyNamedCurve: string | undefined;
  readonly extensions: CertificateExtensions;
}

const KEY_USAGE_NAMES: Readonly<Record<string, KeyUsageBit>> = {
  digitalSignature: "digitalSignature",
  nonRepudiation: "nonRepudiation",
  keyEncipherment: "keyEncipherment",
  dataEncipherment: "dataEncipherment",
  keyAgreement: "keyAgreement",
  keyCertSign: "keyCertSign",
  crlSign: "cRLSign",
  encipherOnly: "encipherOnly",
  decipherOnly: "decipherOnly",
};

function malformed(message: string, cause?: unknown): PkiError {
  return new PkiError("CERT_MALFORMED", message, { cause });
}

function derOf(cert: X509Certificate | Buffer | Uint8Array): Buffer {
  if (cert instanceof X509Certificate) return cert.raw;
  if (cert instanceof Uint8Array) return Buffer.from(cert);
  throw malformed("expected an X509Certificate or DER bytes");
}

function parseTyped<T>(bytes: ArrayBuffer, type: new () => T, what: string): T {
  try {
    return AsnConvert.parse(bytes, type);
  } catch (cause) {
    throw malformed(`${what} does not decode`, cause);
  }
}

function bytesOf(value: ArrayBuffer | ArrayBufferView): Buffer {
  return ArrayBuffer.isView(value)
    ? Buffer.from(value.buffer, value.byteOffset, value.byteLength)
    : Buffer.from(value);
}

/** A whole DER value with asn1js: no trailing bytes, no decoding error. */
function parseRaw(bytes: Uint8Array, what: string): asn1js.AsnType {
  const { offset, result } = asn1js.fromBER(bytes, { maxDepth: 16, maxNodes: 20_000 });
  if (offset === -1 || offset !== bytes.byteLength || result.error) {
    throw malformed(`${what} does not decode`);
  }
  return result;
}

function childrenOf(node: asn1js.AsnType): asn1js.AsnType[] {
  const value = (node.valueBlock as { value?: unknown }).value;
  return node.idBlock.isConstructed && Array.isArray(value) ? (value as asn1js.AsnType[]) : [];
}

function primitiveBytes(node: asn1js.AsnType, what: string): Buffer {
  const view = (node.valueBlock as { valueHexView?: Uint8Array }).valueHexView;
  if (node.idBlock.isConstructed || !view) throw malformed(`${what} must be a primitive value`);
  return Buffer.from(view);
}

/** IA5String (RFC 5280 §4.2.1.6): ASCII only. */
function ia5(node: asn1js.AsnType, what: string): string {
  const bytes = primitiveBytes(node, what);
  for (const b of bytes) if (b > 0x7f) throw malformed(`${what} is not an IA5String`);
  return bytes.toString("latin1");
}

const CONTEXT_CLASS = 3;

function generalName(node: asn1js.AsnType): GeneralNameEntry {
  const { tagClass, tagNumber } = node.idBlock;
  if (tagClass !== CONTEXT_CLASS) throw malformed("a GeneralName has a non-context tag");
  switch (tagNumber) {
    case 1:
      return { type: "email", value: ia5(node, "an rfc822Name") };
    case 2:
      return { type: "dns", value: ia5(node, "a dNSName") };
    case 6:
      return { type: "uri", value: ia5(node, "a uniformResourceIdentifier") };
    case 7:
      return { type: "ip", value: primitiveBytes(node, "an iPAddress") };
    case 4: {
      // directoryName [4] is EXPLICIT (Name is a CHOICE): one Name inside.
      const inner = childrenOf(node);
      if (inner.length !== 1 || !inner[0]) throw malformed("a directoryName is malformed");
      return { type: "directory", value: Buffer.from(inner[0].valueBeforeDecodeView) };
    }
    case 0:
    case 3:
    case 5:
    case 8:
      return { type: "other", tag: tagNumber };
    default:
      throw malformed(`unknown GeneralName tag [${tagNumber}]`);
  }
}

/** GeneralNames ::= SEQUENCE SIZE (1..MAX) OF GeneralName. */
function parseGeneralNames(bytes: Uint8Array, what: string): GeneralNameEntry[] {
  const root = parseRaw(bytes, what);
  if (!(root instanceof asn1js.Sequence)) throw malformed(`${what} is not a SEQUENCE`);
  const names = childrenOf(root).map(generalName);
  if (names.length === 0) throw malformed(`${what} is empty`);
  return names;
}

function smallInteger(node: asn1js.AsnType, what: string): number {
  const bytes = primitiveBytes(node, what);
  if (bytes.length === 0 || bytes.length > 4 || (bytes[0] ?? 0) & 0x80) {
    throw malformed(`${what} is out of range`);
  }
  return bytes.readUIntBE(0, bytes.length);
}

/** RFC 5280 §4.2.1.10: NameConstraints with GeneralSubtrees SIZE (1..MAX). */
function parseNameConstraints(bytes: Uint8Array): NameConstraints {
  const root = parseRaw(bytes, "nameConstraints");
  if (!(root instanceof asn1js.Sequence)) throw malformed("nameConstraints is not a SEQUENCE");
  const out: { permitted: GeneralSubtree[]; excluded: GeneralSubtree[] } = {
    permitted: [],
    excluded: [],
  };
  const parts = childrenOf(root);
  if (parts.length === 0) throw malformed("nameConstraints is empty");
  let lastTag = -1;
  for (const part of parts) {
    const { tagClass, tagNumber, isConstructed } = part.idBlock;
    if (tagClass !== CONTEXT_CLASS || tagNumber > 1 || tagNumber <= lastTag || !isConstructed) {
      throw malformed("nameConstraints has an unexpected member");
    }
    lastTag = tagNumber;
    const subtrees = childrenOf(part);
    if (subtrees.length === 0) throw malformed("nameConstraints has an empty GeneralSubtrees");
    for (const subtree of subtrees) {
      if (!(subtree instanceof asn1js.Sequence)) throw malformed("a GeneralSubtree is malformed");
      const [base, ...rest] = childrenOf(subtree);
      if (!base) throw malformed("a GeneralSubtree has no base");
      let minimum = 0;
      let maximum: number | undefined;
      for (const field of rest) {
        if (field.idBlock.tagClass !== CONTEXT_CLASS)
          throw malformed("a GeneralSubtree is malformed");
        if (field.idBlock.tagNumber === 0) minimum = smallInteger(field, "minimum");
        else if (field.idBlock.tagNumber === 1) maximum = smallInteger(field, "maximum");
        else throw malformed("a GeneralSubtree is malformed");
      }
      const entry: GeneralSubtree =
        maximum === undefined
          ? { base: generalName(base), minimum }
          : { base: generalName(base), minimum, maximum };
      (tagNumber === 0 ? out.permitted : out.excluded).push(entry);
    }
  }
  return out;
}

function keyUsageOf(bytes: ArrayBuffer): Set<KeyUsageBit> {
  const ku = parseTyped(bytes, KeyUsage, "keyUsage");
  const set = new Set<KeyUsageBit>();
  for (const name of ku.toJSON()) {
    const bit = KEY_USAGE_NAMES[name];
    if (bit) set.add(bit);
  }
  // RFC 5280 §4.2.1.3: when the extension appears, at least one bit MUST be set.
  if (set.size === 0) throw malformed("keyUsage asserts no bit");
  return set;
}

function readExtensionList(cert: Certificate): CertificateExtensions {
  const list = cert.tbsCertificate.extensions ?? [];
  const allOids: string[] = [];
  const criticalOids: string[] = [];
  let keyUsage: Set<KeyUsageBit> | undefined;
  let basicConstraints: CertificateExtensions["basicConstraints"];
  let extKeyUsage: string[] | undefined;
  let subjectAltNames: GeneralNameEntry[] | undefined;
  let nameConstraints: NameConstraints | undefined;
  let subjectKeyIdentifier: Buffer | undefined;
  let authorityKeyIdentifier: CertificateExtensions["authorityKeyIdentifier"];
  let authorityInfoAccess: number | undefined;
  for (const ext of list) {
    const oid = ext.extnID;
    // RFC 5280 §4.2: a certificate MUST NOT include more than one instance of an extension.
    if (allOids.includes(oid)) throw malformed(`extension ${oid} appears twice`);
    allOids.push(oid);
    if (ext.critical) criticalOids.push(oid);
    const value = ext.extnValue.buffer;
    switch (oid) {
      case OID_KEY_USAGE:
        keyUsage = keyUsageOf(value);
        break;
      case OID_BASIC_CONSTRAINTS: {
        const bc = parseTyped(value, BasicConstraints, "basicConstraints");
        const pathLength = bc.pathLenConstraint;
        if (pathLength !== undefined && (!Number.isSafeInteger(pathLength) || pathLength < 0)) {
          throw malformed("basicConstraints pathLenConstraint is out of range");
        }
        basicConstraints =
          pathLength === undefined ? { ca: bc.cA } : { ca: bc.cA, pathLength: pathLength };
        break;
      }
      case OID_EXT_KEY_USAGE: {
        const eku = parseTyped(value, ExtendedKeyUsage, "extKeyUsage");
        // RFC 5280 §4.2.1.12: KeyPurposeId SIZE (1..MAX).
        if (eku.length === 0) throw malformed("extKeyUsage lists no purpose");
        extKeyUsage = [...eku];
        break;
      }
      case OID_SUBJECT_ALT_NAME:
        subjectAltNames = parseGeneralNames(bytesOf(value), "subjectAltName");
        break;
      case OID_NAME_CONSTRAINTS:
        nameConstraints = parseNameConstraints(bytesOf(value));
        break;
      case OID_SUBJECT_KEY_IDENTIFIER:
        subjectKeyIdentifier = bytesOf(
          parseTyped(value, SubjectKeyIdentifier, "subjectKeyIdentifier").buffer,
        );
        break;
      case OID_AUTHORITY_KEY_IDENTIFIER: {
        const aki = parseTyped(value, AuthorityKeyIdentifier, "authorityKeyIdentifier");
        const hasIssuerOrSerial =
          aki.authorityCertIssuer !== undefined || aki.authorityCertSerialNumber !== undefined;
        authorityKeyIdentifier = aki.keyIdentifier
          ? { keyIdentifier: bytesOf(aki.keyIdentifier.buffer), hasIssuerOrSerial }
          : { hasIssuerOrSerial };
        break;
      }
      case OID_AUTHORITY_INFO_ACCESS: {
        const aia = parseTyped(value, AuthorityInfoAccessSyntax, "authorityInfoAccess");
        // RFC 5280 §4.2.2.1: AuthorityInfoAccessSyntax ::= SEQUENCE SIZE (1..MAX).
        if (aia.length === 0) throw malformed("authorityInfoAccess is empty");
        authorityInfoAccess = aia.length;
        break;
      }
      default:
        break;
    }
  }
  return {
    keyUsage,
    basicConstraints,
    extKeyUsage,
    subjectAltNames,
    nameConstraints,
    subjectKeyIdentifier,
    authorityKeyIdentifier,
    authorityInfoAccess,
    criticalOids,
    allOids,
  };
}

function attributeValues(name: Name, oid: string): string[] {
  const values: string[] = [];
  for (const rdn of name) {
    for (const atv of rdn) if (atv.type === oid) values.push(atv.value.toString());
  }
  return values;
}

/** RFC 5480 §2.1.1: ECParameters is a namedCurve OID (specifiedCurve MUST NOT be used). */
function namedCurveOf(parameters: ArrayBuffer | null | undefined): string | undefined {
  if (!parameters) return undefined;
  const { offset, result } = asn1js.fromBER(parameters, { maxDepth: 4, maxNodes: 64 });
  if (offset !== parameters.byteLength || !(result instanceof asn1js.ObjectIdentifier)) {
    return undefined;
  }
  return result.valueBlock.toString();
}

function parseCertificate(der: Buffer): Certificate {
  return parseTyped(
    der.buffer.slice(der.byteOffset, der.byteOffset + der.byteLength) as ArrayBuffer,
    Certificate,
    "the certificate",
  );
}

/** TBSCertificate fields and extensions. Throws PkiError CERT_MALFORMED, nothing else. */
export function readCertificate(cert: X509Certificate | Buffer | Uint8Array): CertificateInfo {
  try {
    const parsed = parseCertificate(derOf(cert));
    const tbs = parsed.tbsCertificate;
    const serialize = (value: unknown) => Buffer.from(AsnConvert.serialize(value));
    return {
      version: tbs.version + 1,
      serialNumber: bytesOf(tbs.serialNumber),
      issuer: serialize(tbs.issuer),
      subject: serialize(tbs.subject),
      issuerEmpty: tbs.issuer.length === 0,
      subjectEmpty: tbs.subject.length === 0,
      subjectCommonNames: attributeValues(tbs.subject, OID_COMMON_NAME),
      subjectEmails: attributeValues(tbs.subject, OID_EMAIL_ADDRESS),
      notBefore: tbs.validity.notBefore.getTime(),
      notAfter: tbs.validity.notAfter.getTime(),
      signatureAlgorithm: parsed.signatureAlgorithm.algorithm,
      signatureAlgorithmsMatch: serialize(parsed.signatureAlgorithm).equals(
        serialize(tbs.signature),
      ),
      subjectPublicKeyInfo: serialize(tbs.subjectPublicKeyInfo),
      publicKeyAlgorithm: tbs.subjectPublicKeyInfo.algorithm.algorithm,
      publicKeyNamedCurve: namedCurveOf(tbs.subjectPublicKeyInfo.algorithm.parameters),
      extensions: readExtensionList(parsed),
    };
  } catch (cause) {
    if (cause instanceof PkiError) throw cause;
    throw malformed("the certificate does not decode", cause);
  }
}

/** The X.509 v3 extensions of a certificate. Throws PkiError CERT_MALFORMED, nothing else. */
export function readExtensions(cert: X509Certificate | Buffer | Uint8Array): CertificateExtensions {
  return readCertificate(cert).extensions;
}
