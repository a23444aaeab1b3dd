/**
 * `mlax audit export|verify` (DESIGN.md, "Evidence and audit"): a node's hash-chained audit log,
 * with its checkpoints signed by the authority's sign key, exported as `mlax-audit/1` and verified
 * offline against the network CA.
 *   mlax audit export --data <node data dir> --as ID -o audit.json [--certs certs] [--checkpoint]
 *   mlax audit verify audit.json --ca ca.crt [--directory directory.jws]
 * `verifyAuditFile` is also what `mlax verify` runs on a JSON file with `format: "mlax-audit/1"`.
 */
import type { Command } from "commander";
import { z } from "zod";
import { anchorTrust } from "../directory/anchor-trust.ts";
import { directoryTrust } from "../directory/directory-trust.ts";
import { loadDirectory } from "../directory/load-directory.ts";
import { DIRECTORY_LIMITS } from "../directory/schema.ts";
import { createCheckpointSigner } from "../envelope/audit-checkpoint.ts";
import {
  type AuditExport,
  createAuditExport,
  MAX_AUDIT_EXPORT_BYTES,
  MAX_AUDIT_EXPORT_ENTRIES,
  verifyAuditExport,
} from "../envelope/audit-export.ts";
import type { TrustView } from "../envelope/trust.ts";
import { EvidenceError, InputError, isMlaxError } from "../errors.ts";
import { loadAuthorityKeys, loadNetworkTrust } from "../node/load-identity.ts";
import { AUTHORITY_ID_PATTERN } from "../pki/roles.ts";
import { type AuditCheckpoint, type AuditEntry, openStore } from "../store/index.ts";
import {
  PRIVATE_FILE_MODE,
  pathExists,
  readCertificateFile,
  readTextFile,
  writeFileAtomic,
} from "./files.ts";
import { type CliIo, parseInput, printJson, printLine, printWarning, safeText } from "./output.ts";
import { storePathFor } from "./token.ts";

/** Rows per store read while exporting (the store's page cap). */
const PAGE = 10_000;

export interface AuditVerifyReport {
  readonly ok: true;
  readonly kind: "audit";
  readonly checks: readonly string[];
  readonly summary: Record<string, unknown>;
  /** Conditions that do not fail verification (entries not yet covered by a checkpoint). */
  readonly warnings: readonly string[];
}

/**
 * Verifies an `mlax-audit/1` export (already parsed JSON) and describes what was checked. Throws
 * BUNDLE_MALFORMED, AUDIT_CHAIN_BROKEN (details: seq, reason) or a checkpoint signature code.
 */
export async function verifyAuditFile(
  value: unknown,
  options: { readonly trust: TrustView },
): Promise<AuditVerifyReport> {
  const v = await verifyAuditExport(value, options);
  const checks = [
    `hash chain of ${v.entries} entries recomputed from the genesis hash: seq 1..${v.entries} without gaps, every prevHash and row hash`,
    v.checkpointsVerified > 0
      ? `signed checkpoints: ${v.checkpointsVerified}, each PS256 by the sign key of ${v.authority} with its certificate valid at its signed time, each pinning its row's hash`
      : "no checkpoints to verify",
  ];
  if (v.lastCheckpoint) {
    checks.push(
      `last checkpoint pins seq ${v.lastCheckpoint.seq} (signed ${v.lastCheckpoint.at})${v.headCovered ? ", the head" : ""}`,
    );
  }
  return {
    ok: true,
    kind: "audit",
    checks,
    summary: {
      authority: v.authority,
      exportedAt: v.exportedAt,
      entries: v.entries,
      ...(v.head ? { headSeq: v.head.seq, headHash: v.head.hash } : {}),
      ...(v.firstTime ? { firstTime: v.firstTime, lastTime: v.lastTime } : {}),
      kinds: Object.entries(v.kinds)
        .map(([kind, count]) => `${kind} ${count}`)
        .join(", "),
      checkpoints: v.checkpointsVerified,
      ...(v.lastCheckpoint
        ? { lastCheckpointSeq: v.lastCheckpoint.seq, lastCheckpointAt: v.lastCheckpoint.at }
        : {}),
      headCovered: v.headCovered,
      unsignedEntries: v.unsignedEntries,
    },
    warnings: v.warnings,
  };
}

/** One entry per line: a large export stays greppable and diffable, and is still plain JSON. */
export function formatAuditExport(exported: AuditExport): string {
  const { entries, checkpoints, ...head } = exported;
  const list = (items: readonly unknown[]) =>
    items.length === 0 ? "[]" : `[\n${items.map((item) => JSON.stringify(item)).join(",\n")}\n]`;
  const opening = JSON.stringify(head).slice(0, -1);
  return `${opening},"entries":${list(entries)},"checkpoints":${list(checkpoints)}}\n`;
}

async function readJsonFile(path: string): Promise<unknown> {
  const text = await readTextFile(path, MAX_AUDIT_EXPORT_BYTES);
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new EvidenceError("BUNDLE_MALFORMED", `${path} is not JSON`, { cause });
  }
}

// -------------------------------------------------------------------------------------- export

const exportOptions = z.object({
  data: z.string().min(1),
  certs: z.string().min(1),
  as: z.string().regex(AUTHORITY_ID_PATTERN, "authority id like ES-MJ"),
  out: z.string().min(1),
  checkpoint: z.boolean().optional(),
  json: z.boolean().optional(),
});

