/**
 * Robustness of the peer API (src/peer/app.ts, THREATS.md): nothing a peer sends crashes the node,
 * corrupts the store or makes it drop an accepted message. A seeded PRNG (mulberry32; override with
 * MLAX_FUZZ_SEED) mutates valid sealed envelopes part by part and abuses the multipart framing;
 * every answer must be a 200 receipt for an untouched (or byte-equal) envelope, a signed rejected
 * receipt where the attachment parts do not match a fresh manifest, or a 4xx problem+json with a
 * code from ERROR_CODES at its own status — never a 500, never a hang. Afterwards the store passes
 * its integrity and audit chain checks, incoming/ is empty, and the original envelope is answered
 * with its stored receipt byte for byte.
 */

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import request from "supertest";
import { exampleRequestBody } from "../../src/domain/example-request.ts";
import { encryptBuffer, generateAttachmentKey } from "../../src/envelope/attachment-stream.ts";
import { sha256Hex } from "../../src/envelope/digest.ts";
import { newMessage } from "../../src/envelope/new-message.ts";
import { verifyReceipt } from "../../src/envelope/receipt.ts";
import { seal } from "../../src/envelope/seal.ts";
import { ERROR_CODES } from "../../src/errors.ts";
import { receiveContextOf } from "../../src/node/context.ts";
import { sendMessage } from "../../src/node/send-message.ts";
import { createPeerApp } from "../../src/peer/app.ts";
import { openBlobStore } from "../../src/store/index.ts";
import { makeTestNode, type TestNode, testNetworkTrust } from "../helpers/node-context.ts";
import { makeTestPki } from "../helpers/pki-fixture.ts";
import { prng, type Rng } from "../helpers/prng.ts";

const SEED = Number(process.env.MLAX_FUZZ_SEED ?? 0x6d6c6178) >>> 0;
const ROUTE = "/peer/v1/envelopes";
/** Per request: no answer within this is a hang. */
const TIMEOUT = { response: 8_000, deadline: 12_000 } as const;

const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
/** What a hostile peer slips into a compact part. */
const HOSTILE = [
  "\u0000",
  ".",
  "=",
  "+",
  "/",
  " ",
  "\t",
  "\r\n",
  "é",
  "😀",
  "\u202e",
  "\ufeff",
  "\ud800",
  "%00",
  "\\",
  '"',
  "A".repeat(1000),
] as const;

interface RawPart {
  readonly name?: string;
  readonly filename?: string;
  readonly contentType?: string;
  /** Extra raw header lines. */
  readonly headers?: readonly string[];
  /** Replaces the whole header block (no Content-Disposition is generated). */
  readonly rawHeaders?: string;
  readonly body: string | Buffer;
}

interface RawOptions {
  readonly boundary?: string;
  /** The boundary announced in Content-Type (default: the one used in the body). */
  readonly announced?: string;
  /** Leave out the closing delimiter. */
  readonly unterminated?: boolean;
  readonly eol?: string;
  readonly preamble?: string;
  readonly epilogue?: string;
}

/** A multipart/form-data body built byte by byte (RFC 7578), to break it on purpose. */
function rawMultipart(parts: readonly RawPart[], options: RawOptions = {}) {
  const boundary = options.boundary ?? "mlaxRobustnessBoundary7f3a";
  const eol = options.eol ?? "\r\n";
  const chunks: Buffer[] = [];
  if (options.preamble !== undefined) chunks.push(Buffer.from(`${options.preamble}${eol}`));
  for (const part of parts) {
    let head: string;
    if (part.rawHeaders !== undefined) head = part.rawHeaders;
    else {
      const lines = [
        `Content-Disposition: form-data; name="${part.name ?? ""}"${
          part.filename === undefined ? "" : `; filename="${part.filename}"`
        }`,
        ...(part.contentType ? [`Content-Type: ${part.contentType}`] : []),
        ...(part.headers ?? []),
      ];
      head = lines.join(eol);
    }
    chunks.push(Buffer.from(`--${boundary}${eol}${head}${eol}${eol}`, "utf8"));
    chunks.push(typeof part.body === "string" ? Buffer.from(part.body, "utf8") : part.body);
    chunks.push(Buffer.from(eol));
  }
  if (!options.unterminated) chunks.push(Buffer.from(`--${boundary}--${eol}`));
  if (options.epilogue !== undefined) chunks.push(Buffer.from(options.epilogue));
  return {
    contentType: `multipart/form-data; boundary=${options.announced ?? boundary}`,
    body: Buffer.concat(chunks),
  };
}

