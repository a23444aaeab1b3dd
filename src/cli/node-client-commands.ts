import { type Command, Option } from "commander";
import { z } from "zod";
import { MESSAGE_TYPES } from "../domain/message-types.ts";
import { UUID_PATTERN } from "../envelope/message.ts";
import { HttpError, InputError } from "../errors.ts";
import { INBOX_STATES, MAX_SECURITY_EVENTS_PAGE, OUTBOX_STATES } from "../operator/api-schemas.ts";
import type { MessageView } from "../operator/message-view.ts";
import type { NodeStatus } from "../operator/node-status.ts";
import { ATTACHMENT_LIMITS } from "../peer/attachments.ts";
import { AUTHORITY_ID_PATTERN } from "../pki/roles.ts";
import { MAX_PAGE, type MessageSummary } from "../store/index.ts";
import {
  type AttachFile,
  createOperatorClient,
  DEFAULT_NODE_URL,
  type OperatorClient,
} from "./client.ts";
import { PRIVATE_FILE_MODE, readTextFile, writeFileAtomic } from "./files.ts";
import { attachableSize, attachmentMediaType } from "./offline-attachments.ts";
import {
  type CliIo,
  formatTable,
  parseInput,
  printJson,
  printLine,
  printWarning,
  safeText,
} from "./output.ts";

const MAX_BODY_FILE_BYTES = 2 * 1024 * 1024;

const authorityId = z.string().regex(AUTHORITY_ID_PATTERN, "authority id like ES-MJ");
const uuid = z.string().regex(UUID_PATTERN, "a lowercase UUID");
const positiveInt = (max: number) =>
  z
    .string()
    .regex(/^[0-9]{1,15}$/, "a positive integer")
    .transform(Number)
    .pipe(z.number().int().min(1).max(max));

const connectionSchema = z.object({
  node: z.url({ protocol: /^https?$/, error: "an http(s) URL like http://127.0.0.1:8543" }),
  token: z.string().max(512).optional(),
  json: z.boolean().optional(),
});

type Connection = z.output<typeof connectionSchema>;

function isLoopback(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, "");
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

function connect(io: CliIo, c: Connection): OperatorClient {
  if (!c.token) {
    throw new HttpError(
      "AUTH_REQUIRED",
      "no operator token: pass --token or set MLAX_TOKEN (make one with `mlax token create --data <node data dir>`)",
    );
  }
  const url = new URL(c.node);
  if (url.protocol === "http:" && !isLoopback(url.hostname)) {
    printWarning(io, `${c.node} is plain http to a non-loopback host: the token travels in clear`);
  }
  return createOperatorClient({ baseUrl: c.node, token: c.token });
}

/** --node, --token and --json on every command of this group. */
function withConnection(command: Command): Command {
  return command
    .addOption(
      new Option("--node <url>", "the node's operator API")
        .env("MLAX_NODE")
        .default(DEFAULT_NODE_URL),
    )
    .addOption(
      new Option("--token <token>", "operator bearer token (prefer the environment variable)").env(
        "MLAX_TOKEN",
      ),
    )
    .option("--json", "print JSON");
}

/** Strips control characters line by line (peer-supplied text), keeping the line breaks. */
function safeLines(text: string): string {
  return text.split("\n").map(safeText).join("\n");
}

/** A table whose cells may hold peer-supplied text. */
function safeTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  return formatTable(
    headers,
    rows.map((r) => r.map(safeText)),
  );
}

function urgency(m: { urgent: boolean; priority: number }): string {
  return `${m.urgent ? "URGENT " : ""}${m.priority}`;
}

// ---------------------------------------------------------------------------------------- send

const sendSchema = connectionSchema.extend({
  to: authorityId,
  type: z.enum(MESSAGE_TYPES),
  thread: uuid.optional(),
  inReplyTo: uuid.optional(),
  ttlHours: positiveInt(8_760).optional(),
  attach: z.array(z.string().min(1)).max(ATTACHMENT_LIMITS.maxFiles).default([]),
});

