/**
 * `mlax directory show|renew`, and the steps every command that edits the directory shares:
 * read the network's signing material, verify the current edition, sign the next one, verify it
 * as a node would, then replace certs/directory.jws atomically.
 */
import type { X509Certificate } from "node:crypto";
import type { Command } from "commander";
import { z } from "zod";
import { signDirectory } from "../directory/build-directory.ts";
import { certificateStatus } from "../directory/directory-trust.ts";
import { renewDirectory } from "../directory/edit-directory.ts";
import { type Directory, loadDirectory } from "../directory/load-directory.ts";
import { DIRECTORY_LIMITS, type DirectoryContent, REQUEST_KINDS } from "../directory/schema.ts";
import { certificateSha256, normalizeSerial } from "../pki/fingerprint.ts";
import {
  type CertsLayout,
  certsLayout,
  type LoadedKey,
  readCertificateFile,
  readLocalKey,
  readTextFile,
  writePublicFile,
} from "./files.ts";
import {
  type CliIo,
  formatTable,
  parseInput,
  printJson,
  printLine,
  printWarning,
  safeText,
} from "./output.ts";

export interface NetworkMaterial {
  readonly layout: CertsLayout;
  readonly ca: X509Certificate;
  readonly caCertPem: string;
  readonly caKeyPem: string;
  readonly signer: LoadedKey;
  /** The current edition, verified (a stale one is accepted: editing is how it gets fresh). */
  readonly directory: Directory;
}

/** Reads certs/ca/* and certs/directory.jws, checking the keys and the current edition. */
export async function readNetworkMaterial(
  layout: CertsLayout,
  now: Date,
): Promise<NetworkMaterial> {
  const ca = await readLocalKey(layout.caCert, layout.caKey);
  const signer = await readLocalKey(layout.directoryCert, layout.directoryKey);
  const jws = (await readTextFile(layout.directoryJws, DIRECTORY_LIMITS.maxJwsChars)).trim();
  const directory = await loadDirectory(jws, { ca: ca.certificate, now, allowStale: true });
  return {
    layout,
    ca: ca.certificate,
    caCertPem: ca.certPem,
    caKeyPem: ca.privateKeyPem,
    signer,
    directory,
  };
}

/**
 * Signs `content`, verifies the result exactly as a node would (not stale, serial not lower than
 * the current one) and writes it to certs/directory.jws.
 */
export async function publishDirectory(
  layout: CertsLayout,
  content: DirectoryContent,
  options: {
    readonly ca: X509Certificate;
    readonly signer: LoadedKey;
    readonly now: Date;
    readonly minSerial?: number;
  },
): Promise<Directory> {
  const jws = await signDirectory(content, { signer: options.signer, ca: options.ca });
  const directory = await loadDirectory(jws, {
    ca: options.ca,
    now: options.now,
    minSerial: options.minSerial,
  });
  await writePublicFile(layout.directoryJws, `${jws}\n`);
  return directory;
}

function isoOf(x509Date: string): string {
  return new Date(Date.parse(x509Date)).toISOString();
}

/** The machine-readable view of a verified directory (`directory show --json`). */
export function describeDirectory(directory: Directory, ca: X509Certificate, now: Date) {
  return {
    network: directory.network,
    serial: directory.serial,
    issuedAt: directory.issuedAt,
    nextUpdate: directory.nextUpdate,
    stale: directory.stale,
    signer: {
      subject: directory.signer.subject,
      serial: normalizeSerial(directory.signer.serialNumber),
      sha256: certificateSha256(directory.signer),
    },
    authorities: directory.authorities.map((a) => ({
      id: a.id,
      name: a.name,
      country: a.country,
      endpoint: a.endpoint,
      languages: a.languages,
      competences: a.competences,
      certificates: a.certificates.map((c) => ({
        role: c.role,
        serial: normalizeSerial(c.certificate.serialNumber),
        sha256: c.sha256,
        notBefore: isoOf(c.certificate.validFrom),
        notAfter: isoOf(c.certificate.validTo),
        status: certificateStatus(c, directory, { ca, at: now }),
      })),
    })),
    revoked: directory.revoked,
  };
}

type DirectoryView = ReturnType<typeof describeDirectory>;