/**
 * Framing errors busboy or multer report themselves: a 4xx (MULTIPART_INVALID) expected, not a
 * 500. The third member marks a case that still fails (`todo`).
 */
const BUSBOY_ERROR_CASES: readonly [
  string,
  (envelope: string) => ReturnType<typeof rawMultipart>,
  string?,
][] = [
  [
    "unterminated body",
    (env) => rawMultipart([{ name: "envelope", body: env }], { unterminated: true }),
  ],
  [
    "wrong boundary in the body",
    (env) => rawMultipart([{ name: "envelope", body: env }], { announced: "someOtherBoundary" }),
  ],
  ["LF line endings", (env) => rawMultipart([{ name: "envelope", body: env }], { eol: "\n" })],
  [
    "empty body with a boundary",
    () => ({ contentType: "multipart/form-data; boundary=x", body: Buffer.alloc(0) }),
  ],
  [
    "unterminated file part",
    (env) =>
      rawMultipart(
        [
          { name: "envelope", body: env },
          { name: "attachment", filename: "a.bin", body: randomBytes(100) },
        ],
        { unterminated: true },
      ),
  ],
  [
    "part header without a colon",
    (env) => rawMultipart([{ rawHeaders: "this is not a header", body: env }]),
  ],
  [
    "part header line of 100 kB",
    (env) =>
      rawMultipart([{ name: "envelope", headers: [`X-Long: ${"v".repeat(100_000)}`], body: env }]),
  ],
  [
    "attachment file name with a NUL byte",
    (env) =>
      rawMultipart([
        { name: "envelope", body: env },
        { name: "attachment", filename: "a\u0000b.bin", body: randomBytes(100) },
      ]),
  ],
  [
    "Content-Disposition without a name",
    (env) => rawMultipart([{ rawHeaders: "Content-Disposition: form-data", body: env }]),
  ],
  [
    "file part without a field name",
    (env) =>
      rawMultipart([
        { name: "envelope", body: env },
        { rawHeaders: 'Content-Disposition: form-data; filename="a.bin"', body: "x" },
      ]),
  ],
];