/** Checks each `--attach` file before anything is sent: a readable regular file within the caps. */
async function attachFiles(paths: readonly string[]): Promise<AttachFile[]> {
  let total = 0;
  const files: AttachFile[] = [];
  for (const path of paths) {
    total += await attachableSize(path);
    files.push({ path, mediaType: attachmentMediaType(path) });
  }
  if (total > ATTACHMENT_LIMITS.maxMessageBytes) {
    throw new InputError(
      "INPUT_TOO_LARGE",
      `the attachments add up to ${total} bytes, over ${ATTACHMENT_LIMITS.maxMessageBytes} per message`,
    );
  }
  return files;
}

async function readBodyFile(path: string): Promise<Record<string, unknown>> {
  const text = await readTextFile(path, MAX_BODY_FILE_BYTES);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new InputError("INPUT_INVALID", `${path} is not JSON`, { cause });
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InputError("INPUT_INVALID", `${path} must hold a JSON object (the message body)`);
  }
  return value as Record<string, unknown>;
}

async function sendCommand(io: CliIo, bodyPath: string, raw: unknown): Promise<void> {
  const o = parseInput(sendSchema, raw);
  const client = connect(io, o);
  const body = await readBodyFile(bodyPath);
  const files = await attachFiles(o.attach);
  const queued = await client.sendMessage(
    {
      type: o.type,
      to: o.to,
      body,
      ...(o.thread ? { threadId: o.thread } : {}),
      ...(o.inReplyTo ? { inReplyTo: o.inReplyTo } : {}),
      ...(o.ttlHours ? { ttlHours: o.ttlHours } : {}),
    },
    files,
  );
  if (o.json) {
    printJson(io, queued);
    return;
  }
  printLine(io, `queued ${queued.type} ${queued.id} → ${queued.to}`);
  printLine(io, `  thread    ${queued.threadId}`);
  printLine(io, `  priority  ${urgency(queued)}`);
  printLine(io, `  expires   ${queued.expiresAt}`);
  printLine(io, `  sha256    ${queued.messageSha256}`);
  for (const [i, a] of (queued.attachments ?? []).entries()) {
    printLine(io, safeText(`  attach ${i}  ${a.name} (${a.mediaType}, ${a.size} bytes)`));
  }
  printLine(io, `follow it with: mlax show ${queued.id}`);
}

// ------------------------------------------------------------------------------- inbox, outbox

const listSchemas = {
  inbox: connectionSchema.extend({
    state: z.enum(INBOX_STATES).optional(),
    limit: positiveInt(MAX_PAGE).optional(),
    cursor: z.string().min(1).max(200).optional(),
  }),
  outbox: connectionSchema.extend({
    state: z.enum(OUTBOX_STATES).optional(),
    limit: positiveInt(MAX_PAGE).optional(),
    cursor: z.string().min(1).max(200).optional(),
  }),
};

async function listCommand(io: CliIo, box: "inbox" | "outbox", raw: unknown): Promise<void> {
  const o = parseInput(listSchemas[box], raw);
  const client = connect(io, o);
  const page = await client.listMessages({
    box,
    state: o.state,
    limit: o.limit,
    cursor: o.cursor,
  } as Parameters<OperatorClient["listMessages"]>[0]);
  if (o.json) {
    printJson(io, page);
    return;
  }
  if (page.items.length === 0) {
    printLine(io, o.cursor ? "no more messages" : `the ${box} is empty`);
    return;
  }
  const peer = box === "inbox" ? "FROM" : "TO";
  const when = box === "inbox" ? "RECEIVED" : "QUEUED";
  const rows = page.items.map((m: MessageSummary) => [
    m.id,
    m.type,
    box === "inbox" ? m.from : m.to,
    m.state,
    urgency(m),
    m.storedAt,
    m.threadId === m.id ? "" : m.threadId,
  ]);
  printLine(io, safeTable(["ID", "TYPE", peer, "STATE", "PRIORITY", when, "THREAD"], rows));
  if (page.nextCursor) printLine(io, `more: mlax ${box} --cursor ${page.nextCursor}`);
}

// ---------------------------------------------------------------------------------------- show

const showSchema = connectionSchema.extend({
  box: z.enum(["inbox", "outbox"]).optional(),
  from: authorityId.optional(),
});

