/**
 * `mlax pki init|add|revoke`: the network CA, the authorities' keys and certificates, and the
 * editions of the signed directory, in the certs/ layout of files.ts (DESIGN.md trust model).
 *
 * Default endpoints: the authority at position i (0-based) of `--authorities` gets
 * `https://127.0.0.1:<8443 + i>`; `pki add` takes the first such port no listed authority uses.
 * Each tls certificate names `localhost`, `127.0.0.1` and its endpoint host.
 */

import { createPrivateKey } from "node:crypto";
import { readdir } from "node:fs/promises";
import { isIP } from "node:net";
import type { Command } from "commander";
import { z } from "zod";
import { signDirectory } from "../directory/build-directory.ts";
import {
  addAuthority,
  createDirectoryContent,
  DEFAULT_DIRECTORY_VALIDITY_DAYS,
  revokeAuthority,
  revokeSerial,
} from "../directory/edit-directory.ts";
import { defaultAuthorityProfile } from "../directory/known-authorities.ts";
import { loadDirectory } from "../directory/load-directory.ts";
import {
  type AuthorityEntry,
  endpointSchema,
  LANGUAGE_TAG,
  REQUEST_KINDS,
  type RequestKind,
} from "../directory/schema.ts";
import { DirectoryError, InputError } from "../errors.ts";
import { certificateSha256, normalizeSerial } from "../pki/fingerprint.ts";
import {
  type CaMaterial,
  createNetworkCa,
  issueCertificate,
  parseCertificatePem,
} from "../pki/issue.ts";
import { DEFAULT_RSA_BITS, generateRsaKeyPairAsync, MIN_RSA_BITS } from "../pki/keys.ts";
import { AUTHORITY_ID_PATTERN, AUTHORITY_ROLES, type AuthorityRole } from "../pki/roles.ts";
import { publishDirectory, readNetworkMaterial } from "./directory.ts";
import {
  type CertsLayout,
  certsLayout,
  ensurePrivateDir,
  pathExists,
  writePrivateKey,
  writePublicFile,
} from "./files.ts";
import {
  type CliIo,
  parseInput,
  printJson,
  printLine,
  printWarning,
  UsageError,
} from "./output.ts";

export const DEFAULT_BASE_PORT = 8443;
export const DEFAULT_CERT_DAYS = 825;
export const DEFAULT_CA_DAYS = 3650;
export const DEFAULT_NETWORK = "mlax-local";
const MAX_BITS = 8192;

// --- option schemas (commander hands over strings; these validate and convert) ---

const authorityId = z.string().regex(AUTHORITY_ID_PATTERN, {
  error: (issue) => `${JSON.stringify(issue.input)} is not an authority id like ES-MJ`,
});
const intOption = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const bitsOption = intOption(MIN_RSA_BITS, MAX_BITS);
const daysOption = intOption(1, 36_500);
const directoryDaysOption = intOption(1, 3650);
/** The network name goes into certificate CNs (ub-common-name 64): short and plain. */
const networkName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,47}$/, "network name: 1..48 letters, digits, space . _ -");