describe("peer API robustness (seeded fuzz)", () => {
  let receiver: TestNode;
  let sender: TestNode;
  let server: Server;
  let clientAuthority = "CO-FGN";
  /** Envelopes the receiver has stored, with the receipt it answered for each. */
  const stored = new Map<string, { id: string; receipt: string }>();
  const knownReceipts = new Set<string>();
  /** Tally of answers: "200 receipt", "400 ENVELOPE_REJECTED", … */
  const tally = new Map<string, number>();
  const violations: string[] = [];
  const crashes: unknown[] = [];
  const onCrash = (error: unknown) => crashes.push(error);
  let total = 0;
  let rng: Rng;
  let original: { id: string; envelope: string };
  let other: { id: string; envelope: string };

  const incoming = () => readdirSync(join(receiver.dataDir, "incoming"));

  before(async () => {
    process.on("uncaughtException", onCrash);
    process.on("unhandledRejection", onCrash);
    rng = prng(SEED);
    const pki = makeTestPki();
    const network = await testNetworkTrust(pki, { now: pki.now });
    receiver = await makeTestNode({ pki, network, authorityId: "ES-MJ" });
    sender = await makeTestNode({ pki, network, authorityId: "CO-FGN" });
    const ctx = receiver.ctx;
    const app = createPeerApp({
      context: receiveContextOf(ctx, openBlobStore(receiver.dataDir)),
      identifyClient: () => clientAuthority,
    });
    server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    original = await queued();
    other = await queued();
    for (const e of [original, other]) {
      const res = await post().field("envelope", e.envelope).timeout(TIMEOUT);
      assert.equal(res.status, 200, res.text);
      remember(e.envelope, e.id, res.body.receipt);
    }
  });

  after(async () => {
    process.off("uncaughtException", onCrash);
    process.off("unhandledRejection", onCrash);
    await new Promise<void>((resolve) => server?.close(() => resolve()));
    receiver?.close();
    sender?.close();
  });

  function remember(envelope: string, id: string, receipt: string) {
    stored.set(envelope, { id, receipt });
    knownReceipts.add(receipt);
  }

  /** Queues a message on the sender node and returns the exact envelope its outbox would send. */
  async function queued(): Promise<{ id: string; envelope: string }> {
    const q = await sendMessage(sender.ctx, { to: "ES-MJ", body: exampleRequestBody() });
    const [claimed] = sender.store.claimDue(new Date(Date.parse(q.createdAt) + 1), 1);
    assert.ok(claimed);
    sender.store.markFailed(
      claimed.id,
      { code: "TEST", message: "sent by hand" },
      sender.ctx.now(),
    );
    return { id: q.id, envelope: claimed.envelope };
  }

  /** A request from CO-FGN with these attachment plaintexts, sealed to ES-MJ, and the parts. */
  async function sealWith(plaintexts: readonly Buffer[]) {
    const now = receiver.ctx.now();
    const key = generateAttachmentKey();
    const message = newMessage({
      type: "request",
      from: "CO-FGN",
      to: "ES-MJ",
      body: exampleRequestBody(),
      now,
      attachments: plaintexts.map((p, i) => ({
        name: `annex-${i}.pdf`,
        mediaType: "application/pdf",
        size: p.length,
        sha256: sha256Hex(p),
      })),
      ...(plaintexts.length > 0 ? { attachmentKey: key } : {}),
    });
    const sealed = await seal({
      message,
      signer: sender.pki.authorities["CO-FGN"]!.sign,
      recipient: receiver.ctx.network().trust.encryptionCertificate("ES-MJ", now),
    });
    const parts = plaintexts.map((p, i) => encryptBuffer(key, i, p));
    return { id: message.id, envelope: sealed.envelope, parts };
  }

  const post = () => request(server).post(ROUTE);

  function count(key: string) {
    tally.set(key, (tally.get(key) ?? 0) + 1);
  }

  type Expect =
    /** Only a stored receipt (untouched or byte-equal envelope) or a 4xx problem. */
    | { readonly kind: "stored-or-problem" }
    /** A fresh authentic message: a signed receipt with this status (and reason), or a 4xx. */
    | {
        readonly kind: "fresh";
        readonly id: string;
        readonly envelope: string;
        readonly status: "accepted" | "rejected";
        readonly reason?: string;
      };

  /** Sends one request and records whether its answer is allowed. */
  async function exercise(
    label: string,
    req: request.Test,
    expect: Expect = { kind: "stored-or-problem" },
  ) {
    total++;
    let res: request.Response;
    try {
      res = await req.timeout(TIMEOUT);
    } catch (error) {
      const e = error as { timeout?: number; code?: string; message?: string };
      count(e.timeout ? "HANG" : `NETWORK ${e.code ?? "?"}`);
      violations.push(`${label}: no answer (${e.code ?? ""} ${e.message ?? ""})`);
      return;
    }
    const problem = /^application\/problem\+json/.test(res.headers["content-type"] ?? "");
    if (res.status === 200 && typeof res.body?.receipt === "string") {
      count("200 receipt");
      const receipt: string = res.body.receipt;
      if (knownReceipts.has(receipt)) return;
      if (expect.kind === "fresh") {
        const { receipt: r } = await verifyReceipt(receipt, {
          trust: receiver.ctx.network().trust,
          at: [receiver.ctx.now()],
        });
        if (r.messageId === expect.id) remember(expect.envelope, expect.id, receipt);
        if (
          r.messageId === expect.id &&
          r.status === expect.status &&
          (expect.reason === undefined || r.reason === expect.reason)
        ) {
          return;
        }
        violations.push(`${label}: receipt ${r.status} ${r.reason ?? ""} for ${r.messageId}`);
        return;
      }
      violations.push(`${label}: a new receipt for a mutated envelope`);
      return;
    }
    const code = res.body?.code as string | undefined;
    count(`${res.status} ${code ?? "(no code)"}`);
    const info = code === undefined ? undefined : ERROR_CODES[code as keyof typeof ERROR_CODES];
    if (
      res.status >= 400 &&
      res.status < 500 &&
      problem &&
      info !== undefined &&
      info.status === res.status &&
      res.body.type === `urn:mlax:error:${code}` &&
      res.body.title === info.title &&
      res.body.status === res.status
    ) {
      return;
    }
    violations.push(`${label}: ${res.status} ${res.text.slice(0, 200)}`);
  }

  // --- envelope mutations -------------------------------------------------------------------

  const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64url");
  const validHeader = () =>
    JSON.parse(Buffer.from(original.envelope.split(".")[0]!, "base64url").toString());

  /** Protected headers a peer may try, each base64url encoded in the first part. */
  function hostileHeader(r: Rng): string {
    const h = validHeader();
    const variants: (() => string)[] = [
      () => b64(JSON.stringify({ ...h, pad: "A".repeat(60_000) })),
      () => b64(JSON.stringify({ ...h, pad: "A".repeat(70_000) })),
      () => b64(JSON.stringify({ ...h, pad: "A".repeat(1_000_000) })),
      () => b64(`${"[".repeat(5_000)}${"]".repeat(5_000)}`),
      () => b64(`{"a":${"[".repeat(40_000)}${"]".repeat(40_000)}}`),
      () => b64(JSON.stringify({ ...h, zip: "DEF" })),
      () => b64(JSON.stringify({ ...h, crit: ["exp"], exp: 1 })),
      () => b64(JSON.stringify({ ...h, alg: "none" })),
      () => b64(JSON.stringify({ ...h, alg: "RSA1_5" })),
      () => b64(JSON.stringify({ ...h, alg: "dir" })),
      () => b64(JSON.stringify({ ...h, enc: "A128CBC-HS256" })),
      () => b64(JSON.stringify({ ...h, typ: "JWT" })),
      () => b64(JSON.stringify({ ...h, "x5t#S256": "A".repeat(43) })),
      () => b64(JSON.stringify({ ...h, "x5t#S256": 7 })),
      () => b64(JSON.stringify({ ...h, jku: "https://evil.example/jwks" })),
      () => b64(JSON.stringify({ ...h, kid: "../../../etc/passwd" })),
      () => b64(`{"__proto__":{"polluted":"yes"},${JSON.stringify(h).slice(1)}`),
      () => b64(`{"constructor":{"prototype":{"polluted":"yes"}},${JSON.stringify(h).slice(1)}`),
      () => b64(`${JSON.stringify(h).slice(0, -1)},"alg":"none"}`),
      () => b64(` ${JSON.stringify(h)} `),
      () => b64(JSON.stringify(h).replace("RSA-OAEP-256", "RSA-OAEP-256\u0000")),
      () => b64(JSON.stringify(h).replace("RSA-OAEP-256", "RSA-OAEP-256\ud800")),
      () => b64("null"),
      () => b64("[]"),
      () => b64('"RSA-OAEP-256"'),
      () => b64("{"),
      () => b64("\ufeff{}"),
      () => Buffer.from(JSON.stringify(h), "utf16le").toString("base64url"),
      () => r.bytes(1 + r.int(300)).toString("base64url"),
    ];
    return r.pick(variants)();
  }

  function mutateEnvelope(
    r: Rng,
    envelope: string,
    donor: string,
  ): { label: string; value: string } {
    const parts = envelope.split(".");
    const donorParts = donor.split(".");
    const i = r.int(5);
    const part = parts[i] ?? "";
    const at = r.int(part.length + 1);
    const ops: (() => { label: string; value: string })[] = [
      () => {
        const c = part[at] ?? "A";
        let d = r.pick([...B64URL]);
        if (d === c) d = c === "A" ? "B" : "A";
        parts[i] = `${part.slice(0, at)}${d}${part.slice(at + 1)}`;
        return { label: `flip part ${i}@${at}`, value: parts.join(".") };
      },
      () => {
        const n = 1 + r.int(4);
        parts[i] =
          `${part.slice(0, at)}${r.bytes(n).toString("base64url").slice(0, n)}${part.slice(at)}`;
        return { label: `insert ${n} in part ${i}@${at}`, value: parts.join(".") };
      },
      () => {
        const n = 1 + r.int(8);
        parts[i] = `${part.slice(0, at)}${part.slice(at + n)}`;
        return { label: `delete ${n} in part ${i}@${at}`, value: parts.join(".") };
      },
      () => {
        const s = r.pick(HOSTILE);
        parts[i] = `${part.slice(0, at)}${s}${part.slice(at)}`;
        return {
          label: `hostile ${JSON.stringify(s.slice(0, 8))} in part ${i}@${at}`,
          value: parts.join("."),
        };
      },
      () => {
        parts[i] = donorParts[i] ?? "";
        return { label: `swap part ${i}`, value: parts.join(".") };
      },
      () => {
        const j = r.int(5);
        [parts[i], parts[j]] = [parts[j] ?? "", parts[i] ?? ""];
        return { label: `exchange parts ${i},${j}`, value: parts.join(".") };
      },
      () => {
        parts.splice(i, 0, part);
        return { label: `duplicate part ${i}`, value: parts.join(".") };
      },
      () => {
        parts.splice(i, 1);
        return { label: `drop part ${i}`, value: parts.join(".") };
      },
      () => {
        const whole = parts.join(".");
        const n = r.int(whole.length);
        return { label: `truncate at ${n}`, value: whole.slice(0, n) };
      },
      () => {
        parts[i] = `${part}${"=".repeat(1 + r.int(2))}`;
        return { label: `pad part ${i}`, value: parts.join(".") };
      },
      () => {
        parts[i] = Buffer.from(part, "base64url").toString("base64");
        return { label: `base64 (not url) part ${i}`, value: parts.join(".") };
      },
      () => {
        parts[i] = "";
        return { label: `empty part ${i}`, value: parts.join(".") };
      },
      () => {
        parts[0] = hostileHeader(r);
        return { label: "hostile header", value: parts.join(".") };
      },
      () => {
        parts[i] = r.bytes(r.int(600)).toString("base64url");
        return { label: `random part ${i}`, value: parts.join(".") };
      },
      () => {
        const s = r.pick(HOSTILE);
        return {
          label: `wrap in ${JSON.stringify(s.slice(0, 8))}`,
          value: `${s}${parts.join(".")}${s}`,
        };
      },
      () => ({ label: "many dots", value: ".".repeat(1 + r.int(5000)) }),
      () => ({ label: "random text", value: r.bytes(r.int(2000)).toString("latin1") }),
    ];
    return r.pick(ops)();
  }

  it(`answers a stored receipt or a 4xx problem to ~240 mutated envelopes (seed ${SEED})`, async (t) => {
    t.diagnostic(`seed ${SEED} (MLAX_FUZZ_SEED=${SEED} to replay)`);
    const start = violations.length;
    for (let n = 0; n < 240; n++) {
      const [base, donor] = rng.bool() ? [original, other] : [other, original];
      let { label, value } = mutateEnvelope(rng, base.envelope, donor.envelope);
      // Sometimes a second mutation on top of the first.
      if (rng.bool(0.25)) {
        const more = mutateEnvelope(
          rng,
          value.split(".").length === 5 ? value : base.envelope,
          donor.envelope,
        );
        label = `${label}; ${more.label}`;
        value = more.value;
      }
      await exercise(`#${n} ${label}`, post().field("envelope", value));
    }
    // Untouched envelopes under the wrong TLS client: refused, nothing stored twice.
    clientAuthority = "IT-MG";
    try {
      await exercise("wrong TLS client", post().field("envelope", original.envelope));
    } finally {
      clientAuthority = "CO-FGN";
    }
    assert.deepEqual(violations.slice(start), []);
  });

  // --- multipart framing ----------------------------------------------------------------------

  /** Framing abuse that must be answered with a 4xx problem (or the stored receipt). */
  function framingCases(): [string, request.Test][] {
    const env = original.envelope;
    const send = (
      label: string,
      m: { contentType: string; body: Buffer },
    ): [string, request.Test] => [label, post().set("Content-Type", m.contentType).send(m.body)];
    const many = Array.from({ length: 60 }, (_, i) => ({ name: `f${i}`, body: "x" }));
    const manyFiles = Array.from({ length: 30 }, (_, i) => ({
      name: "attachment",
      filename: `a${i}.bin`,
      body: "x",
    }));
    return [
      send("well-formed raw body (control)", rawMultipart([{ name: "envelope", body: env }])),
      send(
        "preamble and epilogue",
        rawMultipart([{ name: "envelope", body: env }], {
          preamble: "junk",
          epilogue: "more junk",
        }),
      ),
      send(
        "envelope field twice",
        rawMultipart([
          { name: "envelope", body: env },
          { name: "envelope", body: env },
        ]),
      ),
      send(
        "envelope field twice, second bad",
        rawMultipart([
          { name: "envelope", body: env },
          { name: "envelope", body: "x" },
        ]),
      ),
      send("60 tiny fields", rawMultipart(many)),
      send("30 tiny files", rawMultipart([{ name: "envelope", body: env }, ...manyFiles])),
      send("empty multipart (closing delimiter only)", rawMultipart([])),
      send("field named envelope[]", rawMultipart([{ name: "envelope[]", body: env }])),
      send("field named envelope[a]", rawMultipart([{ name: "envelope[a]", body: env }])),
      send("field named envelope[0]", rawMultipart([{ name: "envelope[0]", body: env }])),
      send("field named __proto__", rawMultipart([{ name: "__proto__", body: env }])),
      send(
        "field named __proto__[envelope]",
        rawMultipart([{ name: "__proto__[envelope]", body: env }]),
      ),
      send(
        "field named constructor[prototype][x]",
        rawMultipart([{ name: "constructor[prototype][x]", body: env }]),
      ),
      send("field name 33 chars", rawMultipart([{ name: "e".repeat(33), body: env }])),
      send("field name unicode", rawMultipart([{ name: "énvelope😀", body: env }])),
      send("field name %22-escaped", rawMultipart([{ name: "envelope%22", body: env }])),
      send(
        "envelope sent as a file",
        rawMultipart([{ name: "envelope", filename: "envelope.txt", body: env }]),
      ),
      send(
        "attachment sent as a text field",
        rawMultipart([
          { name: "envelope", body: env },
          { name: "attachment", body: "not a file" },
        ]),
      ),
      send(
        "envelope in base64 transfer encoding",
        rawMultipart([
          {
            name: "envelope",
            headers: ["Content-Transfer-Encoding: base64"],
            body: Buffer.from(env).toString("base64"),
          },
        ]),
      ),
      send(
        "envelope with charset=utf-16le",
        rawMultipart([
          {
            name: "envelope",
            contentType: "text/plain; charset=utf-16le",
            body: Buffer.from(env, "utf16le"),
          },
        ]),
      ),
      send(
        "envelope with an unknown charset",
        rawMultipart([
          { name: "envelope", contentType: "text/plain; charset=x-nothing", body: env },
        ]),
      ),
      send(
        "NUL bytes around the envelope",
        rawMultipart([{ name: "envelope", body: `\u0000${env}\u0000` }]),
      ),
      send(
        "30 part header lines",
        rawMultipart([
          {
            name: "envelope",
            headers: Array.from({ length: 30 }, (_, i) => `X-H${i}: v`),
            body: env,
          },
        ]),
      ),
      send(
        "boundary of 70 chars",
        rawMultipart([{ name: "envelope", body: env }], {
          boundary: "b".repeat(70),
        }),
      ),
      send(
        "boundary of 300 chars",
        rawMultipart([{ name: "envelope", body: env }], {
          boundary: "b".repeat(300),
        }),
      ),
      send("quoted boundary", {
        contentType: 'multipart/form-data; boundary="quoted boundary"',
        body: rawMultipart([{ name: "envelope", body: env }], { boundary: "quoted boundary" }).body,
      }),
      ["no Content-Type", post().send(Buffer.from(`envelope=${env}`))],
      ["text/plain body", post().set("Content-Type", "text/plain").send(env)],
      [
        "urlencoded body",
        post().set("Content-Type", "application/x-www-form-urlencoded").send(`envelope=${env}`),
      ],
      [
        "JSON body",
        post()
          .set("Content-Type", "application/json")
          .send(JSON.stringify({ envelope: env })),
      ],
      [
        "multipart/mixed",
        post().set("Content-Type", "multipart/mixed; boundary=x").send(Buffer.from("--x--\r\n")),
      ],
      [
        "multipart/form-data without boundary",
        post().set("Content-Type", "multipart/form-data").send(Buffer.from("x")),
      ],
      [
        "multipart/form-data, empty boundary",
        post().set("Content-Type", "multipart/form-data; boundary=").send(Buffer.from("--\r\n")),
      ],
      [
        "Content-Length over the cap",
        post()
          .set("Content-Type", "multipart/form-data; boundary=x")
          .set("Content-Length", "99999999999")
          .send(Buffer.from("--x--\r\n")),
      ],
      ["GET on the envelope route", request(server).get(ROUTE)],
      ["PUT on the envelope route", request(server).put(ROUTE).send("x")],
    ];
  }

  it("answers multipart framing abuse with a 4xx problem (or the stored receipt)", async () => {
    const start = violations.length;
    for (const [label, req] of framingCases()) await exercise(`framing: ${label}`, req);
    assert.deepEqual(violations.slice(start), []);
  });

  for (const [label, build, todo] of BUSBOY_ERROR_CASES) {
    it(`framing: ${label}: a 4xx problem`, todo ? { todo } : {}, async () => {
      const start = violations.length;
      const m = build(original.envelope);
      await exercise(`framing: ${label}`, post().set("Content-Type", m.contentType).send(m.body));
      assert.deepEqual(violations.slice(start), []);
    });
  }

  // --- attachment parts -----------------------------------------------------------------------

  it("ignores hostile part names and types, and signs rejected receipts for mismatched counts", async () => {
    const start = violations.length;
    const file = (body: Buffer, filename: string, contentType = "application/octet-stream") => ({
      name: "attachment",
      filename,
      contentType,
      body,
    });
    const multipart = (envelope: string, parts: RawPart[], first = false) => {
      const m = rawMultipart(
        first
          ? [...parts, { name: "envelope", body: envelope }]
          : [{ name: "envelope", body: envelope }, ...parts],
      );
      return post().set("Content-Type", m.contentType).send(m.body);
    };
    const hostileNames = [
      "../../x",
      "../../../../../../tmp/mlax-escape",
      "..\\..\\x",
      "/etc/passwd",
      "x".repeat(10_000),
      "😀\u202eexe.pdf",
      "%2e%2e%2fx",
      "",
    ];
    // Correct parts under hostile names and content types: accepted, stored under random names.
    for (const [k, name] of hostileNames.entries()) {
      const s = await sealWith([randomBytes(100 + rng.int(5000))]);
      await exercise(
        `attachment named ${JSON.stringify(name.slice(0, 20))}`,
        multipart(
          s.envelope,
          [
            file(
              s.parts[0]!,
              name,
              rng.pick(["text/html", "", "application/x-msdownload", "../x"]),
            ),
          ],
          k % 2 === 0,
        ),
        { kind: "fresh", id: s.id, envelope: s.envelope, status: "accepted" },
      );
    }
    // Wrong counts, sizes, order or bytes: a signed rejected receipt MESSAGE_ATTACHMENT_INVALID.
    const rejected = {
      kind: "fresh",
      status: "rejected",
      reason: "MESSAGE_ATTACHMENT_INVALID",
    } as const;
    const two = () => sealWith([randomBytes(3000), randomBytes(70_000)]);
    const cases: [
      string,
      () => Promise<{ id: string; envelope: string; parts: Buffer[] }>,
      (p: Buffer[]) => Buffer[],
    ][] = [
      ["no parts for two entries", two, () => []],
      ["one part for two entries", two, (p) => p.slice(0, 1)],
      ["three parts for two entries", two, (p) => [...p, p[0]!]],
      ["parts reordered", two, (p) => [p[1]!, p[0]!]],
      ["second part truncated by one byte", two, (p) => [p[0]!, p[1]!.subarray(0, -1)]],
      [
        "second part with one byte more",
        two,
        (p) => [p[0]!, Buffer.concat([p[1]!, Buffer.from([0])])],
      ],
      ["first part empty", two, (p) => [Buffer.alloc(0), p[1]!]],
      [
        "one byte flipped",
        two,
        (p) => {
          const b = Buffer.from(p[1]!);
          const at = rng.int(b.length);
          b[at] = (b[at] ?? 0) ^ (1 + rng.int(255));
          return [p[0]!, b];
        },
      ],
      ["a part for a message without manifest", () => sealWith([]), () => [randomBytes(32)]],
      [
        "records swapped inside a part",
        two,
        (p) => {
          const b = p[1]!;
          const rec = 64 * 1024 + 16;
          return [p[0]!, Buffer.concat([b.subarray(rec), b.subarray(0, rec)])];
        },
      ],
    ];
    for (const [label, make, tamper] of cases) {
      const s = await make();
      await exercise(
        `attachments: ${label}`,
        multipart(
          s.envelope,
          tamper(s.parts).map((p, i) => file(p, `attachment-${i}.bin`)),
        ),
        { ...rejected, id: s.id, envelope: s.envelope },
      );
    }
    // Resends of a stored message with any parts at all: the stored receipt, nothing kept.
    for (let n = 0; n < 8; n++) {
      const parts = Array.from({ length: rng.int(4) }, () =>
        file(rng.bytes(rng.int(2000)), "x.bin"),
      );
      await exercise(`resend with ${parts.length} junk parts`, multipart(original.envelope, parts));
    }
    // More files than the cap, or a file under another field name: 4xx.
    const s = await sealWith([randomBytes(10)]);
    await exercise(
      "21 attachment parts",
      multipart(
        s.envelope,
        Array.from({ length: 21 }, () => file(s.parts[0]!, "a.bin")),
      ),
    );
    await exercise(
      "a file under the field name attachment[]",
      multipart(s.envelope, [{ ...file(s.parts[0]!, "a.bin"), name: "attachment[]" }]),
    );
    await exercise(
      "a file under the field name file",
      multipart(s.envelope, [{ ...file(s.parts[0]!, "a.bin"), name: "file" }]),
    );
    assert.deepEqual(violations.slice(start), []);
    // Nothing was written where a part name pointed.
    for (const p of [
      join(dirname(receiver.dataDir), "x"),
      "/tmp/mlax-escape",
      join(receiver.dataDir, "x"),
    ]) {
      assert.equal(existsSync(p), false, p);
    }
    for (const name of readdirSync(join(receiver.dataDir, "blobs"))) {
      assert.match(name, /^[0-9a-f]{32}\.blob$/);
    }
  });

  it("keeps a part whose file name reduces to nothing (., .., a/) as a part", async () => {
    const start = violations.length;
    for (const name of [".", "..", "a/"]) {
      const s = await sealWith([randomBytes(1000)]);
      const m = rawMultipart([
        { name: "envelope", body: s.envelope },
        {
          name: "attachment",
          filename: name,
          contentType: "application/octet-stream",
          body: s.parts[0]!,
        },
      ]);
      await exercise(
        `attachment named ${JSON.stringify(name)}`,
        post().set("Content-Type", m.contentType).send(m.body),
        { kind: "fresh", id: s.id, envelope: s.envelope, status: "accepted" },
      );
    }
    assert.deepEqual(violations.slice(start), []);
  });

  // --- afterwards -----------------------------------------------------------------------------

  it("is alive, intact and answers the original envelope with its stored receipt", async (t) => {
    t.diagnostic(`seed ${SEED}: ${total} requests`);
    for (const [k, v] of [...tally.entries()].sort()) t.diagnostic(`${k}: ${v}`);
    assert.ok(total >= 280, `${total} requests`);
    assert.deepEqual(crashes, []);
    const health = await request(server).get("/peer/v1/health").timeout(TIMEOUT);
    assert.equal(health.status, 200);
    assert.deepEqual(receiver.store.integrityCheck(), { ok: true });
    assert.equal(receiver.store.verifyAuditChain().ok, true);
    assert.deepEqual(incoming(), []);
    // Every message the node answered a receipt for is stored, with that receipt.
    for (const { id, receipt } of stored.values()) {
      const row = receiver.store.getMessage(id, { box: "inbox" });
      assert.ok(row, `message ${id} kept`);
      assert.equal(row.receipt?.jws, receipt, `receipt of ${id}`);
    }
    const inbox = receiver.store.listMessages({ box: "inbox", limit: 200 }).items;
    assert.equal(inbox.length, stored.size, "no message stored from a mutated envelope");
    const again = await post().field("envelope", original.envelope).timeout(TIMEOUT);
    assert.equal(again.status, 200);
    assert.equal(again.body.receipt, stored.get(original.envelope)?.receipt, "byte for byte");
  });
});
