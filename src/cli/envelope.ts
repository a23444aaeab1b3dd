/**
 * Offline envelope commands, so a request can travel over any channel (the UNTOC working group's
 * e-mail practice) and not only between mlax nodes:
 *   mlax seal    body.json [--attach FILE]… → signed and encrypted envelope (JWE compact), and
 *                one encrypted part `<envelope>.att<i>` per attached file
 *   mlax open    envelope (+ its parts) → verified message (+ signed receipt, + the attachments
 *                decrypted into --attachments-dir)
 *   mlax bundle  message JWS + receipt JWS → mlax-evidence/1 bundle
 *   mlax verify  message JWS | receipt JWS | directory JWS | bundle, offline against the network CA
 */
import type { X509Certificate } from "node:crypto";
import type { Command } from "commander";
import { z } from "zod";
import { anchorTrust } from "../directory/anchor-trust.ts";
import { directoryTrust } from "../directory/directory-trust.ts";
import { type Directory, loadDirectory } from "../directory/load-directory.ts";
import { DIRECTORY_LIMITS, DIRECTORY_TYP } from "../directory/schema.ts";
import { validateBody } from "../domain/message-bodies.ts";
import { MESSAGE_TYPES, type MessageType } from "../domain/message-types.ts";
import { checkLanguage, parseRequestBody } from "../domain/request.ts";
import { AUDIT_EXPORT_FORMAT, MAX_AUDIT_EXPORT_BYTES } from "../envelope/audit-export.ts";
import { createEvidenceBundle, verifyEvidenceBundle } from "../envelope/evidence.ts";
import { parseJwsHeader } from "../envelope/jws.ts";
import { LIMITS } from "../envelope/limits.ts";
import { UUID_PATTERN } from "../envelope/message.ts";
import { newMessage } from "../envelope/new-message.ts";
import { open, refusedFromOpened, refusedMessageOf } from "../envelope/open.ts";
import { createReceipt, RECEIPT_TYP, verifyReceipt } from "../envelope/receipt.ts";
import { seal } from "../envelope/seal.ts";
import type { TrustView } from "../envelope/trust.ts";
import { MESSAGE_JWS_TYP, verifyMessageJws } from "../envelope/verify-message.ts";
import { EnvelopeError, InputError, isMlaxError, MessageRefusedError } from "../errors.ts";
import { loadAuthorityKeys, loadNetworkTrust } from "../node/load-identity.ts";
import { ATTACHMENT_LIMITS } from "../peer/attachments.ts";
import { AUTHORITY_ID_PATTERN } from "../pki/roles.ts";
import { verifyAuditFile } from "./audit.ts";
import { PRIVATE_FILE_MODE, readCertificateFile, readTextFile, writeFileAtomic } from "./files.ts";
import {
  type CheckedAttachments,
  checkAttachments,
  digestParts,
  findParts,
  planAttachmentFiles,
  prepareAttachments,
} from "./offline-attachments.ts";
import { type CliIo, parseInput, printJson, printLine, printWarning, safeText } from "./output.ts";

const MAX_BODY_BYTES = 2 * 1024 * 1024;
/** The largest file `verify` reads: an audit export (bundles are at most ~6.6 MiB). */
const MAX_VERIFY_FILE_BYTES = MAX_AUDIT_EXPORT_BYTES;
const authorityId = z.string().regex(AUTHORITY_ID_PATTERN, "authority id like ES-MJ");

/** `30d`, `12h`, `90m` → milliseconds. */
const ttl = z
  .string()
  .regex(/^[1-9][0-9]{0,4}[dhm]$/, "a duration like 30d, 12h or 90m")
  .transform(
    (v) =>
      Number(v.slice(0, -1)) *
      { d: 86_400_000, h: 3_600_000, m: 60_000 }[v.at(-1) as "d" | "h" | "m"],
  );

async function readJsonFile(path: string, maxBytes: number): Promise<unknown> {
  const text = await readTextFile(path, maxBytes);
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new InputError("INPUT_INVALID", `${path} is not JSON`, { cause });
  }
}