function printDirectory(io: CliIo, view: DirectoryView, caPath: string): void {
  printLine(io, `directory of network ${safeText(view.network)}, serial ${view.serial}`);
  printLine(
    io,
    `issued ${view.issuedAt}, next update ${view.nextUpdate}${view.stale ? " (STALE: nodes refuse it)" : ""}`,
  );
  printLine(
    io,
    `signed by ${view.signer.subject.replace(/\n/g, ", ")}, verified against ${caPath}`,
  );
  printLine(io);
  printLine(
    io,
    formatTable(
      ["ID", "NAME", "ENDPOINT", "LANGUAGES", "COMPETENCES"],
      view.authorities.map((a) => [
        a.id,
        safeText(a.name),
        a.endpoint,
        a.languages.join(","),
        a.competences.length === REQUEST_KINDS.length ? "all" : a.competences.join(","),
      ]),
    ),
  );
  printLine(io);
  printLine(
    io,
    formatTable(
      ["ID", "ROLE", "SERIAL", "NOT AFTER", "STATUS", "SHA-256"],
      view.authorities.flatMap((a) =>
        a.certificates.map((c) => [a.id, c.role, c.serial, c.notAfter, c.status, c.sha256]),
      ),
    ),
  );
  if (view.revoked.length > 0) {
    printLine(io);
    printLine(
      io,
      formatTable(
        ["REVOKED SERIAL", "REVOKED AT", "REASON"],
        view.revoked.map((r) => [r.serial, r.revokedAt, safeText(r.reason ?? "")]),
      ),
    );
  }
}

const showOptionsSchema = z.object({
  certs: z.string().min(1),
  ca: z.string().min(1).optional(),
  file: z.string().min(1).optional(),
  json: z.boolean().optional(),
});

const renewOptionsSchema = z.object({
  certs: z.string().min(1),
  directoryDays: z.coerce.number().int().min(1).max(3650),
  json: z.boolean().optional(),
});

export function registerDirectoryCommands(program: Command, io: CliIo): void {
  const directory = program
    .command("directory")
    .description("inspect and maintain the signed directory of authorities");

  directory
    .command("show")
    .description("verify the signed directory against the network CA and list its authorities")
    .option("--certs <dir>", "certs folder written by `mlax pki init`", "certs")
    .option("--ca <file>", "network CA certificate (default <certs>/ca/ca.crt)")
    .option("--file <file>", "directory JWS (default <certs>/directory.jws)")
    .option("--json", "print JSON")
    .action(async (raw: unknown) => {
      const options = parseInput(showOptionsSchema, raw);
      const layout = certsLayout(options.certs);
      const caPath = options.ca ?? layout.caCert;
      const ca = await readCertificateFile(caPath);
      const jws = await readTextFile(
        options.file ?? layout.directoryJws,
        DIRECTORY_LIMITS.maxJwsChars,
      );
      const now = io.now();
      const loaded = await loadDirectory(jws.trim(), { ca, now, allowStale: true });
      if (loaded.stale) {
        printWarning(
          io,
          `the directory is past its nextUpdate (${loaded.nextUpdate}); nodes refuse it`,
        );
      }
      const view = describeDirectory(loaded, ca, now);
      if (options.json) printJson(io, view);
      else printDirectory(io, view, caPath);
    });

  directory
    .command("renew")
    .description("sign the same directory again with serial + 1 and a fresh nextUpdate")
    .option("--certs <dir>", "certs folder written by `mlax pki init`", "certs")
    .option("--directory-days <n>", "days until the next update is due", "90")
    .option("--json", "print JSON")
    .action(async (raw: unknown) => {
      const options = parseInput(renewOptionsSchema, raw);
      const now = io.now();
      const material = await readNetworkMaterial(certsLayout(options.certs), now);
      const next = renewDirectory(material.directory.content, {
        now,
        validityDays: options.directoryDays,
      });
      const published = await publishDirectory(material.layout, next, {
        ca: material.ca,
        signer: material.signer,
        now,
        minSerial: material.directory.serial + 1,
      });
      if (options.json) {
        printJson(io, { serial: published.serial, nextUpdate: published.nextUpdate });
      } else {
        printLine(io, `directory serial ${published.serial}, next update ${published.nextUpdate}`);
      }
    });
}
