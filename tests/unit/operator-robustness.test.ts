/**
 * Robustness of the operator API (src/operator/app.ts): nothing an authenticated user sends
 * crashes the node, corrupts the store or pollutes prototypes. A seeded PRNG (mulberry32; override
 * with MLAX_FUZZ_SEED) generates JSON bodies (wrong types, deep nesting, huge arrays, `__proto__`
 * and `constructor` keys, unicode), query strings for the listing (limits, cursor garbage,
 * repeated parameters), path ids and indexes, and multipart sends with hostile file names and
 * broken framing. Every answer must be a 2xx or a 4xx problem+json with a code from ERROR_CODES at
 * its own status — never a 500, never a hang. Afterwards Object.prototype is unchanged, the store
 * passes its integrity and audit chain checks, every queued message reads back and its envelope
 * opens at its recipient, and no blob is left that no message names.
 */

import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { readdirSync } from "node:fs";
import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import request from "supertest";
import { exampleRequestBody } from "../../src/domain/example-request.ts";
import { MESSAGE_TYPES } from "../../src/domain/message-types.ts";
import { open } from "../../src/envelope/open.ts";
import { ERROR_CODES } from "../../src/errors.ts";
import { createOperatorApp } from "../../src/operator/app.ts";
import { MAX_CLAIM } from "../../src/store/index.ts";
import { makeTestNode, type TestNode } from "../helpers/node-context.ts";
import { prng, type Rng } from "../helpers/prng.ts";

const SEED = Number(process.env.MLAX_FUZZ_SEED ?? 0x6f706572) >>> 0;
/** Per request: no answer within this is a hang. */
const TIMEOUT = { response: 8_000, deadline: 12_000 } as const;

const KEYS = [
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "hasOwnProperty",
  "valueOf",
  "to",
  "body",
  "type",
  "threadId",
  "ttlHours",
  "kind",
  "language",
  "",
  "\u0000",
  "😀",
  "a".repeat(300),
] as const;
const STRINGS = [
  "",
  "\u0000",
  "\ud800",
  "\udfff\ud800",
  "😀",
  "\u202eexe.pdf",
  "\r\n",
  "__proto__",
  "constructor",
  "CO-FGN",
  "ES-MJ",
  "co-fgn",
  "XX-NOPE",
  "request",
  "status-inquiry",
  "es",
  "mla",
  "<script>alert(1)</script>",
  "'; DROP TABLE messages; --",
  "x".repeat(20_000),
] as const;
/** Text that is valid JSON but hostile to whatever handles it next. */
const UNICODE = [
  "\u0000",
  "\ud800",
  "\udfff",
  "😀",
  "\u202e",
  "\u200b",
  "\ufeff",
  "\r\n",
  "e\u0301",
  "\u2028\u2029",
  "%00",
  "{{x}}",
  "\\",
  "é".repeat(3000),
] as const;
const NUMBERS = [0, -0, -1, 1, 1.5, 1e308, -1e308, 2 ** 53 + 1, 8760, 8761] as const;

/** encodeURIComponent that survives lone surrogates (they become U+FFFD first). */
const enc = (text: string) => encodeURIComponent(Buffer.from(text, "utf8").toString("utf8"));