async function readCompact(path: string, maxChars: number): Promise<string> {
  return (await readTextFile(path, maxChars + 2)).trim();
}

// ---------------------------------------------------------------------------------------- seal

const sealOptions = z.object({
  certs: z.string().min(1),
  from: authorityId,
  to: authorityId,
  type: z.enum(MESSAGE_TYPES).default("request"),
  thread: z.string().regex(UUID_PATTERN).optional(),
  inReplyTo: z.string().regex(UUID_PATTERN).optional(),
  ttl: ttl.optional(),
  out: z.string().min(1),
  jwsOut: z.string().min(1).optional(),
  attach: z.array(z.string().min(1)).max(ATTACHMENT_LIMITS.maxFiles).default([]),
  json: z.boolean().optional(),
});

async function sealCommand(io: CliIo, bodyPath: string, raw: unknown): Promise<void> {
  const o = parseInput(sealOptions, raw);
  const now = io.now();
  const network = await loadNetworkTrust(o.certs, { now, allowStale: true });
  const keys = await loadAuthorityKeys(network, o.from, now);
  const body = await readJsonFile(bodyPath, MAX_BODY_BYTES);
  // The domain schema for the message type, and UNTOC 18(14): a language the recipient accepts.
  validateBody(o.type as MessageType, body);
  if (o.type === "request") {
    checkLanguage(parseRequestBody(body), network.directory.authority(o.to).languages);
  }
  // Encrypted into temporary files first: the manifest needs each plaintext's size and SHA-256.
  const attachments = await prepareAttachments(o.attach, o.out);
  let sealed: Awaited<ReturnType<typeof seal>>;
  let message: ReturnType<typeof newMessage>;
  try {
    message = newMessage({
      type: o.type,
      from: o.from,
      to: o.to,
      body: body as Record<string, unknown>,
      now,
      ttlMs: o.ttl,
      threadId: o.thread,
      inReplyTo: o.inReplyTo,
      attachments: attachments.manifest,
      attachmentKey: attachments.key,
    });
    sealed = await seal({
      message,
      signer: keys.sign,
      chain: [network.ca],
      recipient: network.trust.encryptionCertificate(o.to, now),
    });
  } catch (error) {
    await attachments.discard();
    throw error;
  }
  // The parts first, so that an envelope is never seen without them.
  await attachments.commit();
  await writeFileAtomic(o.out, `${sealed.envelope}\n`, PRIVATE_FILE_MODE);
  if (o.jwsOut) await writeFileAtomic(o.jwsOut, `${sealed.jws}\n`, PRIVATE_FILE_MODE);
  const result = {
    id: message.id,
    type: message.type,
    from: message.from,
    to: message.to,
    threadId: message.threadId,
    createdAt: message.createdAt,
    expiresAt: message.expiresAt,
    messageSha256: sealed.messageSha256,
    envelopeSha256: sealed.envelopeSha256,
    envelope: o.out,
    ...(o.jwsOut ? { jws: o.jwsOut } : {}),
    attachments: attachments.parts.map((p) => ({
      index: p.index,
      ...p.manifest,
      part: p.part,
      partSize: p.partSize,
      partSha256: p.partSha256,
    })),
  };
  if (o.json) printJson(io, result);
  else {
    printLine(io, `sealed ${message.type} ${message.id} ${message.from} → ${message.to}`);
    printLine(io, `  envelope       ${o.out}`);
    for (const p of attachments.parts) {
      const m = p.manifest;
      printLine(
        io,
        safeText(
          `  attachment ${p.index}   ${p.part}  ${m.name} (${m.mediaType}, ${m.size} bytes)`,
        ),
      );
    }
    if (o.jwsOut) printLine(io, `  signed message ${o.jwsOut}`);
    printLine(io, `  messageSha256  ${sealed.messageSha256}`);
    printLine(io, `  expires        ${message.expiresAt}`);
    if (attachments.parts.length > 0) {
      printLine(io, "  send the envelope together with its .att files (same folder, same names)");
    }
  }
}