function printMessage(io: CliIo, m: MessageView): void {
  const lines: [string, string][] = [
    ["id", m.id],
    ["box", m.box],
    ["type", m.type],
    ["from → to", `${m.from} → ${m.to}`],
    ["thread", m.threadId],
    ...(m.inReplyTo ? ([["in reply to", m.inReplyTo]] as [string, string][]) : []),
    ["created", m.createdAt],
    ["expires", m.expiresAt],
    [m.box === "inbox" ? "received" : "queued", m.storedAt],
    ["state", m.state],
    ["priority", urgency(m)],
    ["message sha256", m.payloadSha256],
  ];
  if (m.delivery) {
    const d = m.delivery;
    lines.push(["attempts", String(d.attempts)]);
    if (d.state === "queued" || d.state === "sending")
      lines.push(["next attempt", d.nextAttemptAt]);
    if (d.deliveredAt) lines.push(["delivered", d.deliveredAt]);
    if (d.lastErrorCode) lines.push(["last error", `${d.lastErrorCode}: ${d.lastError ?? ""}`]);
  }
  if (m.receipt) {
    const r = m.receipt;
    lines.push([
      "receipt",
      `${r.status}${r.reason ? ` (${r.reason})` : ""} ${r.direction}, ${r.payload?.receivedAt ?? r.recordedAt}`,
    ]);
    lines.push(["receipt sha256", r.sha256]);
  } else {
    lines.push(["receipt", "none yet"]);
  }
  const width = Math.max(...lines.map(([k]) => k.length));
  for (const [k, v] of lines) printLine(io, `${k.padEnd(width)}  ${safeText(v)}`);
  if (m.attachments.length > 0) {
    printLine(io, "attachments:");
    const rows = m.attachments.map((a, i) => [
      `  ${i}`,
      a.name,
      a.mediaType,
      String(a.size),
      a.sha256,
    ]);
    printLine(io, safeTable(["  #", "NAME", "TYPE", "BYTES", "SHA-256 (plaintext)"], rows));
    printLine(io, `save one with: mlax attachment ${m.id} <#> -o <file>`);
  }
  printLine(io, "body:");
  printLine(io, safeLines(JSON.stringify(m.body, null, 2)));
}

async function showCommand(io: CliIo, id: string, raw: unknown): Promise<void> {
  const o = parseInput(showSchema, raw);
  parseInput(uuid, id);
  const client = connect(io, o);
  const m = await client.getMessage(id, { box: o.box, from: o.from });
  if (o.json) printJson(io, m);
  else printMessage(io, m);
}

// ------------------------------------------------------------------------------------ evidence

const evidenceSchema = showSchema.extend({ out: z.string().min(1) });

function receiptSummary(jws: string): { status?: string; receivedAt?: string; reason?: string } {
  try {
    return JSON.parse(Buffer.from(jws.split(".")[1] ?? "", "base64url").toString("utf8"));
  } catch {
    return {};
  }
}

async function evidenceCommand(io: CliIo, id: string, raw: unknown): Promise<void> {
  const o = parseInput(evidenceSchema, raw);
  parseInput(uuid, id);
  const client = connect(io, o);
  const bundle = await client.evidence(id, { box: o.box, from: o.from });
  // The bundle holds the signed plaintext of the message: as confidential as the request.
  await writeFileAtomic(o.out, `${JSON.stringify(bundle, null, 2)}\n`, PRIVATE_FILE_MODE);
  const r = receiptSummary(bundle.receipt);
  const summary = {
    bundle: o.out,
    format: bundle.format,
    messageId: id,
    receiptStatus: r.status,
    ...(r.reason ? { reason: r.reason } : {}),
    receivedAt: r.receivedAt,
  };
  if (o.json) printJson(io, summary);
  else {
    printLine(
      io,
      `wrote ${o.out}: message ${id}, receipt ${safeText(String(r.status))} at ${safeText(String(r.receivedAt))}`,
    );
    printLine(io, `verify it offline: mlax verify ${o.out} --ca <network CA certificate>`);
  }
}

// ---------------------------------------------------------------------------------- attachment

