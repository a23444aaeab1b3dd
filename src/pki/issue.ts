/**
 * Certificate issuance. node-forge builds and signs certificates here and nowhere else; it never
 * verifies anything (THREATS.md): validation lives in validate-certificate.ts on node:crypto.
 */
import { randomBytes, X509Certificate } from "node:crypto";
import forge from "node-forge";
import { PkiError } from "../errors.ts";
import {
  EKU_CLIENT_AUTH,
  EKU_MLAX_DIRECTORY,
  EKU_SERVER_AUTH,
  ROLE_PROFILES,
  type Role,
} from "./roles.ts";

export interface SubjectName {
  /** CN: the authority id for authority certificates. */
  readonly commonName: string;
  readonly organization?: string;
  /** ISO 3166 alpha-2. */
  readonly country?: string;
}

export interface IssuedCertificate {
  readonly certPem: string;
  /** Uppercase hex, no leading zeros. */
  readonly serial: string;
}

export interface CaMaterial {
  readonly certPem: string;
  readonly privateKeyPem: string;
}

export interface IssueOptions {
  readonly ca: CaMaterial;
  readonly subject: SubjectName;
  readonly role: Exclude<Role, "ca">;
  readonly publicKeyPem: string;
  readonly now: Date;
  readonly days: number;
  /** Subject alternative names; tls certificates need the endpoint host here. */
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
}

export interface CreateCaOptions {
  readonly subject: SubjectName;
  readonly keyPair: { readonly privateKeyPem: string; readonly publicKeyPem: string };
  readonly now: Date;
  readonly days: number;
}

const DAY_MS = 86_400_000;
/** Backdate notBefore a little so that peers with slightly slow clocks accept a fresh certificate. */
const BACKDATE_MS = 5 * 60_000;

function randomSerialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f; // positive INTEGER
  if (bytes[0] === 0) bytes[0] = 0x01; // DER-minimal, no leading zero octet
  return bytes.toString("hex").toUpperCase();
}

function subjectAttributes(subject: SubjectName): forge.pki.CertificateField[] {
  const attrs: forge.pki.CertificateField[] = [{ name: "commonName", value: subject.commonName }];
  if (subject.organization) attrs.push({ name: "organizationName", value: subject.organization });
  if (subject.country) attrs.push({ name: "countryName", value: subject.country });
  return attrs;
}

function keyUsageExtension(role: Role): Record<string, unknown> {
  const ext: Record<string, unknown> = { name: "keyUsage", critical: true };
  for (const usage of ROLE_PROFILES[role].keyUsage) ext[usage] = true;
  return ext;
}

function extKeyUsageExtension(role: Role): Record<string, unknown> | undefined {
  const ekus = ROLE_PROFILES[role].extKeyUsage;
  if (ekus.length === 0) return undefined;
  const ext: Record<string, unknown> = { name: "extKeyUsage" };
  for (const oid of ekus) {
    if (oid === EKU_SERVER_AUTH) ext.serverAuth = true;
    else if (oid === EKU_CLIENT_AUTH) ext.clientAuth = true;
    else if (oid === EKU_MLAX_DIRECTORY) ext[oid] = true;
    else ext[oid] = true;
  }
  return ext;
}

function build(
  subject: SubjectName,
  publicKeyPem: string,
  now: Date,
  days: number,
): { cert: forge.pki.Certificate; serial: string } {
  if (!Number.isInteger(days) || days < 1 || days > 36_500) {
    throw new PkiError("INPUT_INVALID", `certificate validity must be 1..36500 days, got ${days}`);
  }
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKeyPem);
  const serial = randomSerialHex();
  cert.serialNumber = serial;
  cert.validity.notBefore = new Date(now.getTime() - BACKDATE_MS);
  cert.validity.notAfter = new Date(now.getTime() + days * DAY_MS);
  cert.setSubject(subjectAttributes(subject));
  return { cert, serial: serial.replace(/^0+(?=.)/, "") };
}

/** A self-signed network CA certificate (basicConstraints cA, pathLen 0: it issues leaves only). */
export function createNetworkCa(options: CreateCaOptions): IssuedCertificate {
  const { cert, serial } = build(
    options.subject,
    options.keyPair.publicKeyPem,
    options.now,
    options.days,
  );
  cert.setIssuer(subjectAttributes(options.subject));
  cert.setExtensions([
    { name: "basicConstraints", cA: true, pathLenConstraint: 0, critical: true },
    keyUsageExtension("ca"),
    { name: "subjectKeyIdentifier" },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(options.keyPair.privateKeyPem), forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), serial };
}

/** An end-entity certificate for one role, issued and signed by the network CA. */
export function issueCertificate(options: IssueOptions): IssuedCertificate {
  const caCert = forge.pki.certificateFromPem(options.ca.certPem);
  const { cert, serial } = build(options.subject, options.publicKeyPem, options.now, options.days);
  // Never outlive the issuer: a leaf valid past its CA would fail validation later anyway.
  if (cert.validity.notAfter > caCert.validity.notAfter) {
    cert.validity.notAfter = caCert.validity.notAfter;
  }
  cert.setIssuer(caCert.subject.attributes);
  const extensions: Record<string, unknown>[] = [
    { name: "basicConstraints", cA: false, critical: true },
    keyUsageExtension(options.role),
    { name: "subjectKeyIdentifier" },
    {
      name: "authorityKeyIdentifier",
      keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes(),
    },
  ];
  const eku = extKeyUsageExtension(options.role);
  if (eku) extensions.push(eku);
  const altNames = [
    ...(options.dnsNames ?? []).map((value) => ({ type: 2, value })),
    ...(options.ipAddresses ?? []).map((ip) => ({ type: 7, ip })),
  ];
  if (altNames.length > 0) extensions.push({ name: "subjectAltName", altNames });
  cert.setExtensions(extensions);
  cert.sign(forge.pki.privateKeyFromPem(options.ca.privateKeyPem), forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), serial };
}

/** Parses PEM with node:crypto (not forge), with a coded error. */
export function parseCertificatePem(pem: string | Buffer): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (cause) {
    throw new PkiError("CERT_MALFORMED", "the certificate cannot be parsed", { cause });
  }
}