/** Own data property, so `__proto__` becomes a JSON key and never a prototype. */
function setKey(target: Record<string, unknown>, key: string, value: unknown) {
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

function randomJson(r: Rng, depth: number): unknown {
  const kind = r.int(depth <= 0 ? 4 : 7);
  switch (kind) {
    case 0:
      return r.pick([null, true, false]);
    case 1:
      return r.pick(NUMBERS);
    case 2:
    case 3:
      return r.bool(0.2) ? randomUUID() : r.pick(STRINGS);
    case 4:
    case 5: {
      const o: Record<string, unknown> = {};
      for (let i = r.int(5); i > 0; i--) setKey(o, r.pick(KEYS), randomJson(r, depth - 1));
      return o;
    }
    default:
      return Array.from({ length: r.int(5) }, () => randomJson(r, depth - 1));
  }
}

/** A copy of `value` with own-property semantics for every key (JSON round trip keeps them). */
function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** Sets, deletes or adds one member somewhere inside a valid send body. */
function mutateBody(r: Rng): { label: string; body: unknown } {
  const root: Record<string, unknown> = clone({ to: "CO-FGN", body: exampleRequestBody() });
  let node: unknown = root;
  const path: string[] = [];
  for (let d = r.int(5); d > 0; d--) {
    if (node === null || typeof node !== "object") break;
    const keys = Object.keys(node);
    if (keys.length === 0) break;
    const k = r.pick(keys);
    const child = (node as Record<string, unknown>)[k];
    if (child === null || typeof child !== "object") break;
    path.push(k);
    node = child;
  }
  const target = node as Record<string, unknown>;
  const keys = Object.keys(target);
  const op = r.int(5);
  const strings = keys.filter((k) => typeof target[k] === "string");
  if (op === 3 && strings.length > 0) {
    // Same type, hostile text: these reach signing, sealing and the store.
    const k = r.pick(strings);
    const text = String(target[k]);
    const at = r.int(text.length + 1);
    const s = r.pick(UNICODE);
    target[k] = r.bool() ? `${text.slice(0, at)}${s}${text.slice(at)}` : s;
    return {
      label: `text ${[...path, k].join(".")} += ${JSON.stringify(s.slice(0, 8))}`,
      body: root,
    };
  }
  if (op === 4) {
    const type = r.pick(MESSAGE_TYPES);
    root.type = type;
    if (r.bool(0.8)) root.threadId = r.bool() ? randomUUID() : r.pick(STRINGS);
    return { label: `type ${type}`, body: root };
  }
  if (op === 0 && keys.length > 0) {
    const k = r.pick(keys);
    delete target[k];
    return { label: `delete ${[...path, k].join(".")}`, body: root };
  }
  const k = op === 1 && keys.length > 0 ? r.pick(keys) : r.pick(KEYS);
  setKey(target, k, randomJson(r, 3));
  return { label: `set ${[...path, k].join(".").slice(0, 60)}`, body: root };
}

interface RawPart {
  readonly name?: string;
  readonly filename?: string;
  readonly contentType?: string;
  /** Replaces the whole header block. */
  readonly rawHeaders?: string;
  readonly body: string | Buffer;
}

/** A multipart/form-data body built byte by byte (RFC 7578), to break it on purpose. */
function rawMultipart(parts: readonly RawPart[], options: { unterminated?: boolean } = {}) {
  const boundary = "mlaxOperatorBoundary91c2";
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const head =
      part.rawHeaders ??
      [
        `Content-Disposition: form-data; name="${part.name ?? ""}"${
          part.filename === undefined ? "" : `; filename="${part.filename}"`
        }`,
        ...(part.contentType ? [`Content-Type: ${part.contentType}`] : []),
      ].join("\r\n");
    chunks.push(Buffer.from(`--${boundary}\r\n${head}\r\n\r\n`, "utf8"));
    chunks.push(typeof part.body === "string" ? Buffer.from(part.body, "utf8") : part.body);
    chunks.push(Buffer.from("\r\n"));
  }
  if (!options.unterminated) chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { contentType: `multipart/form-data; boundary=${boundary}`, body: Buffer.concat(chunks) };
}

/** A superagent parser that keeps any response body as raw bytes. */
function binary(res: request.Response, callback: (err: Error | null, body: unknown) => void) {
  const stream = res as unknown as NodeJS.ReadableStream;
  const chunks: Buffer[] = [];
  stream.on("data", (c: Buffer) => chunks.push(c));
  stream.on("end", () => callback(null, Buffer.concat(chunks)));
}

/** What the checks read from an answer (supertest's Response or a node:http one). */
interface Answer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly text: string;
  // biome-ignore lint/suspicious/noExplicitAny: a parsed JSON body
  readonly body: any;
}

const PROTOTYPES = [Object.prototype, Array.prototype, Function.prototype, String.prototype];
const protoSnapshot = () => PROTOTYPES.map((p) => Object.getOwnPropertyNames(p).sort());

