/**
 * The operator HTTP API (src/operator/app.ts) through supertest against a real NodeContext: the
 * bearer token on every route (unknown ones too), queueing a message that the recipient can open,
 * input refusals with their codes, listing and paging, one message, evidence bundles before and
 * after a receipt, status and security events.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import request from "supertest";
import { exampleRequestBody } from "../../src/domain/example-request.ts";
import { sha256Hex } from "../../src/envelope/digest.ts";
import { verifyEvidenceBundle } from "../../src/envelope/evidence.ts";
import { newMessage } from "../../src/envelope/new-message.ts";
import { open } from "../../src/envelope/open.ts";
import { createReceipt } from "../../src/envelope/receipt.ts";
import { seal } from "../../src/envelope/seal.ts";
import type { LocalKey } from "../../src/envelope/trust.ts";
import { createOperatorApp, OPERATOR_JSON_LIMIT_BYTES } from "../../src/operator/app.ts";
import { type ClaimedMessage, MAX_CLAIM } from "../../src/store/index.ts";
import { makeTestNode, type TestNode } from "../helpers/node-context.ts";

type App = ReturnType<typeof createOperatorApp>;

interface Res {
  status: number;
  text: string;
  headers: Record<string, string>;
}

function json(res: Res): Record<string, unknown> {
  return JSON.parse(res.text) as Record<string, unknown>;
}

function assertProblem(res: Res, status: number, code: string): Record<string, unknown> {
  assert.equal(res.status, status, res.text);
  assert.match(res.headers["content-type"] ?? "", /^application\/problem\+json/);
  const body = json(res);
  assert.equal(body.code, code, res.text);
  assert.equal(body.status, status);
  return body;
}

function assertJson(res: Res, status: number): Record<string, unknown> {
  assert.equal(res.status, status, res.text);
  assert.match(res.headers["content-type"] ?? "", /^application\/json/);
  return json(res);
}

describe("operator API", () => {
  let node: TestNode;
  let app: App;
  let token: string;
  let revokedToken: string;

  const get = (path: string, t: string | null = token) => {
    const r = request(app).get(path);
    return t === null ? r : r.set("Authorization", `Bearer ${t}`);
  };
  const post = (path: string, body: unknown, t: string | null = token) => {
    const r = request(app).post(path);
    return (t === null ? r : r.set("Authorization", `Bearer ${t}`)).send(body as object);
  };
  const send = (body: unknown) => post("/api/v1/messages", body);
  const request_ = (over: Record<string, unknown> = {}) => ({
    to: "CO-FGN",
    body: exampleRequestBody(),
    ...over,
  });
  const outboxIds = (): string[] => {
    const ids: string[] = [];
    let cursor: string | undefined;
    do {
      const page = node.store.listMessages({ box: "outbox", limit: 200, cursor });
      ids.push(...page.items.map((m) => m.id));
      cursor = page.nextCursor;
    } while (cursor);
    return ids;
  };
  /** Simulates the outbox worker for `id`: claim it, then store the recipient's receipt. */
  const deliver = async (
    id: string,
    options: { status?: "accepted" | "rejected"; signer?: LocalKey } = {},
  ): Promise<{ claimed: ClaimedMessage; receipt: string }> => {
    const now = node.clock.now();
    const claimed = node.store.claimDue(now, MAX_CLAIM).find((m) => m.id === id);
    assert.ok(claimed, `message ${id} was not due`);
    const status = options.status ?? "accepted";
    const receipt = await createReceipt({
      message: { id: claimed.id, from: claimed.from, to: claimed.to },
      messageSha256: claimed.payloadSha256,
      envelopeSha256: sha256Hex(claimed.envelope),
      status,
      ...(status === "rejected" ? { reason: "THREAD_INVALID" as const } : {}),
      receivedAt: now,
      signer: options.signer ?? node.pki.authorities["CO-FGN"]!.sign,
      chain: [node.pki.ca.certificate],
    });
    if (status === "accepted") node.store.markDelivered(id, { receiptJws: receipt, at: now });
    else node.store.markRejected(id, { receiptJws: receipt, at: now, reason: "THREAD_INVALID" });
    // Put back what this test did not mean to claim.
    node.store.recoverInFlight();
    return { claimed, receipt };
  };

  before(async () => {
    node = await makeTestNode();
    app = createOperatorApp(node.ctx);
    token = node.store.createToken("test").secret;
    const revoked = node.store.createToken("revoked");
    revokedToken = revoked.secret;
    assert.equal(node.store.revokeToken(revoked.id), true);
  });
  after(() => node.close());

  describe("authentication on every route", () => {
    const id = "018f0000-0000-7000-8000-000000000001";
    const routes: readonly { method: "get" | "post"; path: string; body?: unknown }[] = [
      { method: "post", path: "/api/v1/messages", body: { to: "CO-FGN", body: {} } },
      { method: "get", path: "/api/v1/messages?box=outbox" },
      { method: "get", path: `/api/v1/messages/${id}` },
      { method: "get", path: `/api/v1/messages/${id}/evidence` },
      { method: "get", path: "/api/v1/status" },
      { method: "get", path: "/api/v1/security-events" },
      { method: "get", path: "/api/v1/no-such-route" },
      { method: "get", path: "/" },
      { method: "post", path: "/api/v1/status", body: {} },
    ];
    const call = (r: (typeof routes)[number], authorization?: string) => {
      const req = r.method === "get" ? request(app).get(r.path) : request(app).post(r.path);
      const authed = authorization === undefined ? req : req.set("Authorization", authorization);
      return r.method === "post" ? authed.send(r.body as object) : authed;
    };

    for (const r of routes) {
      it(`${r.method.toUpperCase()} ${r.path}: 401 without, with a bad and with a revoked token`, async () => {
        const none = await call(r);
        assertProblem(none, 401, "AUTH_REQUIRED");
        assert.match(none.headers["www-authenticate"] ?? "", /^Bearer realm="mlax"/);
        for (const bad of [
          `Bearer mlax_${"A".repeat(43)}`,
          `Bearer ${revokedToken}`,
          `Bearer ${token}x`,
          `Basic ${Buffer.from(`x:${token}`).toString("base64")}`,
          `Bearer  ${token}`,
          "Bearer",
        ]) {
          const res = await call(r, bad);
          assertProblem(res, 401, "AUTH_INVALID");
          assert.match(res.headers["www-authenticate"] ?? "", /error="invalid_token"/);
        }
      });
    }

    it("the valid token passes (and an unknown route is then 404)", async () => {
      assertJson(await get("/api/v1/status"), 200);
      assertProblem(await get("/api/v1/no-such-route"), 404, "ROUTE_NOT_FOUND");
    });

    it("refuses before reading the body: an oversize body without a token is 401, not 413", async () => {
      const big = { to: "CO-FGN", body: { x: "a".repeat(OPERATOR_JSON_LIMIT_BYTES + 10) } };
      assertProblem(await post("/api/v1/messages", big, null), 401, "AUTH_REQUIRED");
    });

    it("sends no x-powered-by and forbids caching", async () => {
      const res = await get("/api/v1/status");
      assert.equal(res.headers["x-powered-by"], undefined);
      assert.equal(res.headers["cache-control"], "no-store");
    });
  });

  describe("POST /api/v1/messages", () => {
    it("queues a request: 202, Location, and an outbox row the recipient can open", async () => {
      const kicks = node.kicks();
      const res = await send(request_());
      const queued = assertJson(res, 202);
      assert.match(String(queued.id), /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-/);
      assert.equal(res.headers.location, `/api/v1/messages/${queued.id}`);
      assert.equal(queued.type, "request");
      assert.equal(queued.to, "CO-FGN");
      assert.equal(queued.state, "queued");
      assert.equal(queued.threadId, queued.id);
      assert.equal(typeof queued.priority, "number");
      assert.ok(queued.priorityFactors);
      assert.equal(node.kicks(), kicks + 1);

      const detail = node.store.getMessage(String(queued.id));
      assert.equal(detail?.box, "outbox");
      assert.equal(detail?.state, "queued");
      assert.equal(detail?.payloadSha256, queued.messageSha256);

      const { claimed } = await deliver(String(queued.id));
      const recipient = node.pki.authorities["CO-FGN"]!;
      const opened = await open(claimed.envelope, {
        self: { authorityId: "CO-FGN", enc: recipient.enc },
        trust: node.ctx.network().trust,
        now: node.clock.now(),
      });
      assert.equal(opened.message.id, queued.id);
      assert.equal(opened.message.from, "ES-MJ");
      assert.equal(opened.messageSha256, queued.messageSha256);
      assert.deepEqual(opened.message.body, exampleRequestBody());
    });

    it("queues a follow-up in a thread with a ttl", async () => {
      const opened = assertJson(await send(request_()), 202);
      const threadId = String(opened.threadId);
      const res = await send({
        type: "status-inquiry",
        to: "CO-FGN",
        threadId,
        ttlHours: 2,
        body: { question: "Could you tell us where the execution of our request stands?" },
      });
      const queued = assertJson(res, 202);
      assert.equal(queued.type, "status-inquiry");
      assert.equal(queued.threadId, threadId);
      assert.equal(
        Date.parse(String(queued.expiresAt)) - Date.parse(String(queued.createdAt)),
        2 * 3_600_000,
      );
    });

    it("refuses a follow-up in an unknown thread, and one the thread state forbids", async () => {
      const unknown = await send({
        type: "status-inquiry",
        to: "CO-FGN",
        threadId: randomUUID(),
        body: { question: "Where does it stand?" },
      });
      assertProblem(unknown, 422, "THREAD_INVALID");
      const opened = assertJson(await send(request_()), 202);
      // The requesting side cannot acknowledge its own request.
      const ack = await send({
        type: "acknowledgement",
        to: "CO-FGN",
        threadId: String(opened.threadId),
        body: { caseNumber: "X-1", registeredAt: new Date().toISOString() },
      });
      assertProblem(ack, 422, "THREAD_INVALID");
    });

    const refusals: readonly [string, unknown, number, string][] = [
      ["an unknown type", request_({ type: "telegram" }), 400, "INPUT_INVALID"],
      ["a malformed recipient", request_({ to: "co-fgn" }), 400, "INPUT_INVALID"],
      ["an unknown member", request_({ priority: 9 }), 400, "INPUT_INVALID"],
      ["a non-object body", request_({ body: "please help" }), 400, "INPUT_INVALID"],
      ["a ttl of 0 hours", request_({ ttlHours: 0 }), 400, "INPUT_INVALID"],
      [
        "a malformed thread id",
        request_({ type: "status-inquiry", threadId: "1" }),
        400,
        "INPUT_INVALID",
      ],
      [
        "a request without its summary of facts (UNTOC 18(15)(c))",
        request_({ body: { ...exampleRequestBody(), facts: undefined } }),
        400,
        "INPUT_INVALID",
      ],
      [
        "a request of an unknown kind",
        request_({ body: { ...exampleRequestBody(), kind: "rendition" } }),
        400,
        "INPUT_INVALID",
      ],
      ["a message to itself", request_({ to: "ES-MJ" }), 400, "INPUT_INVALID"],
      ["an authority not in the directory", request_({ to: "FR-MJ" }), 404, "AUTHORITY_UNKNOWN"],
      [
        "a language the recipient does not accept (UNTOC 18(14))",
        request_({ to: "IT-MG" }),
        422,
        "LANGUAGE_NOT_ACCEPTED",
      ],
      ["an array", [request_()], 400, "INPUT_INVALID"],
    ];
    for (const [what, body, status, code] of refusals) {
      it(`refuses ${what}: ${status} ${code}, nothing queued`, async () => {
        const before = outboxIds().length;
        assertProblem(await send(body), status, code);
        assert.equal(outboxIds().length, before);
      });
    }

    it("names the failing fields of an invalid body", async () => {
      const problem = assertProblem(await send(request_({ to: "co-fgn" })), 400, "INPUT_INVALID");
      const issues = problem.issues as { path: string }[];
      assert.ok(
        issues.some((i) => i.path === "to"),
        JSON.stringify(issues),
      );
    });

    it("refuses a body that is not JSON, or not sent as JSON", async () => {
      const res = await request(app)
        .post("/api/v1/messages")
        .set("Authorization", `Bearer ${token}`)
        .set("Content-Type", "application/json")
        .send('{"to": "CO-FGN",');
      assertProblem(res, 400, "INPUT_INVALID");
      const text = await request(app)
        .post("/api/v1/messages")
        .set("Authorization", `Bearer ${token}`)
        .set("Content-Type", "text/plain")
        .send(JSON.stringify(request_()));
      assertProblem(text, 400, "INPUT_INVALID");
    });

    it("answers 413 to a JSON body over its cap", async () => {
      const big = request_({
        body: { ...exampleRequestBody(), facts: "a".repeat(OPERATOR_JSON_LIMIT_BYTES) },
      });
      assertProblem(await send(big), 413, "INPUT_TOO_LARGE");
    });
  });

  describe("GET /api/v1/messages", () => {
    let sent: string[];
    before(async () => {
      sent = [];
      for (let i = 0; i < 5; i++) {
        node.clock.advance(1000);
        sent.push(String(json(await send(request_())).id));
      }
    });

    it("pages the outbox newest first without gaps or repeats", async () => {
      const all = outboxIds();
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const q = `/api/v1/messages?box=outbox&limit=2${cursor ? `&cursor=${cursor}` : ""}`;
        const page = assertJson(await get(q), 200);
        const items = page.items as { id: string; box: string; from: string }[];
        assert.ok(items.length <= 2);
        for (const m of items) {
          assert.equal(m.box, "outbox");
          assert.equal(m.from, "ES-MJ");
        }
        seen.push(...items.map((m) => m.id));
        cursor = page.nextCursor as string | undefined;
        pages += 1;
      } while (cursor);
      assert.deepEqual(seen, all);
      assert.ok(pages >= 3);
      assert.deepEqual(seen.slice(0, 5), [...sent].reverse());
    });

    it("filters by state", async () => {
      const page = assertJson(await get("/api/v1/messages?box=outbox&state=queued&limit=200"), 200);
      const items = page.items as { id: string; state: string }[];
      assert.ok(items.length >= 5);
      assert.ok(items.every((m) => m.state === "queued"));
      for (const id of sent) assert.ok(items.some((m) => m.id === id));
      assert.equal(page.nextCursor, undefined);
      const delivered = assertJson(await get("/api/v1/messages?box=outbox&state=delivered"), 200);
      assert.ok((delivered.items as { state: string }[]).every((m) => m.state === "delivered"));
    });

    it("refuses a bad query with INPUT_INVALID", async () => {
      const first = json(await get("/api/v1/messages?box=outbox&limit=1"));
      for (const q of [
        "",
        "?box=sent",
        "?box=inbox&state=queued",
        "?box=outbox&state=accepted",
        "?box=outbox&limit=0",
        "?box=outbox&limit=201",
        "?box=outbox&limit=1.5",
        "?box=outbox&limit=-1",
        "?box=outbox&sort=asc",
        "?box=outbox&box=inbox",
        "?box=outbox&cursor=not*a*cursor",
        `?box=outbox&state=queued&cursor=${first.nextCursor}`,
        `?box=inbox&cursor=${first.nextCursor}`,
      ]) {
        assertProblem(await get(`/api/v1/messages${q}`), 400, "INPUT_INVALID");
      }
    });
  });

  describe("GET /api/v1/messages/:id and /evidence", () => {
    let id: string;
    before(async () => {
      id = String(json(await send(request_())).id);
    });

    it("shows a queued message with its delivery state and no receipt", async () => {
      const m = assertJson(await get(`/api/v1/messages/${id}`), 200);
      assert.equal(m.id, id);
      assert.equal(m.box, "outbox");
      assert.equal(m.state, "queued");
      assert.deepEqual(m.body, exampleRequestBody());
      const delivery = m.delivery as { state: string; attempts: number; lastErrorCode: unknown };
      assert.equal(delivery.state, "queued");
      assert.equal(delivery.attempts, 0);
      assert.equal(delivery.lastErrorCode, null);
      assert.equal(m.receipt, undefined);
      assert.equal(typeof m.jws, "string");
    });

    it("refuses a malformed id (400) and answers 404 for an unknown one", async () => {
      for (const bad of ["not-a-uuid", id.toUpperCase(), `${id}0`]) {
        assertProblem(await get(`/api/v1/messages/${bad}`), 400, "INPUT_INVALID");
        assertProblem(await get(`/api/v1/messages/${bad}/evidence`), 400, "INPUT_INVALID");
      }
      const unknown = "018f0000-0000-7000-8000-0000000000ff";
      assertProblem(await get(`/api/v1/messages/${unknown}`), 404, "NOT_FOUND");
      assertProblem(await get(`/api/v1/messages/${unknown}/evidence`), 404, "NOT_FOUND");
      assertProblem(await get(`/api/v1/messages/${id}?box=inbox`), 404, "NOT_FOUND");
      assertProblem(await get(`/api/v1/messages/${id}?box=sent`), 400, "INPUT_INVALID");
    });

    it("has no evidence before the receipt (404 NOT_FOUND)", async () => {
      const problem = assertProblem(await get(`/api/v1/messages/${id}/evidence`), 404, "NOT_FOUND");
      assert.match(String(problem.detail), /no receipt yet/);
    });

    it("after delivery: shows the receipt raw and decoded, and answers a bundle that verifies", async () => {
      const { receipt } = await deliver(id);
      const m = assertJson(await get(`/api/v1/messages/${id}`), 200);
      assert.equal(m.state, "delivered");
      const r = m.receipt as {
        jws: string;
        status: string;
        direction: string;
        sha256: string;
        payload: { messageId: string; from: string; status: string };
      };
      assert.equal(r.jws, receipt);
      assert.equal(r.sha256, sha256Hex(receipt));
      assert.equal(r.direction, "received");
      assert.equal(r.status, "accepted");
      assert.equal(r.payload.messageId, id);
      assert.equal(r.payload.from, "CO-FGN");

      const bundle = assertJson(await get(`/api/v1/messages/${id}/evidence`), 200);
      assert.equal(bundle.format, "mlax-evidence/1");
      assert.equal(bundle.message, m.jws);
      assert.equal(bundle.receipt, receipt);
      assert.equal((bundle.chain as string[]).length, 3);
      const verified = await verifyEvidenceBundle(bundle, { trust: node.ctx.network().trust });
      assert.equal(verified.message.id, id);
      assert.equal(verified.receipt.status, "accepted");
      assert.equal(verified.receiptSigner.authorityId, "CO-FGN");
    });

    it("answers evidence of a rejected receipt too", async () => {
      const rejectedId = String(json(await send(request_())).id);
      await deliver(rejectedId, { status: "rejected" });
      const bundle = assertJson(await get(`/api/v1/messages/${rejectedId}/evidence`), 200);
      const verified = await verifyEvidenceBundle(bundle, { trust: node.ctx.network().trust });
      assert.equal(verified.receipt.status, "rejected");
      assert.equal(verified.receipt.reason, "THREAD_INVALID");
    });

    it("never answers a bundle that does not verify (receipt signed by a third authority)", async () => {
      const badId = String(json(await send(request_())).id);
      await deliver(badId, { signer: node.pki.authorities["IT-MG"]!.sign });
      assertProblem(await get(`/api/v1/messages/${badId}/evidence`), 422, "RECEIPT_MISMATCH");
    });

    it("lists, shows and bundles an inbound message with the receipt this node issued", async () => {
      const pki = node.pki;
      const now = node.clock.now();
      const message = newMessage({
        type: "request",
        from: "CO-FGN",
        to: "ES-MJ",
        body: exampleRequestBody(),
        now,
      });
      const sealed = await seal({
        message,
        signer: pki.authorities["CO-FGN"]!.sign,
        chain: [pki.ca.certificate],
        recipient: node.ctx.network().trust.encryptionCertificate("ES-MJ", now),
      });
      const receiptJws = await createReceipt({
        message,
        messageSha256: sealed.messageSha256,
        envelopeSha256: sealed.envelopeSha256,
        status: "accepted",
        receivedAt: now,
        signer: node.ctx.keys.sign,
        chain: [node.ctx.ca],
      });
      const stored = node.store.recordInbound({
        message,
        jws: sealed.jws,
        payloadSha256: sealed.messageSha256,
        envelopeSha256: sealed.envelopeSha256,
        receiptJws,
        receiptStatus: "accepted",
        receivedAt: now,
      });
      assert.equal(stored.outcome, "stored");

      const inbox = assertJson(await get("/api/v1/messages?box=inbox&state=accepted"), 200);
      const items = inbox.items as { id: string; from: string }[];
      assert.deepEqual(
        items.map((m) => [m.id, m.from]),
        [[message.id, "CO-FGN"]],
      );
      const m = assertJson(await get(`/api/v1/messages/${message.id}?box=inbox&from=CO-FGN`), 200);
      assert.equal(m.box, "inbox");
      assert.equal((m.receipt as { direction: string }).direction, "issued");
      assert.equal(m.delivery, undefined);
      const bundle = assertJson(await get(`/api/v1/messages/${message.id}/evidence`), 200);
      const verified = await verifyEvidenceBundle(bundle, { trust: node.ctx.network().trust });
      assert.equal(verified.receiptSigner.authorityId, "ES-MJ");
      assert.equal(verified.messageSigner.authorityId, "CO-FGN");
    });
  });

  describe("GET /api/v1/status and /security-events", () => {
    it("reports the authority, directory, counts and audit chain", async () => {
      const s = assertJson(await get("/api/v1/status"), 200);
      assert.equal(s.authorityId, "ES-MJ");
      const directory = s.directory as { serial: number; nextUpdate: string; stale: boolean };
      assert.equal(directory.serial, 1);
      assert.equal(directory.stale, false);
      assert.equal(directory.nextUpdate, node.ctx.network().directory.nextUpdate);
      const outbox = s.outbox as { counts: Record<string, number>; capped: string[] };
      const byState = (state: string) =>
        node.store.listMessages({ box: "outbox", state: state as "queued", limit: 200 }).items
          .length;
      for (const state of ["queued", "sending", "delivered", "rejected", "failed"]) {
        assert.equal(outbox.counts[state], byState(state), state);
      }
      assert.ok((outbox.counts.delivered ?? 0) >= 2);
      assert.equal(outbox.counts.rejected, 1);
      assert.deepEqual(outbox.capped, []);
      assert.deepEqual((s.inbox as { counts: unknown }).counts, { accepted: 1, rejected: 0 });
      const audit = s.audit as { ok: boolean; count: number };
      assert.equal(audit.ok, true);
      assert.ok(audit.count > 10);
      assert.deepEqual(s.warnings, []);
    });

    it("says loudly that a delivery failed", async () => {
      const id = String(json(await send(request_())).id);
      const now = node.clock.now();
      node.store.markFailed(id, { code: "DELIVERY_EXPIRED", message: "gave up" }, now);
      const s = assertJson(await get("/api/v1/status"), 200);
      const outbox = s.outbox as {
        counts: Record<string, number>;
        recentFailures: { id: string; lastErrorCode: string }[];
      };
      assert.equal(outbox.counts.failed, 1);
      assert.equal(outbox.recentFailures[0]?.id, id);
      assert.equal(outbox.recentFailures[0]?.lastErrorCode, "DELIVERY_EXPIRED");
      assert.ok((s.warnings as string[]).some((w) => /1 outbound message\(s\) failed/.test(w)));
    });

    it("lists security events newest first, paged", async () => {
      assert.deepEqual(json(await get("/api/v1/security-events")).items, []);
      for (const kind of ["client_mismatch", "duplicate_conflict", "receipt_invalid"] as const) {
        node.store.recordSecurityEvent({ kind, peerAuthority: "IT-MG", detail: { test: true } });
      }
      const page = assertJson(await get("/api/v1/security-events?limit=2"), 200);
      const items = page.items as { id: number; kind: string }[];
      assert.deepEqual(
        items.map((e) => e.kind),
        ["receipt_invalid", "duplicate_conflict"],
      );
      const next = assertJson(
        await get(`/api/v1/security-events?limit=2&beforeId=${page.nextBeforeId}`),
        200,
      );
      assert.deepEqual(
        (next.items as { kind: string }[]).map((e) => e.kind),
        ["client_mismatch"],
      );
      assert.equal(next.nextBeforeId, undefined);
      const s = json(await get("/api/v1/status"));
      assert.equal((s.lastSecurityEvent as { kind: string }).kind, "receipt_invalid");
      for (const q of ["?limit=0", "?limit=1001", "?beforeId=x", "?kind=all"]) {
        assertProblem(await get(`/api/v1/security-events${q}`), 400, "INPUT_INVALID");
      }
    });
  });
});