function commaList(value: string): string[] {
  return value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

const unique = (values: readonly string[]) => new Set(values).size === values.length;

const idList = z
  .string()
  .transform(commaList)
  .pipe(z.array(authorityId).min(1).max(500).refine(unique, "authority ids must be unique"));

const languageList = z
  .string()
  .transform(commaList)
  .pipe(
    z
      .array(z.string().regex(LANGUAGE_TAG, "language tag like es or pt-BR"))
      .min(1)
      .max(32)
      .refine(unique, "languages must be unique"),
  );

const competenceList = z
  .string()
  .transform(commaList)
  .pipe(z.array(z.enum(REQUEST_KINDS)).min(1).refine(unique, "competences must be unique"));

const endpointAssignment = z
  .string()
  .regex(/^[^=]+=.+$/, "endpoint as ID=https://host:port")
  .transform((s) => {
    const i = s.indexOf("=");
    return { id: s.slice(0, i), url: s.slice(i + 1) };
  })
  .pipe(z.object({ id: authorityId, url: endpointSchema }));

const initOptionsSchema = z.object({
  out: z.string().min(1),
  authorities: idList,
  bits: bitsOption,
  days: daysOption,
  caDays: daysOption,
  directoryDays: directoryDaysOption,
  network: networkName,
  endpoint: z.array(endpointAssignment).max(500),
  force: z.boolean().optional(),
  json: z.boolean().optional(),
});

const addOptionsSchema = z.object({
  certs: z.string().min(1),
  name: z
    .string()
    .min(1)
    .max(200)
    .regex(/^[^\p{Cc}]+$/u, "printable name")
    .optional(),
  endpoint: endpointSchema.optional(),
  languages: languageList.optional(),
  competences: competenceList.optional(),
  bits: bitsOption,
  days: daysOption,
  directoryDays: directoryDaysOption,
  force: z.boolean().optional(),
  json: z.boolean().optional(),
});

const revokeOptionsSchema = z.object({
  certs: z.string().min(1),
  reason: z
    .string()
    .min(1)
    .max(200)
    .regex(/^[^\p{Cc}]+$/u, "printable reason")
    .optional(),
  directoryDays: directoryDaysOption,
  json: z.boolean().optional(),
});

/** A revocation target: an authority id, or a certificate serial in hex (colons allowed). */
const revokeTarget = z.union([
  authorityId.transform((id) => ({ authorityId: id }) as const),
  z
    .string()
    .regex(/^[0-9A-Fa-f]{1,2}(?::?[0-9A-Fa-f]{1,2}){0,40}$/, "an authority id or a hex serial")
    .transform((serial) => ({ serial }) as const),
]);

// --- issuing ---

interface IssuedKey {
  readonly role: AuthorityRole;
  readonly certPem: string;
  readonly keyPem: string;
  readonly serial: string;
  readonly sha256: string;
}

interface IssuedAuthority {
  readonly entry: AuthorityEntry;
  readonly keys: readonly IssuedKey[];
}

interface AuthoritySpec {
  readonly id: string;
  readonly name: string;
  readonly endpoint: string;
  readonly languages: readonly string[];
  readonly competences: readonly RequestKind[];
}

function endpointHost(endpoint: string): string {
  return new URL(endpoint).hostname.replace(/^\[(.*)\]$/, "$1");
}

async function issueAuthority(
  spec: AuthoritySpec,
  ca: CaMaterial,
  options: { bits: number; days: number; now: Date },
): Promise<IssuedAuthority> {
  const pairs = await Promise.all(AUTHORITY_ROLES.map(() => generateRsaKeyPairAsync(options.bits)));
  const host = endpointHost(spec.endpoint);
  const dnsNames = [...new Set(["localhost", ...(isIP(host) ? [] : [host])])];
  const ipAddresses = [...new Set(["127.0.0.1", ...(isIP(host) ? [host] : [])])];
  const keys = AUTHORITY_ROLES.map((role, i): IssuedKey => {
    const pair = pairs[i]!;
    const issued = issueCertificate({
      ca,
      subject: { commonName: spec.id, country: spec.id.slice(0, 2) },
      role,
      publicKeyPem: pair.publicKeyPem,
      now: options.now,
      days: options.days,
      dnsNames: role === "tls" ? dnsNames : [],
      ipAddresses: role === "tls" ? ipAddresses : [],
    });
    const certificate = parseCertificatePem(issued.certPem);
    return {
      role,
      certPem: issued.certPem,
      keyPem: pair.privateKeyPem,
      serial: issued.serial,
      sha256: certificateSha256(certificate),
    };
  });
  const entry: AuthorityEntry = {
    id: spec.id,
    name: spec.name,
    country: spec.id.slice(0, 2),
    endpoint: spec.endpoint,
    languages: [...spec.languages],
    competences: [...spec.competences],
    certificates: keys.map((k) => ({
      role: k.role,
      sha256: k.sha256,
      der: parseCertificatePem(k.certPem).raw.toString("base64"),
    })),
  };
  return { entry, keys };
}

async function writeAuthority(layout: CertsLayout, issued: IssuedAuthority): Promise<void> {
  await ensurePrivateDir(layout.authorityDir(issued.entry.id));
  for (const key of issued.keys) {
    await writePrivateKey(layout.authorityFile(issued.entry.id, key.role, "key"), key.keyPem);
    await writePublicFile(layout.authorityFile(issued.entry.id, key.role, "crt"), key.certPem);
  }
}

function describeIssued(layout: CertsLayout, issued: IssuedAuthority) {
  const { entry } = issued;
  return {
    id: entry.id,
    name: entry.name,
    endpoint: entry.endpoint,
    languages: entry.languages,
    competences: entry.competences,
    certificates: Object.fromEntries(
      issued.keys.map((k) => [
        k.role,
        {
          serial: k.serial,
          sha256: k.sha256,
          cert: layout.authorityFile(entry.id, k.role, "crt"),
          key: layout.authorityFile(entry.id, k.role, "key"),
        },
      ]),
    ),
  };
}

/** The first default port (8443, 8444, …) that no listed 127.0.0.1/localhost endpoint uses. */
function nextDefaultEndpoint(entries: readonly AuthorityEntry[]): string {
  const used = new Set(
    entries
      .map((e) => new URL(e.endpoint))
      .filter((u) => u.hostname === "127.0.0.1" || u.hostname === "localhost")
      .map((u) => Number(u.port || 443)),
  );
  let port = DEFAULT_BASE_PORT;
  while (used.has(port)) port++;
  return `https://127.0.0.1:${port}`;
}

async function listDir(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch {
    return [];
  }
}

// --- commands ---

async function initCommand(io: CliIo, raw: unknown): Promise<void> {
  const options = parseInput(initOptionsSchema, raw);
  const endpoints = new Map<string, string>();
  for (const { id, url } of options.endpoint) {
    if (!options.authorities.includes(id)) {
      throw new UsageError(`--endpoint names ${id}, which is not in --authorities`);
    }
    if (endpoints.has(id)) throw new UsageError(`--endpoint given twice for ${id}`);
    endpoints.set(id, url);
  }
  const layout = certsLayout(options.out);
  if (!options.force) {
    for (const path of [layout.caCert, layout.caKey, layout.directoryJws]) {
      if (await pathExists(path)) {
        throw new InputError(
          "INPUT_INVALID",
          `${path} exists: a new CA would orphan every certificate of the old one (use --force to replace it)`,
          { details: { path } },
        );
      }
    }
  }
  const now = io.now();

  // Keys first, all in parallel on the thread pool; then certificates (fast, synchronous).
  const [caPair, directoryPair] = await Promise.all([
    generateRsaKeyPairAsync(options.bits),
    generateRsaKeyPairAsync(options.bits),
  ]);
  const caIssued = createNetworkCa({
    subject: { commonName: `${options.network} network CA` },
    keyPair: caPair,
    now,
    days: options.caDays,
  });
  const ca: CaMaterial = { certPem: caIssued.certPem, privateKeyPem: caPair.privateKeyPem };
  const caCertificate = parseCertificatePem(caIssued.certPem);
  const directoryIssued = issueCertificate({
    ca,
    subject: { commonName: `${options.network} directory` },
    role: "directory",
    publicKeyPem: directoryPair.publicKeyPem,
    now,
    days: options.caDays,
  });
  const issued = await Promise.all(
    options.authorities.map((id, i) => {
      const profile = defaultAuthorityProfile(id);
      return issueAuthority(
        {
          id,
          name: profile.name,
          endpoint: endpoints.get(id) ?? `https://127.0.0.1:${DEFAULT_BASE_PORT + i}`,
          languages: profile.languages,
          competences: profile.competences,
        },
        ca,
        { bits: options.bits, days: options.days, now },
      );
    }),
  );

  // The first edition, signed and verified before anything is written.
  const content = createDirectoryContent(
    options.network,
    issued.map((a) => a.entry),
    { now, validityDays: options.directoryDays },
  );
  const signer = {
    authorityId: `${options.network} directory`,
    certificate: parseCertificatePem(directoryIssued.certPem),
    privateKey: createPrivateKey(directoryPair.privateKeyPem),
  };
  const jws = await signDirectory(content, { signer, ca: caCertificate });
  const directory = await loadDirectory(jws, { ca: caCertificate, now });

  await ensurePrivateDir(layout.root);
  await ensurePrivateDir(layout.caDir);
  await writePrivateKey(layout.caKey, caPair.privateKeyPem);
  await writePublicFile(layout.caCert, caIssued.certPem);
  await writePrivateKey(layout.directoryKey, directoryPair.privateKeyPem);
  await writePublicFile(layout.directoryCert, directoryIssued.certPem);
  await ensurePrivateDir(layout.authoritiesDir);
  for (const authority of issued) await writeAuthority(layout, authority);
  await writePublicFile(layout.directoryJws, `${jws}\n`);

  const leftovers = (await listDir(layout.authoritiesDir)).filter(
    (name) => !options.authorities.includes(name),
  );
  if (leftovers.length > 0) {
    printWarning(
      io,
      `${layout.authoritiesDir} still holds ${leftovers.join(", ")}, not in the new directory`,
    );
  }
  if (options.json) {
    printJson(io, {
      out: layout.root,
      network: directory.network,
      serial: directory.serial,
      nextUpdate: directory.nextUpdate,
      ca: { cert: layout.caCert, key: layout.caKey, serial: caIssued.serial },
      directory: layout.directoryJws,
      authorities: issued.map((a) => describeIssued(layout, a)),
    });
    return;
  }
  printLine(
    io,
    `network ${directory.network}: CA ${layout.caCert}, directory ${layout.directoryJws}`,
  );
  printLine(io, `directory serial ${directory.serial}, next update ${directory.nextUpdate}`);
  for (const a of issued) {
    printLine(
      io,
      `  ${a.entry.id.padEnd(20)} ${a.entry.endpoint.padEnd(28)} ${layout.authorityDir(a.entry.id)}`,
    );
  }
  printLine(io, `private keys are mode 0600; keep ${layout.caKey} off any node in production`);
}

async function addCommand(io: CliIo, rawId: unknown, raw: unknown): Promise<void> {
  const id = parseInput(authorityId, rawId);
  const options = parseInput(addOptionsSchema, raw);
  const now = io.now();
  const material = await readNetworkMaterial(certsLayout(options.certs), now);
  const { layout, directory } = material;
  if (directory.findAuthority(id)) {
    throw new DirectoryError("AUTHORITY_EXISTS", `${id} is already in the directory`, {
      details: { authorityId: id },
    });
  }
  if (!options.force && (await pathExists(layout.authorityDir(id)))) {
    throw new InputError(
      "INPUT_INVALID",
      `${layout.authorityDir(id)} exists (use --force to replace its keys)`,
    );
  }
  const profile = defaultAuthorityProfile(id);
  const issued = await issueAuthority(
    {
      id,
      name: options.name ?? profile.name,
      endpoint: options.endpoint ?? nextDefaultEndpoint(directory.content.authorities),
      languages: options.languages ?? profile.languages,
      competences: options.competences ?? profile.competences,
    },
    { certPem: material.caCertPem, privateKeyPem: material.caKeyPem },
    { bits: options.bits, days: options.days, now },
  );
  const next = addAuthority(directory.content, issued.entry, {
    now,
    validityDays: options.directoryDays,
  });
  await ensurePrivateDir(layout.authoritiesDir);
  await writeAuthority(layout, issued);
  const published = await publishDirectory(layout, next, {
    ca: material.ca,
    signer: material.signer,
    now,
    minSerial: directory.serial + 1,
  });
  if (options.json) {
    printJson(io, {
      serial: published.serial,
      nextUpdate: published.nextUpdate,
      authority: describeIssued(layout, issued),
    });
    return;
  }
  printLine(io, `added ${id} (${issued.entry.endpoint}), keys in ${layout.authorityDir(id)}`);
  printLine(io, `directory serial ${published.serial}, next update ${published.nextUpdate}`);
}

async function revokeCommand(io: CliIo, rawTarget: unknown, raw: unknown): Promise<void> {
  const target = parseInput(revokeTarget, rawTarget);
  const options = parseInput(revokeOptionsSchema, raw);
  const now = io.now();
  const material = await readNetworkMaterial(certsLayout(options.certs), now);
  const edit = { now, validityDays: options.directoryDays, reason: options.reason };
  const { content: next, revoked } =
    "authorityId" in target
      ? revokeAuthority(material.directory.content, target.authorityId, edit)
      : revokeSerial(material.directory.content, target.serial, edit);
  const listed = new Set(
    material.directory.authorities.flatMap((a) =>
      a.certificates.map((c) => normalizeSerial(c.certificate.serialNumber)),
    ),
  );
  const published = await publishDirectory(material.layout, next, {
    ca: material.ca,
    signer: material.signer,
    now,
    minSerial: material.directory.serial + 1,
  });
  const unlisted = revoked.filter((r) => !listed.has(r.serial)).map((r) => r.serial);
  if (unlisted.length > 0) {
    printWarning(io, `serial ${unlisted.join(", ")} is not a certificate listed in the directory`);
  }
  if (options.json) {
    printJson(io, { serial: published.serial, nextUpdate: published.nextUpdate, revoked });
    return;
  }
  for (const r of revoked) printLine(io, `revoked ${r.serial}${r.reason ? ` (${r.reason})` : ""}`);
  printLine(io, `directory serial ${published.serial}, next update ${published.nextUpdate}`);
}

export function registerPkiCommands(program: Command, io: CliIo): void {
  const pki = program
    .command("pki")
    .description("network CA, authority keys and certificates, directory editions");

  pki
    .command("init")
    .description(
      "create a network CA, keys and certificates for each authority, and the signed directory",
    )
    .requiredOption("--authorities <ids>", "comma-separated authority ids, e.g. ES-MJ,CO-FGN,IT-MG")
    .option("--out <dir>", "certs folder to write", "certs")
    .option("--bits <n>", "RSA key size", String(DEFAULT_RSA_BITS))
    .option(
      "--days <n>",
      "validity of the authority certificates, in days",
      String(DEFAULT_CERT_DAYS),
    )
    .option(
      "--ca-days <n>",
      "validity of the CA and directory signer certificates",
      String(DEFAULT_CA_DAYS),
    )
    .option(
      "--directory-days <n>",
      "days until the directory's next update is due",
      String(DEFAULT_DIRECTORY_VALIDITY_DAYS),
    )
    .option("--network <name>", "network name", DEFAULT_NETWORK)
    .option(
      "--endpoint <ID=URL>",
      `peer endpoint of one authority (repeatable; default https://127.0.0.1:${DEFAULT_BASE_PORT}+i)`,
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option("--force", "replace an existing CA")
    .option("--json", "print JSON")
    .action((raw: unknown) => initCommand(io, raw));

  pki
    .command("add")
    .description("issue keys and certificates for a new authority and add it to the directory")
    .argument("<id>", "authority id, e.g. FR-MJ")
    .option("--certs <dir>", "certs folder written by `mlax pki init`", "certs")
    .option("--name <name>", "display name")
    .option("--endpoint <url>", "peer endpoint (https)")
    .option("--languages <tags>", "accepted languages, comma-separated BCP 47 tags, e.g. es,en")
    .option("--competences <kinds>", `request kinds handled: ${REQUEST_KINDS.join(",")}`)
    .option("--bits <n>", "RSA key size", String(DEFAULT_RSA_BITS))
    .option("--days <n>", "certificate validity in days", String(DEFAULT_CERT_DAYS))
    .option(
      "--directory-days <n>",
      "days until the directory's next update is due",
      String(DEFAULT_DIRECTORY_VALIDITY_DAYS),
    )
    .option("--force", "replace an existing key folder for this id")
    .option("--json", "print JSON")
    .action((id: unknown, raw: unknown) => addCommand(io, id, raw));

  pki
    .command("revoke")
    .description("revoke every certificate of an authority, or one certificate serial")
    .argument("<target>", "authority id (all its certificates) or certificate serial (hex)")
    .option("--certs <dir>", "certs folder written by `mlax pki init`", "certs")
    .option("--reason <text>", "reason recorded in the directory")
    .option(
      "--directory-days <n>",
      "days until the directory's next update is due",
      String(DEFAULT_DIRECTORY_VALIDITY_DAYS),
    )
    .option("--json", "print JSON")
    .action((target: unknown, raw: unknown) => revokeCommand(io, target, raw));
}