describe("operator API robustness (seeded fuzz)", () => {
  let node: TestNode;
  let server: Server;
  let token: string;
  let rng: Rng;
  let seeded: { id: string; view: string };
  const protoBefore = protoSnapshot();
  /** Messages the API queued (202), with the attachments it answered. */
  const queued = new Map<string, { attachments: number }>();
  const tally = new Map<string, number>();
  const violations: string[] = [];
  /** 4xx answers whose problem document lost its own `type`, `title` or `status`. */
  const shapeViolations: string[] = [];
  const crashes: unknown[] = [];
  const onCrash = (error: unknown) => crashes.push(error);
  let total = 0;

  const auth = (r: request.Test) => r.set("Authorization", `Bearer ${token}`);
  const get = (path: string) => auth(request(server).get(path));
  const postMessage = () => auth(request(server).post("/api/v1/messages"));
  const blobFiles = () => readdirSync(join(node.dataDir, "blobs"));

  before(async () => {
    process.on("uncaughtException", onCrash);
    process.on("unhandledRejection", onCrash);
    rng = prng(SEED);
    node = await makeTestNode();
    token = node.store.createToken("fuzz").secret;
    server = createServer(createOperatorApp(node.ctx));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const res = await postMessage()
      .send({ to: "CO-FGN", body: exampleRequestBody() })
      .timeout(TIMEOUT);
    assert.equal(res.status, 202, res.text);
    const id = String(res.body.id);
    queued.set(id, { attachments: 0 });
    const view = await get(`/api/v1/messages/${id}`).timeout(TIMEOUT);
    assert.equal(view.status, 200);
    seeded = { id, view: view.text };
  });

  after(async () => {
    process.off("uncaughtException", onCrash);
    process.off("unhandledRejection", onCrash);
    await new Promise<void>((resolve) => server?.close(() => resolve()));
    node?.close();
  });

  function count(key: string) {
    tally.set(key, (tally.get(key) ?? 0) + 1);
  }

  /** Sends one request and records whether its answer is allowed (2xx, or a 4xx problem). */
  async function exercise(
    label: string,
    req: request.Test | Promise<Answer>,
  ): Promise<Answer | undefined> {
    total++;
    let res: Answer;
    try {
      res = await ("timeout" in req ? req.timeout(TIMEOUT) : req);
    } catch (error) {
      const e = error as { timeout?: number; code?: string; message?: string };
      count(e.timeout ? "HANG" : `NETWORK ${e.code ?? "?"}`);
      violations.push(`${label}: no answer (${e.code ?? ""} ${e.message ?? ""})`);
      return undefined;
    }
    if (res.status >= 200 && res.status < 300) {
      count(String(res.status));
      if (res.status === 202) {
        const attachments = Array.isArray(res.body?.attachments) ? res.body.attachments.length : 0;
        queued.set(String(res.body.id), { attachments });
      }
      return res;
    }
    const problem = /^application\/problem\+json/.test(res.headers["content-type"] ?? "");
    const code = res.body?.code as string | undefined;
    count(`${res.status} ${code ?? "(no code)"}`);
    const info = code === undefined ? undefined : ERROR_CODES[code as keyof typeof ERROR_CODES];
    if (res.status >= 400 && res.status < 500 && problem && info?.status === res.status) {
      // RFC 9457: the standard members are the problem's own, whatever its extensions say.
      const b = res.body as Record<string, unknown>;
      if (
        b.type !== `urn:mlax:error:${code}` ||
        b.title !== info.title ||
        b.status !== res.status
      ) {
        shapeViolations.push(`${label}: ${code} answered with type ${JSON.stringify(b.type)}`);
      }
      return res;
    }
    violations.push(`${label}: ${res.status} ${res.text.slice(0, 200)}`);
    return res;
  }

  /**
   * A POST through node:http, byte for byte (superagent re-encodes a body sent with a
   * Content-Encoding header, so compressed bodies go this way).
   */
  function rawPost(path: string, headers: Record<string, string>, body: Buffer): Promise<Answer> {
    const { port } = server.address() as AddressInfo;
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        {
          host: "127.0.0.1",
          port,
          method: "POST",
          path,
          timeout: TIMEOUT.response,
          headers: {
            ...headers,
            Authorization: `Bearer ${token}`,
            "Content-Length": String(body.length),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let parsed: unknown;
            try {
              parsed = JSON.parse(text);
            } catch {
              parsed = undefined;
            }
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers as Record<string, string>,
              text,
              body: parsed,
            });
          });
        },
      );
      req.on("timeout", () =>
        req.destroy(Object.assign(new Error("timeout"), { timeout: TIMEOUT.response })),
      );
      req.on("error", reject);
      req.end(body);
    });
  }

  const sendJsonText = (text: string | Buffer, type = "application/json") =>
    postMessage().set("Content-Type", type).send(text);

  it(`answers 2xx or a 4xx problem to ~130 random JSON bodies (seed ${SEED})`, async (t) => {
    t.diagnostic(`seed ${SEED} (MLAX_FUZZ_SEED=${SEED} to replay)`);
    const start = violations.length;
    for (let n = 0; n < 90; n++) {
      const { label, body } = rng.bool(0.8)
        ? mutateBody(rng)
        : { label: "random value", body: randomJson(rng, 4) };
      await exercise(`#${n} ${label}`, sendJsonText(JSON.stringify(body) ?? "null"));
    }
    const valid = JSON.stringify({ to: "CO-FGN", body: exampleRequestBody() });
    const inner = valid.slice(1);
    const bodyInner = JSON.stringify(exampleRequestBody()).slice(1);
    const special: [string, string | Buffer, string?][] = [
      ["deep array (100k)", `{"to":"CO-FGN","body":${"[".repeat(100_000)}${"]".repeat(100_000)}}`],
      [
        "deep object inside body (50k)",
        `{"to":"CO-FGN","body":{"x":${'{"a":'.repeat(50_000)}1${"}".repeat(50_000)}}}`,
      ],
      [
        "deep array inside a request member (100k)",
        `{"to":"CO-FGN","body":{${bodyInner.slice(0, -1)},"facts":${"[".repeat(100_000)}${"]".repeat(100_000)}}}`,
      ],
      [
        "huge array of persons",
        JSON.stringify({
          to: "CO-FGN",
          body: { ...exampleRequestBody(), persons: Array.from({ length: 30_000 }, () => ({})) },
        }),
      ],
      ["huge array of numbers", `{"to":"CO-FGN","body":{"legalBasis":[${"1,".repeat(500_000)}1]}}`],
      [
        "facts of 1.9 MB",
        JSON.stringify({
          to: "CO-FGN",
          body: { ...exampleRequestBody(), facts: "x".repeat(1_900_000) },
        }),
      ],
      ["body over 2 MB", JSON.stringify({ to: "CO-FGN", body: { facts: "x".repeat(2_200_000) } })],
      ["top-level __proto__", `{"__proto__":{"polluted":"yes"},${inner}`],
      [
        "top-level constructor.prototype",
        `{"constructor":{"prototype":{"polluted":"yes"}},${inner}`,
      ],
      [
        "body.__proto__",
        `{"to":"CO-FGN","body":{"__proto__":{"polluted":"yes","kind":"mla"},${bodyInner}}`,
      ],
      [
        "persons[0].__proto__",
        JSON.stringify({ to: "CO-FGN", body: exampleRequestBody() }).replace(
          '"role":"suspect"',
          '"__proto__":{"polluted":"yes"},"role":"suspect"',
        ),
      ],
      [
        "body.constructor.prototype",
        `{"to":"CO-FGN","body":{"constructor":{"prototype":{"polluted":"yes"}},${bodyInner}}`,
      ],
      ["duplicate keys", `{"to":"XX-NOPE","to":"CO-FGN",${inner}`],
      ["lone surrogates in facts", valid.replace('"facts":"', '"facts":"\\ud800\\udfff\\ud800')],
      ["NUL and RTL in facts", valid.replace('"facts":"', '"facts":"\\u0000\\u202e')],
      [
        "a follow-up the thread forbids (status-update from the requester)",
        JSON.stringify({
          type: "status-update",
          to: "CO-FGN",
          threadId: seeded.id,
          body: { status: "Executing." },
        }),
      ],
      ["JSON null", "null"],
      ["JSON array", "[]"],
      ["JSON number", "1"],
      ["JSON string", '"x"'],
      ["empty body", ""],
      ["truncated JSON", valid.slice(0, -7)],
      ["trailing garbage", `${valid}x`],
      ["single quotes", "{'to':'CO-FGN'}"],
      ["NUL byte", "\u0000"],
      ["BOM then JSON", `\ufeff${valid}`],
      ["UTF-16 JSON", Buffer.from(valid, "utf16le"), "application/json; charset=utf-16le"],
      ["text/plain JSON", valid, "text/plain"],
      ["urlencoded", "to=CO-FGN&body=x", "application/x-www-form-urlencoded"],
      ["no type", valid, ""],
      ["application/json+junk type", valid, "application/jsonx"],
      ["vendor +json type", valid, "application/vnd.mlax+json"],
    ];
    for (const [label, text, type] of special) {
      const req =
        type === ""
          ? postMessage().send(Buffer.from(text))
          : sendJsonText(text, type ?? "application/json");
      await exercise(`special: ${label}`, req);
    }
    // Content-Encoding the body parser supports: a gzip body and a small gzip bomb.
    const gzipped = (json: string) =>
      rawPost(
        "/api/v1/messages",
        { "Content-Type": "application/json", "Content-Encoding": "gzip" },
        gzipSync(json),
      );
    await exercise("gzip body", gzipped(valid));
    await exercise(
      "gzip bomb over the cap",
      gzipped(`{"to":"CO-FGN","body":{"facts":"${"x".repeat(5_000_000)}"}}`),
    );
    await exercise(
      "unknown Content-Encoding",
      sendJsonText(valid).set("Content-Encoding", "x-nope"),
    );
    assert.deepEqual(violations.slice(start), []);
  });

  it("answers body-parser failures with a 4xx problem", async () => {
    const start = violations.length;
    await exercise(
      "a charset the JSON parser refuses (latin1)",
      sendJsonText('{"to":"CO-FGN"}', "application/json; charset=latin1"),
    );
    await exercise(
      "a gzip Content-Encoding over bytes that are not gzip",
      rawPost(
        "/api/v1/messages",
        { "Content-Type": "application/json", "Content-Encoding": "gzip" },
        Buffer.from("not gzip at all"),
      ),
    );
    assert.deepEqual(violations.slice(start), []);
  });

  /** Query values for the listing. */
  function queryValue(r: Rng, cursors: readonly string[]): string {
    const cursorJson = () =>
      Buffer.from(
        JSON.stringify({
          v: r.pick([1, 2, "1", null]),
          b: r.pick(["outbox", "inbox", 1, null]),
          s: r.pick([null, "queued", "accepted", 0]),
          k: r.pick([1, 0, -1, 1.5, 1e300, 2 ** 53, "5", null, [], {}]),
        }),
      ).toString("base64url");
    const options: (() => string)[] = [
      () => r.pick(["inbox", "outbox", "INBOX", "sent", ""]),
      () => r.pick(["queued", "sending", "delivered", "rejected", "failed", "accepted", "nope"]),
      () =>
        r.pick([
          "0",
          "1",
          "2",
          "200",
          "201",
          "-1",
          "1e2",
          "01",
          "1.5",
          "0x10",
          " 5",
          "999999999999999999999",
        ]),
      () => r.bytes(1 + r.int(220)).toString("base64url"),
      () => cursorJson(),
      () => (cursors.length > 0 ? r.pick(cursors) : "AAAA"),
      () => enc(r.pick(STRINGS).slice(0, 300)),
      () => r.pick(["%00", "%ZZ", "%", "%E0%A4%A", "%F0%9F%98", "a%20b", "%2e%2e%2f"]),
    ];
    return r.pick(options)();
  }

  it("answers 2xx or a 4xx problem to ~80 random listing queries", async () => {
    const start = violations.length;
    // Real cursors, to replay them against other listings.
    const cursors: string[] = [];
    for (const box of ["outbox", "inbox"]) {
      const page = await get(`/api/v1/messages?box=${box}&limit=1`).timeout(TIMEOUT);
      if (typeof page.body.nextCursor === "string") cursors.push(page.body.nextCursor);
    }
    const keys = [
      "box",
      "box",
      "state",
      "limit",
      "cursor",
      "__proto__",
      "constructor",
      "box[]",
      "box[0]",
      "limit[]",
      "",
      "x",
      "toString",
      "hasOwnProperty",
    ];
    for (let n = 0; n < 70; n++) {
      const pairs: string[] = [];
      if (rng.bool(0.8)) pairs.push(`box=${rng.pick(["inbox", "outbox"])}`);
      for (let i = rng.int(4); i >= 0; i--) {
        const key = rng.pick(keys);
        pairs.push(rng.bool(0.1) ? key : `${key}=${queryValue(rng, cursors)}`);
      }
      const query = pairs.join("&");
      await exercise(`list ?${query.slice(0, 80)}`, get(`/api/v1/messages?${query}`));
    }
    for (const query of [
      "box=inbox&box=outbox",
      "box=outbox&box=outbox",
      "box=outbox&limit=1&limit=2",
      "box=outbox&cursor=a&cursor=b",
      "box=outbox&state=queued&state=failed",
      "box[]=outbox",
      "box=outbox&__proto__[polluted]=yes",
      "box=outbox&constructor[prototype][polluted]=yes",
      "__proto__=x",
      "",
    ]) {
      await exercise(`list ?${query}`, get(`/api/v1/messages?${query}`));
    }
    for (const query of [
      "limit=0",
      "limit=1001",
      "beforeId=0",
      "beforeId=-1",
      "beforeId=1e3",
      "limit=1&limit=2",
      "x=1",
      "limit=%ZZ",
    ]) {
      await exercise(`security events ?${query}`, get(`/api/v1/security-events?${query}`));
    }
    assert.deepEqual(violations.slice(start), []);
  });

  /** A path segment for a message id or an attachment index. */
  function pathSegment(r: Rng): string {
    const options: (() => string)[] = [
      () => randomUUID(),
      () => seeded.id,
      () => seeded.id.toUpperCase(),
      () => `${seeded.id}x`,
      () => seeded.id.slice(0, -1),
      () => enc(r.pick(STRINGS).slice(0, 500)),
      () => enc(r.bytes(1 + r.int(40)).toString("latin1")),
      () =>
        r.pick([
          "..",
          "%2e%2e",
          "%2F",
          "%00",
          "%20",
          "0",
          "-1",
          "01",
          "99",
          "100",
          "1e1",
          "x".repeat(5000),
        ]),
    ];
    return r.pick(options)();
  }

  it("answers 2xx or a 4xx problem to ~70 random message paths", async () => {
    const start = violations.length;
    for (let n = 0; n < 60; n++) {
      const id = pathSegment(rng);
      const suffix = rng.pick(["", "/evidence", `/attachments/${pathSegment(rng)}`, "/", "/x"]);
      const query = rng.bool(0.3)
        ? `?${rng.pick(["box", "from", "x", "box"])}=${queryValue(rng, [])}`
        : "";
      await exercise(
        `GET ${id.slice(0, 40)}${suffix.slice(0, 40)}${query.slice(0, 40)}`,
        get(`/api/v1/messages/${id}${suffix}${query}`),
      );
    }
    for (const path of [
      "/api/v1/status",
      "/api/v1/status?x=1",
      "/api/v1",
      "/api/v1/",
      "/api/v1/messages/",
      "/api/v1//messages",
      "/%2e%2e/api/v1/status",
    ]) {
      await exercise(`GET ${path}`, get(path));
    }
    await exercise(
      "DELETE a message",
      auth(request(server).delete(`/api/v1/messages/${seeded.id}`)),
    );
    await exercise(
      "PUT a message",
      auth(request(server).put(`/api/v1/messages/${seeded.id}`)).send({}),
    );
    assert.deepEqual(violations.slice(start), []);
  });

  it("answers a malformed percent-encoding in a path id with a 4xx problem", async () => {
    const start = violations.length;
    for (const path of [
      "/api/v1/messages/%ZZ",
      "/api/v1/messages/%E0%A4%A",
      `/api/v1/messages/${randomUUID()}/attachments/%ZZ`,
      "/api/v1/messages/%/evidence",
    ]) {
      await exercise(`GET ${path}`, get(path));
    }
    assert.deepEqual(violations.slice(start), []);
  });

  // --- multipart sends --------------------------------------------------------------------------

  it("queues multipart sends under hostile file names intact, and refuses broken ones with a 4xx", async () => {
    const start = violations.length;
    const message = JSON.stringify({ to: "CO-FGN", body: exampleRequestBody() });
    const send = (parts: RawPart[]) => {
      const m = rawMultipart(parts);
      return postMessage().set("Content-Type", m.contentType).send(m.body);
    };
    const names = [
      "../../x",
      "..\\..\\x.pdf",
      "/etc/passwd",
      "x".repeat(10_000),
      "😀\u202eexe.pdf",
      "%0D%0AX-Injected: 1.pdf",
      "a;b=c.pdf",
      "é.pdf",
      "<script>.html",
      " ",
    ];
    for (const name of names) {
      const data = rng.bytes(rng.int(100_000));
      const res = await exercise(
        `file named ${JSON.stringify(name.slice(0, 20))}`,
        send([
          { name: "message", body: message },
          {
            name: "attachment",
            filename: name,
            contentType:
              rng.pick(["application/pdf", "text/html", "x", "../y", ""]) ||
              "application/octet-stream",
            body: data,
          },
        ]),
      );
      if (res?.status !== 202) {
        violations.push(`file named ${JSON.stringify(name.slice(0, 20))}: not queued`);
        continue;
      }
      const manifest = res.body.attachments as { name: string; size: number }[];
      assert.equal(manifest.length, 1);
      assert.doesNotMatch(manifest[0]!.name, /[\\/\p{Cc}\u202e]/u);
      const back = await get(`/api/v1/messages/${res.body.id}/attachments/0`)
        .buffer(true)
        .parse(binary)
        .timeout(TIMEOUT);
      assert.equal(back.status, 200);
      assert.deepEqual(back.body, data, "the file reads back intact");
    }
    const file = {
      name: "attachment",
      filename: "a.bin",
      contentType: "application/pdf",
      body: randomBytes(500),
    };
    const broken: [string, RawPart[]][] = [
      [
        "message field twice",
        [
          { name: "message", body: message },
          { name: "message", body: message },
        ],
      ],
      ["no message field", [file]],
      ["message not JSON", [{ name: "message", body: "{nope" }, file]],
      ["message JSON null", [{ name: "message", body: "null" }]],
      [
        "message with __proto__",
        [{ name: "message", body: `{"__proto__":{"polluted":"yes"},${message.slice(1)}` }],
      ],
      [
        "message deep array",
        [{ name: "message", body: `${"[".repeat(100_000)}${"]".repeat(100_000)}` }],
      ],
      ["message sent as a file", [{ name: "message", filename: "m.json", body: message }]],
      [
        "a file under another field",
        [
          { name: "message", body: message },
          { ...file, name: "file" },
        ],
      ],
      [
        "a file under attachment[]",
        [
          { name: "message", body: message },
          { ...file, name: "attachment[]" },
        ],
      ],
      ["21 files", [{ name: "message", body: message }, ...Array.from({ length: 21 }, () => file)]],
      ["field name of 33 chars", [{ name: "m".repeat(33), body: message }]],
      ["field named __proto__", [{ name: "__proto__", body: message }]],
      [
        "field named constructor[prototype][polluted]",
        [{ name: "constructor[prototype][polluted]", body: "yes" }],
      ],
      ["field named message[__proto__]", [{ name: "message[__proto__]", body: "yes" }]],
      [
        "message refused by the domain",
        [
          {
            name: "message",
            body: JSON.stringify({
              to: "CO-FGN",
              type: "status-inquiry",
              threadId: randomUUID(),
              body: { question: "?" },
            }),
          },
          file,
        ],
      ],
    ];
    for (const [label, parts] of broken) await exercise(`multipart: ${label}`, send(parts));
    assert.deepEqual(violations.slice(start), []);
  });

  /** Broken framing busboy or multer report themselves; the third member marks a known failure. */
  const MULTIPART_BROKEN: [string, RawPart[], string?][] = [
    ["an unterminated body", [{ name: "message", body: "{}" }]],
    [
      "a file name with a NUL byte",
      [
        { name: "message", body: JSON.stringify({ to: "CO-FGN", body: exampleRequestBody() }) },
        { name: "attachment", filename: "a\u0000b.pdf", body: "x" },
      ],
    ],
    ["a part without a field name", [{ rawHeaders: "Content-Disposition: form-data", body: "x" }]],
  ];
  for (const [label, parts, todo] of MULTIPART_BROKEN) {
    it(`multipart: ${label}: a 4xx problem`, todo ? { todo } : {}, async () => {
      const start = violations.length;
      const m = rawMultipart(parts, { unterminated: label.includes("unterminated") });
      await exercise(
        `multipart: ${label}`,
        postMessage().set("Content-Type", m.contentType).send(m.body),
      );
      assert.deepEqual(violations.slice(start), []);
    });
  }

  it("does not drop a file whose name reduces to nothing (., .., a/)", async () => {
    const message = JSON.stringify({ to: "CO-FGN", body: exampleRequestBody() });
    for (const name of [".", "..", "a/"]) {
      const m = rawMultipart([
        { name: "message", body: message },
        {
          name: "attachment",
          filename: name,
          contentType: "application/pdf",
          body: randomBytes(100),
        },
      ]);
      const res = await exercise(
        `file named ${name}`,
        postMessage().set("Content-Type", m.contentType).send(m.body),
      );
      // Either the file is queued with the message, or the send is refused: never a silent drop.
      if (res?.status === 202) assert.equal(res.body.attachments.length, 1, `file named ${name}`);
    }
  });

  // A detail named `type` (the message type, from the domain checks) once replaced the problem's
  // own `type` URI: the standard members must win over the extensions.
  it("keeps the RFC 9457 members of every problem document its own", () => {
    assert.deepEqual(shapeViolations.slice(0, 5), [], `${shapeViolations.length} in all`);
  });

  // --- afterwards ---------------------------------------------------------------------------

  it("is alive, unpolluted and intact afterwards", async (t) => {
    t.diagnostic(`seed ${SEED}: ${total} requests`);
    for (const [k, v] of [...tally.entries()].sort()) t.diagnostic(`${k}: ${v}`);
    assert.ok(total >= 280, `${total} requests`);
    assert.deepEqual(crashes, []);
    assert.deepEqual(protoSnapshot(), protoBefore);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.deepEqual(node.store.integrityCheck(), { ok: true });
    assert.equal(node.store.verifyAuditChain().ok, true);
    const status = await get("/api/v1/status").timeout(TIMEOUT);
    assert.equal(status.status, 200, status.text);
    // The seeded message is as it was, and every queued message reads back.
    const view = await get(`/api/v1/messages/${seeded.id}`).timeout(TIMEOUT);
    assert.equal(view.text, seeded.view);
    for (const id of queued.keys()) {
      const res = await get(`/api/v1/messages/${id}`).timeout(TIMEOUT);
      assert.equal(res.status, 200, `${id}: ${res.text}`);
    }
    const listed: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await get(
        `/api/v1/messages?box=outbox&limit=7${cursor ? `&cursor=${cursor}` : ""}`,
      ).timeout(TIMEOUT);
      assert.equal(page.status, 200, page.text);
      listed.push(...(page.body.items as { id: string }[]).map((m) => m.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    assert.deepEqual(listed.sort(), [...queued.keys()].sort(), "the outbox is what was queued");
    // Every queued envelope opens at its recipient, with the manifest that was answered.
    let opened = 0;
    for (;;) {
      const batch = node.store.claimDue(new Date(node.clock.now().getTime() + 1), MAX_CLAIM);
      if (batch.length === 0) break;
      for (const m of batch) {
        const recipient = node.pki.authorities[m.to];
        assert.ok(recipient, m.to);
        const o = await open(m.envelope, {
          self: { authorityId: m.to, enc: recipient.enc },
          trust: node.ctx.network().trust,
          now: node.clock.now(),
        });
        assert.equal(o.message.id, m.id);
        assert.equal(o.message.attachments.length, queued.get(m.id)?.attachments);
        assert.equal(m.attachments.length, o.message.attachments.length);
        node.store.markFailed(m.id, { code: "TEST", message: "checked" }, node.clock.now());
        opened++;
      }
    }
    assert.equal(opened, queued.size);
    // No blob is left that no message names (failed sends removed theirs).
    const named = [...queued.values()].reduce((n, q) => n + q.attachments, 0);
    assert.equal(blobFiles().filter((f) => f.endsWith(".blob")).length, named);
    assert.deepEqual(
      blobFiles().filter((f) => !f.endsWith(".blob")),
      [],
      "no temporary blob left",
    );
  });
});