async function exportCommand(io: CliIo, raw: unknown): Promise<void> {
  const o = parseInput(exportOptions, raw);
  const now = io.now();
  const path = storePathFor(o.data);
  if (!(await pathExists(path))) {
    throw new InputError("FILE_UNREADABLE", `no node store at ${path} (check --data)`, {
      details: { path },
    });
  }
  const network = await loadNetworkTrust(o.certs, { now, allowStale: true });
  const keys = o.checkpoint ? await loadAuthorityKeys(network, o.as, now) : undefined;

  // The node may be running: SQLite WAL lets both open the file, and the log only grows, so
  // everything up to the head read here is a consistent prefix.
  const store = openStore(path, { now: () => io.now() });
  let signed: AuditCheckpoint | undefined;
  const entries: AuditEntry[] = [];
  let checkpoints: AuditCheckpoint[];
  try {
    if (keys) {
      signed = await store.checkpointAudit(
        createCheckpointSigner(keys.sign, [network.ca], o.as, () => io.now()),
      );
    }
    const headSeq = store.auditHead()?.seq ?? 0;
    if (headSeq > MAX_AUDIT_EXPORT_ENTRIES) {
      throw new InputError(
        "INPUT_TOO_LARGE",
        `the audit log has ${headSeq} entries, over the ${MAX_AUDIT_EXPORT_ENTRIES} an export holds`,
      );
    }
    let afterSeq = 0;
    while (afterSeq < headSeq) {
      const page = store.readAuditLog({ afterSeq, limit: PAGE });
      for (const entry of page) if (entry.seq <= headSeq) entries.push(entry);
      afterSeq = page.at(-1)?.seq ?? headSeq;
    }
    checkpoints = store.listAuditCheckpoints().filter((c) => c.seq <= headSeq);
  } finally {
    store.close();
  }

  const exported = createAuditExport({ authority: o.as, exportedAt: now, entries, checkpoints });
  await writeFileAtomic(o.out, formatAuditExport(exported), PRIVATE_FILE_MODE);
  // Checked as an auditor would with `mlax audit verify --ca`: the file stays for inspection.
  let report: AuditVerifyReport;
  try {
    report = await verifyAuditFile(exported, { trust: anchorTrust({ ca: network.ca }) });
  } catch (error) {
    printWarning(io, `${o.out} was written but does not verify`);
    throw error;
  }
  for (const warning of report.warnings) printWarning(io, warning);
  const result = {
    out: o.out,
    authority: o.as,
    entries: entries.length,
    ...(entries.length > 0 ? { head: { seq: entries.length, hash: entries.at(-1)?.hash } } : {}),
    checkpoints: checkpoints.length,
    ...(signed ? { signedCheckpoint: { seq: signed.seq, hash: signed.hash } } : {}),
    headCovered: report.summary.headCovered,
    warnings: report.warnings,
  };
  if (o.json) {
    printJson(io, result);
    return;
  }
  printLine(
    io,
    `wrote ${o.out}: audit log of ${o.as}, entries: ${result.entries}, signed checkpoints: ${result.checkpoints}`,
  );
  if (signed) printLine(io, `  signed a checkpoint at seq ${signed.seq}`);
  if (o.checkpoint && !signed) printLine(io, "  the log is empty: no checkpoint signed");
}

// -------------------------------------------------------------------------------------- verify

const verifyOptions = z.object({
  ca: z.string().min(1),
  directory: z.string().min(1).optional(),
  json: z.boolean().optional(),
});

async function verifyCommand(io: CliIo, file: string, raw: unknown): Promise<void> {
  const o = parseInput(verifyOptions, raw);
  const now = io.now();
  const ca = await readCertificateFile(o.ca);
  const trust = o.directory
    ? directoryTrust(
        await loadDirectory(
          (await readTextFile(o.directory, DIRECTORY_LIMITS.maxJwsChars)).trim(),
          { ca, now, allowStale: true },
        ),
        { ca },
      )
    : anchorTrust({ ca });
  let report: AuditVerifyReport;
  try {
    report = await verifyAuditFile(await readJsonFile(file), { trust });
  } catch (error) {
    if (o.json && isMlaxError(error)) {
      printJson(io, { ok: false, code: error.code, message: error.message, ...error.details });
    }
    throw error;
  }
  for (const warning of report.warnings) printWarning(io, warning);
  if (o.json) {
    printJson(io, report);
    return;
  }
  printLine(io, "OK audit");
  for (const check of report.checks) printLine(io, `  ✓ ${check}`);
  printLine(
    io,
    o.directory
      ? "  ✓ checkpoint signers pinned in the directory"
      : "  ✓ checkpoint signers issued by the network CA (no directory given: pins and revocations not checked)",
  );
  for (const [k, v] of Object.entries(report.summary))
    printLine(io, `  ${k}: ${safeText(String(v))}`);
}

export function registerAuditCommands(program: Command, io: CliIo): void {
  const audit = program
    .command("audit")
    .description("export a node's hash-chained audit log and verify it offline");

  audit
    .command("export")
    .description(`write the node's audit log and signed checkpoints as mlax-audit/1 JSON`)
    .requiredOption("--data <dir>", "the node's data folder (holds store.sqlite)")
    .requiredOption("--as <id>", "the authority the node acts for")
    .requiredOption("-o, --out <file>", "where to write the export (JSON)")
    .option(
      "--certs <dir>",
      "certs folder (CA, directory, and the sign key for --checkpoint)",
      "certs",
    )
    .option("--checkpoint", "first sign a checkpoint over the current head with the sign key")
    .option("--json", "print JSON")
    .action((raw: unknown) => exportCommand(io, raw));

  audit
    .command("verify")
    .description(
      "verify an mlax-audit/1 export offline; exit 0 only if the chain and checkpoints hold",
    )
    .argument("<file>", "mlax-audit/1 export (JSON)")
    .requiredOption("--ca <file>", "the network CA certificate (trust anchor)")
    .option("--directory <file>", "a signed directory: also check pins and revocations")
    .option("--json", "print JSON")
    .action((file: string, raw: unknown) => verifyCommand(io, file, raw));
}