// ---------------------------------------------------------------------------------------- open

const openOptions = z.object({
  certs: z.string().min(1),
  as: authorityId,
  receipt: z.string().min(1).optional(),
  jwsOut: z.string().min(1).optional(),
  parts: z.string().min(1).optional(),
  attachmentsDir: z.string().min(1).optional(),
  json: z.boolean().optional(),
});

async function openCommand(io: CliIo, envelopePath: string, raw: unknown): Promise<void> {
  const o = parseInput(openOptions, raw);
  const now = io.now();
  const network = await loadNetworkTrust(o.certs, { now, allowStale: true });
  const keys = await loadAuthorityKeys(network, o.as, now);
  const envelope = await readCompact(envelopePath, LIMITS.maxEnvelopeChars);
  // The attachment parts that came with the envelope (offline-attachments.ts), by index.
  const parts = await findParts(envelopePath, o.parts);
  const self = { authorityId: o.as, enc: keys.enc };
  let checked: CheckedAttachments | undefined;
  try {
    const opened = await open(envelope, { self, trust: network.trust, now });
    const manifest = opened.message.attachments;
    const targets = o.attachmentsDir
      ? await planAttachmentFiles(o.attachmentsDir, manifest)
      : undefined;
    checked = await checkAttachments(opened.message, parts, targets);
    if (checked.error) {
      throw new MessageRefusedError(
        "MESSAGE_ATTACHMENT_INVALID",
        checked.error.message,
        refusedFromOpened(opened),
        { details: checked.error.details },
      );
    }
    await checked.commit();
    if (o.receipt) {
      const receipt = await createReceipt({
        message: opened.message,
        messageSha256: opened.messageSha256,
        envelopeSha256: opened.envelopeSha256,
        attachmentsSha256: checked.partsSha256,
        status: "accepted",
        receivedAt: now,
        signer: keys.sign,
        chain: [network.ca],
      });
      await writeFileAtomic(o.receipt, `${receipt}\n`, PRIVATE_FILE_MODE);
    }
    if (o.jwsOut) await writeFileAtomic(o.jwsOut, `${opened.jws}\n`, PRIVATE_FILE_MODE);
    const attachments = manifest.map((a, i) => ({
      index: i,
      ...a,
      part: parts[i]?.path,
      partSha256: checked?.partsSha256[i],
      ...(targets ? { file: targets[i] } : {}),
    }));
    if (o.json) {
      printJson(io, {
        status: "accepted",
        message: opened.message,
        messageSha256: opened.messageSha256,
        envelopeSha256: opened.envelopeSha256,
        signer: opened.signer.authorityId,
        attachments,
        ...(o.receipt ? { receipt: o.receipt } : {}),
      });
    } else {
      const m = opened.message;
      printLine(
        io,
        `verified ${m.type} ${m.id} from ${m.from} to ${m.to} (signed by ${opened.signer.authorityId})`,
      );
      printLine(io, `  created ${m.createdAt}, expires ${m.expiresAt}, thread ${m.threadId}`);
      for (const a of attachments) {
        const where = a.file
          ? `written to ${a.file}`
          : "verified (use --attachments-dir to keep it)";
        printLine(
          io,
          safeText(`  attachment ${a.index} ${a.name} (${a.mediaType}, ${a.size} bytes): ${where}`),
        );
      }
      if (o.receipt) printLine(io, `  receipt (accepted) written to ${o.receipt}`);
      for (const line of JSON.stringify(m.body, null, 2).split("\n")) printLine(io, safeText(line));
    }
  } catch (error) {
    // Authentic but refused: answer a signed `rejected` receipt, then fail with the reason.
    const refused = refusedMessageOf(error);
    if (refused && o.receipt && error instanceof MessageRefusedError) {
      const receipt = await createReceipt({
        message: refused.message,
        messageSha256: refused.messageSha256,
        envelopeSha256: refused.envelopeSha256,
        // Like a node: the parts as received, in rejected receipts too.
        attachmentsSha256: checked?.partsSha256 ?? (await digestParts(parts)),
        status: "rejected",
        reason: error.code,
        receivedAt: now,
        signer: keys.sign,
        chain: [network.ca],
      });
      await writeFileAtomic(o.receipt, `${receipt}\n`, PRIVATE_FILE_MODE);
      io.stderr.write(`rejected receipt written to ${o.receipt}\n`);
    }
    throw error;
  }
}