const attachmentSchema = showSchema.extend({ out: z.string().min(1) });
const attachmentIndex = z
  .string()
  .regex(/^(0|[1-9][0-9]?)$/, "a manifest index from 0 to 99")
  .transform(Number);

async function attachmentCommand(
  io: CliIo,
  id: string,
  indexText: string,
  raw: unknown,
): Promise<void> {
  const o = parseInput(attachmentSchema, raw);
  parseInput(uuid, id);
  const index = parseInput(attachmentIndex, indexText);
  const client = connect(io, o);
  const options = { box: o.box, from: o.from };
  const m = await client.getMessage(id, options);
  const entry = m.attachments[index];
  if (!entry) {
    throw new HttpError(
      "NOT_FOUND",
      `message ${id} has ${m.attachments.length} attachment(s), no #${index}`,
    );
  }
  // The name is the sender's: shown, never used as a path (the file goes where -o says).
  const saved = await client.saveAttachment(id, index, o.out, {
    ...options,
    expectedSize: entry.size,
    expectedSha256: entry.sha256,
  });
  const summary = {
    file: o.out,
    messageId: id,
    index,
    name: entry.name,
    mediaType: entry.mediaType,
    size: saved.size,
    sha256: saved.sha256,
  };
  if (o.json) printJson(io, summary);
  else {
    printLine(
      io,
      safeText(
        `wrote ${o.out}: attachment ${index} "${entry.name}" (${entry.mediaType}, ${saved.size} bytes)`,
      ),
    );
    printLine(io, `  sha256  ${saved.sha256} (matches the signed manifest)`);
  }
}

// -------------------------------------------------------------------------------------- status

function countsLine(counts: Record<string, number>, capped: readonly string[]): string {
  return Object.entries(counts)
    .map(([state, n]) => `${state} ${n}${capped.includes(state) ? "+" : ""}`)
    .join(", ");
}

function printStatus(io: CliIo, s: NodeStatus): void {
  const d = s.directory;
  printLine(io, `authority  ${s.authorityId}`);
  printLine(
    io,
    `directory  ${safeText(d.network)} serial ${d.serial}, next update ${d.nextUpdate}${d.stale ? " (STALE)" : ""}`,
  );
  printLine(io, `outbox     ${countsLine(s.outbox.counts, s.outbox.capped)}`);
  printLine(io, `inbox      ${countsLine(s.inbox.counts, s.inbox.capped)}`);
  const a = s.audit;
  const checkpoint = a.lastCheckpoint
    ? `, last checkpoint at seq ${a.lastCheckpoint.seq} (${a.lastCheckpoint.createdAt})`
    : "";
  printLine(
    io,
    a.ok
      ? `audit      ok, ${a.count} entries${checkpoint}`
      : `audit      BROKEN at seq ${a.brokenAt} (${a.reason})`,
  );
  if (s.lastSecurityEvent) {
    const e = s.lastSecurityEvent;
    printLine(io, `security   last event #${e.id} ${e.kind} at ${e.at}`);
  }
  if (s.outbox.recentFailures.length > 0) {
    printLine(io, "failed deliveries:");
    for (const f of s.outbox.recentFailures) {
      printLine(
        io,
        safeText(`  ${f.id} ${f.type} → ${f.to}: ${f.lastErrorCode ?? "?"} ${f.lastError ?? ""}`),
      );
    }
  }
}

async function statusCommand(io: CliIo, raw: unknown): Promise<void> {
  const o = parseInput(connectionSchema, raw);
  const status = await connect(io, o).status();
  if (o.json) printJson(io, status);
  else printStatus(io, status);
  // Failed deliveries, a broken audit chain, a stale directory: never silent (DESIGN.md).
  for (const w of status.warnings) printWarning(io, safeText(w));
}

// ----------------------------------------------------------------------------- security events

const eventsSchema = connectionSchema.extend({
  limit: positiveInt(MAX_SECURITY_EVENTS_PAGE).optional(),
  beforeId: positiveInt(Number.MAX_SAFE_INTEGER).optional(),
});