// -------------------------------------------------------------------------------------- bundle

const bundleOptions = z.object({
  message: z.string().min(1),
  receipt: z.string().min(1),
  certs: z.string().min(1),
  out: z.string().min(1),
  json: z.boolean().optional(),
});

function signerCertificate(token: string, typ: string): X509Certificate {
  const { x5c } = parseJwsHeader(token, typ, LIMITS.maxJwsChars);
  return x5c[0] as X509Certificate;
}

async function bundleCommand(io: CliIo, raw: unknown): Promise<void> {
  const o = parseInput(bundleOptions, raw);
  const now = io.now();
  const network = await loadNetworkTrust(o.certs, { now, allowStale: true });
  const message = await readCompact(o.message, LIMITS.maxJwsChars);
  const receipt = await readCompact(o.receipt, LIMITS.maxReceiptChars);
  const bundle = createEvidenceBundle({
    message,
    receipt,
    chain: [
      signerCertificate(message, MESSAGE_JWS_TYP),
      signerCertificate(receipt, RECEIPT_TYP),
      network.ca,
    ],
  });
  // Never write a bundle that does not verify.
  const verified = await verifyEvidenceBundle(bundle, { trust: network.trust });
  await writeFileAtomic(o.out, `${JSON.stringify(bundle, null, 2)}\n`, PRIVATE_FILE_MODE);
  const summary = {
    bundle: o.out,
    messageId: verified.message.id,
    from: verified.message.from,
    to: verified.message.to,
    receiptStatus: verified.receipt.status,
    receivedAt: verified.receipt.receivedAt,
  };
  if (o.json) printJson(io, summary);
  else
    printLine(
      io,
      `wrote ${o.out}: message ${summary.messageId} ${summary.from} → ${summary.to}, receipt ${summary.receiptStatus} at ${summary.receivedAt}`,
    );
}

// -------------------------------------------------------------------------------------- verify

const verifyOptions = z.object({
  ca: z.string().min(1),
  directory: z.string().min(1).optional(),
  json: z.boolean().optional(),
});

export interface VerifyReport {
  readonly ok: true;
  readonly kind: "message" | "receipt" | "bundle" | "directory" | "audit";
  readonly checks: readonly string[];
  readonly summary: Record<string, unknown>;
  readonly warnings?: readonly string[];
}

/** Verifies one file offline; throws the failing check's MlaxError. */
export async function verifyFile(
  text: string,
  options: { ca: X509Certificate; directory?: Directory; now: Date },
): Promise<VerifyReport> {
  const trust: TrustView = options.directory
    ? directoryTrust(options.directory, { ca: options.ca })
    : anchorTrust({ ca: options.ca });
  const pinning = options.directory
    ? `signer pinned in directory serial ${options.directory.serial}`
    : "signer certificate issued by the network CA (no directory given: pins and revocations not checked)";
  const trimmed = text.trim();
  if (trimmed.startsWith("{")) {
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch (cause) {
      throw new EnvelopeError("BUNDLE_MALFORMED", "the file is neither a compact JWS nor JSON", {
        cause,
      });
    }
    if ((value as { format?: unknown } | null)?.format === AUDIT_EXPORT_FORMAT) {
      const r = await verifyAuditFile(value, { trust });
      return {
        ok: true,
        kind: "audit",
        checks: [...r.checks, pinning],
        summary: r.summary,
        warnings: r.warnings,
      };
    }
    const v = await verifyEvidenceBundle(value, { trust });
    return {
      ok: true,
      kind: "bundle",
      checks: [
        `message signature (PS256) by ${v.messageSigner.authorityId}, certificate valid at createdAt ${v.message.createdAt}`,
        pinning,
        `receipt signature by ${v.receiptSigner.authorityId}, certificate valid at receivedAt ${v.receipt.receivedAt}`,
        `receipt names message ${v.message.id} and its SHA-256 ${v.messageSha256}`,
        `receipt from ${v.receipt.from} = message to; receipt to ${v.receipt.to} = message from`,
      ],
      summary: {
        messageId: v.message.id,
        type: v.message.type,
        from: v.message.from,
        to: v.message.to,
        createdAt: v.message.createdAt,
        receiptStatus: v.receipt.status,
        ...(v.receipt.reason ? { reason: v.receipt.reason } : {}),
        receivedAt: v.receipt.receivedAt,
        messageSha256: v.messageSha256,
      },
    };
  }
  const parts = trimmed.split(".");
  let typ: unknown;
  try {
    typ = JSON.parse(Buffer.from(parts[0] ?? "", "base64url").toString("utf8"))?.typ;
  } catch {
    typ = undefined;
  }
  if (parts.length !== 3 || typeof typ !== "string") {
    throw new EnvelopeError(
      "ENVELOPE_MALFORMED",
      "not a compact JWS (an envelope must be opened with `mlax open` first) nor a bundle",
    );
  }
  if (typ === MESSAGE_JWS_TYP) {
    const v = await verifyMessageJws(trimmed, { trust });
    return {
      ok: true,
      kind: "message",
      checks: [
        `signature (PS256) by ${v.signer.authorityId}, certificate valid at createdAt ${v.message.createdAt}`,
        pinning,
        "payload is a valid mlax message; `from` is the signer's authority",
      ],
      summary: {
        messageId: v.message.id,
        type: v.message.type,
        from: v.message.from,
        to: v.message.to,
        createdAt: v.message.createdAt,
        messageSha256: v.messageSha256,
      },
    };
  }
  if (typ === RECEIPT_TYP) {
    const { receipt, signer } = await verifyReceipt(trimmed, { trust });
    return {
      ok: true,
      kind: "receipt",
      checks: [
        `signature (PS256) by ${signer.authorityId}, certificate valid at receivedAt ${receipt.receivedAt}`,
        pinning,
      ],
      summary: { ...receipt },
    };
  }
  if (typ === DIRECTORY_TYP) {
    const d = await loadDirectory(trimmed, { ca: options.ca, now: options.now, allowStale: true });
    return {
      ok: true,
      kind: "directory",
      checks: [
        "signature by the directory signer, issued by the network CA",
        "every listed certificate fits its role",
      ],
      summary: {
        network: d.network,
        serial: d.serial,
        issuedAt: d.issuedAt,
        nextUpdate: d.nextUpdate,
        stale: d.stale,
        authorities: d.authorities.map((a) => a.id),
      },
    };
  }
  throw new EnvelopeError(
    "ENVELOPE_HEADER_INVALID",
    `unknown JWS typ ${safeText(typ).slice(0, 64)}`,
  );
}

async function verifyCommand(io: CliIo, path: string, raw: unknown): Promise<void> {
  const o = parseInput(verifyOptions, raw);
  const now = io.now();
  const ca = await readCertificateFile(o.ca);
  const directory = o.directory
    ? await loadDirectory((await readTextFile(o.directory, DIRECTORY_LIMITS.maxJwsChars)).trim(), {
        ca,
        now,
        allowStale: true,
      })
    : undefined;
  // A bundle holds a message JWS, a receipt and up to 8 PEM certificates, JSON-escaped.
  const text = await readTextFile(path, MAX_VERIFY_FILE_BYTES);
  let report: VerifyReport;
  try {
    report = await verifyFile(text, { ca, directory, now });
  } catch (error) {
    if (o.json && isMlaxError(error)) {
      printJson(io, { ok: false, code: error.code, message: error.message });
    }
    throw error;
  }
  if (o.json) {
    printJson(io, report);
    return;
  }
  for (const w of report.warnings ?? []) printWarning(io, w);
  printLine(io, `OK ${report.kind}`);
  for (const check of report.checks) printLine(io, `  ✓ ${check}`);
  for (const [k, v] of Object.entries(report.summary))
    printLine(io, `  ${k}: ${safeText(String(v))}`);
}