async function securityEventsCommand(io: CliIo, raw: unknown): Promise<void> {
  const o = parseInput(eventsSchema, raw);
  const page = await connect(io, o).securityEvents({ limit: o.limit, beforeId: o.beforeId });
  if (o.json) {
    printJson(io, page);
    return;
  }
  if (page.items.length === 0) {
    printLine(io, "no security events");
    return;
  }
  const rows = page.items.map((e) => [
    String(e.id),
    e.at,
    e.kind,
    e.peerAuthority ?? "",
    e.messageId ?? "",
  ]);
  printLine(io, safeTable(["ID", "AT", "KIND", "PEER", "MESSAGE"], rows));
  if (page.nextBeforeId)
    printLine(io, `more: mlax security-events --before-id ${page.nextBeforeId}`);
}

export function registerClientCommands(program: Command, io: CliIo): void {
  withConnection(
    program
      .command("send")
      .description("sign, seal and queue a message on the node (it delivers and keeps the receipt)")
      .argument("<body.json>", "the message body (for a request: the UNTOC 18(15) request)")
      .requiredOption("--to <id>", "receiving authority")
      .option("--type <type>", `message type: ${MESSAGE_TYPES.join(", ")}`, "request")
      .option("--thread <uuid>", "thread id (the request's id) for a follow-up message")
      .option("--in-reply-to <uuid>", "the message this one answers")
      .option("--ttl-hours <n>", "time to live in hours (default 30 days)")
      .option(
        "--attach <file>",
        `attach a file (repeatable, up to ${ATTACHMENT_LIMITS.maxFiles}; encrypted by the node)`,
        (value: string, previous: string[] = []) => [...previous, value],
      ),
  ).action((body: string, raw: unknown) => sendCommand(io, body, raw));

  for (const box of ["inbox", "outbox"] as const) {
    const states = box === "inbox" ? INBOX_STATES : OUTBOX_STATES;
    withConnection(
      program
        .command(box)
        .description(
          box === "inbox"
            ? "list received messages, newest first"
            : "list sent messages and their delivery state, newest first",
        )
        .option("--state <state>", states.join(", "))
        .option("--limit <n>", `page size, 1..${MAX_PAGE} (default 50)`)
        .option("--cursor <cursor>", "the next page (printed after a full page)"),
    ).action((raw: unknown) => listCommand(io, box, raw));
  }

  withConnection(
    program
      .command("show")
      .description("one message with its delivery state and receipt")
      .argument("<id>", "message id")
      .option("--box <box>", "inbox or outbox (when an id is in both)")
      .option("--from <id>", "the sending authority (inbound ids are unique per sender)"),
  ).action((id: string, raw: unknown) => showCommand(io, id, raw));

  withConnection(
    program
      .command("evidence")
      .description("save the mlax-evidence/1 bundle of a message and its receipt")
      .argument("<id>", "message id")
      .requiredOption("-o, --out <file>", "where to write the bundle (JSON, mode 0600)")
      .option("--box <box>", "inbox or outbox (when an id is in both)")
      .option("--from <id>", "the sending authority (inbound ids are unique per sender)"),
  ).action((id: string, raw: unknown) => evidenceCommand(io, id, raw));

  withConnection(
    program
      .command("attachment")
      .description(
        "save a message's attachment (decrypted by the node, checked against the manifest)",
      )
      .argument("<id>", "message id")
      .argument("<index>", "the attachment's # in `mlax show` (from 0)")
      .requiredOption(
        "-o, --out <file>",
        "where to write it (mode 0600; the sender's name is not used)",
      )
      .option("--box <box>", "inbox or outbox (when an id is in both)")
      .option("--from <id>", "the sending authority (inbound ids are unique per sender)"),
  ).action((id: string, index: string, raw: unknown) => attachmentCommand(io, id, index, raw));

  withConnection(
    program
      .command("status")
      .description("the node's authority, directory, outbox and inbox counts and audit chain"),
  ).action((raw: unknown) => statusCommand(io, raw));

  withConnection(
    program
      .command("security-events")
      .description("security events recorded by the node, newest first")
      .option("--limit <n>", `page size, 1..${MAX_SECURITY_EVENTS_PAGE} (default 100)`)
      .option("--before-id <n>", "the next page"),
  ).action((raw: unknown) => securityEventsCommand(io, raw));
}