export function registerEnvelopeCommands(program: Command, io: CliIo): void {
  program
    .command("seal")
    .description("sign a message body and encrypt it for the recipient (offline)")
    .argument("<body.json>", "the message body (for a request: the UNTOC 18(15) request)")
    .requiredOption("--from <id>", "sending authority (its sign key must be under --certs)")
    .requiredOption(
      "--to <id>",
      "receiving authority (its enc certificate comes from the directory)",
    )
    .requiredOption("-o, --out <file>", "where to write the envelope (JWE compact)")
    .option("--certs <dir>", "certs folder", "certs")
    .option("--type <type>", `message type: ${MESSAGE_TYPES.join(", ")}`, "request")
    .option("--thread <uuid>", "thread id (the request's id) for a follow-up message")
    .option("--in-reply-to <uuid>", "the message this one answers")
    .option("--ttl <duration>", "time to live, e.g. 30d, 12h (default 30d)")
    .option("--jws-out <file>", "also write the signed message (JWS), for evidence bundles")
    .option(
      "--attach <file>",
      `attach a file (repeatable, up to ${ATTACHMENT_LIMITS.maxFiles}), encrypted to <out>.att<i>`,
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option("--json", "print JSON")
    .action((body: string, raw: unknown) => sealCommand(io, body, raw));

  program
    .command("open")
    .description(
      "decrypt and verify an envelope addressed to us and its attachments (offline); optionally write a receipt",
    )
    .argument("<envelope>", "envelope file (JWE compact)")
    .requiredOption(
      "--as <id>",
      "the receiving authority (its enc and sign keys must be under --certs)",
    )
    .option("--certs <dir>", "certs folder", "certs")
    .option("--receipt <file>", "write the signed receipt (accepted, or rejected with the reason)")
    .option("--jws-out <file>", "write the signed message (JWS), for evidence bundles")
    .option(
      "--parts <dir>",
      "where the attachment parts <envelope name>.att<i> are (default: the envelope's folder)",
    )
    .option(
      "--attachments-dir <dir>",
      "write the verified attachments there as <i>-<safe name> (without it: verify only)",
    )
    .option("--json", "print JSON")
    .action((envelope: string, raw: unknown) => openCommand(io, envelope, raw));

  program
    .command("bundle")
    .description("make an mlax-evidence/1 bundle from a signed message and its receipt")
    .requiredOption("--message <file>", "signed message (JWS compact)")
    .requiredOption("--receipt <file>", "signed receipt (JWS compact)")
    .requiredOption("-o, --out <file>", "where to write the bundle (JSON)")
    .option("--certs <dir>", "certs folder (CA and directory)", "certs")
    .option("--json", "print JSON")
    .action((raw: unknown) => bundleCommand(io, raw));

  program
    .command("verify")
    .description(
      "verify a signed message, receipt, directory or evidence bundle offline; exit 0 only if it holds",
    )
    .argument(
      "<file>",
      "message JWS, receipt JWS, directory JWS, mlax-evidence/1 bundle or mlax-audit/1 export",
    )
    .requiredOption("--ca <file>", "the network CA certificate (trust anchor)")
    .option("--directory <file>", "a signed directory: also check pins and revocations")
    .option("--json", "print JSON")
    .action((path: string, raw: unknown) => verifyCommand(io, path, raw));
}
