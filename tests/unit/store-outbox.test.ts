/**
 * The outbox (DESIGN.md, Delivery): committed before any send, claimed urgent first and never
 * twice, retried, delivered, rejected or failed loudly, and recovered after a crash mid-send.
 */
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, describe, it } from "node:test";
import { sha256Hex } from "../../src/envelope/digest.ts";
import type { Message } from "../../src/envelope/message.ts";
import { type EnqueueOutboundInput, openStore, type Store } from "../../src/store/index.ts";

const T0 = new Date("2026-06-01T12:00:00.000Z");
const at = (ms: number) => new Date(T0.getTime() + ms);

function fakeCompact(payload: unknown): string {
  const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  return `${part({ alg: "PS256" })}.${part(payload)}.${randomBytes(32).toString("base64url")}`;
}

function outbound(
  over: { urgent?: boolean; priority?: number; queuedAt?: Date; body?: Message["body"] } = {},
): EnqueueOutboundInput {
  const id = randomUUID();
  const message: Message = {
    v: 1,
    id,
    type: "request",
    from: "ES-MJ",
    to: "CO-FGN",
    createdAt: T0.toISOString(),
    expiresAt: at(86_400_000).toISOString(),
    threadId: id,
    body: over.body ?? { kind: "mla" },
    attachments: [],
  };
  const jws = fakeCompact(message);
  return {
    message,
    jws,
    payloadSha256: sha256Hex(jws),
    envelope: `${fakeCompact({ enc: "A256GCM" })}.iv.ct`,
    urgent: over.urgent ?? false,
    priority: over.priority ?? 0,
    ...(over.queuedAt === undefined ? {} : { queuedAt: over.queuedAt }),
  };
}

const codeOf = (code: string) => (e: unknown) => (e as { code?: string }).code === code;

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "mlax-outbox-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe("outbox", () => {
  let store: Store;
  let path: string;
  let clock: Date;
  beforeEach(() => {
    path = join(dir, `${randomUUID()}.sqlite`);
    clock = T0;
    store = openStore(path, { now: () => clock });
  });

  it("commits message, queued outbox row and audit `queued`, once per id", () => {
    const input = outbound({ urgent: true, priority: 7 });
    assert.deepEqual(store.enqueueOutbound(input), { outcome: "queued", id: input.message.id });
    const detail = store.getMessage(input.message.id);
    assert.equal(detail?.box, "outbox");
    assert.equal(detail?.state, "queued");
    assert.equal(detail?.urgent, true);
    assert.equal(detail?.priority, 7);
    assert.equal(detail?.envelopeSha256, null);
    assert.deepEqual(detail?.delivery, {
      state: "queued",
      attempts: 0,
      nextAttemptAt: T0.toISOString(),
      lastErrorCode: null,
      lastError: null,
      updatedAt: T0.toISOString(),
      deliveredAt: null,
    });
    assert.equal(detail?.receipt, undefined);
    const [audit] = store.readAuditLog();
    assert.equal(audit?.kind, "queued");
    assert.equal(audit?.detail.payloadSha256, input.payloadSha256);

    assert.deepEqual(store.enqueueOutbound(input), {
      outcome: "duplicate",
      id: input.message.id,
    });
    const other = outbound();
    const conflicting = {
      ...other,
      message: { ...other.message, id: input.message.id },
    };
    assert.throws(() => store.enqueueOutbound(conflicting), codeOf("DUPLICATE_CONFLICT"));
    assert.equal(store.listMessages({ box: "outbox" }).items.length, 1);
    assert.equal(store.readAuditLog().length, 1);
    store.close();
  });

  it("keeps a thread in order: a follow-up waits while an earlier message of its thread is out", () => {
    const request = outbound({ queuedAt: at(0) });
    const followUp = outbound({ urgent: true, priority: 9, queuedAt: at(1) });
    const followUpMessage = {
      ...followUp.message,
      type: "status-inquiry" as const,
      threadId: request.message.threadId,
    };
    const followUpJws = fakeCompact(followUpMessage);
    store.enqueueOutbound(request);
    store.enqueueOutbound({
      ...followUp,
      message: followUpMessage,
      jws: followUpJws,
      payloadSha256: sha256Hex(followUpJws),
    });
    // The urgent follow-up would go first by priority, but its request is still queued.
    assert.deepEqual(
      store.claimDue(at(10), 10).map((c) => c.id),
      [request.message.id],
    );
    assert.deepEqual(store.claimDue(at(10), 10), [], "not while the request is sending");
    store.scheduleRetry(
      request.message.id,
      { code: "PEER_UNREACHABLE", message: "down" },
      at(5_000),
    );
    assert.deepEqual(store.claimDue(at(10), 10), [], "not while the request waits for its retry");
    assert.deepEqual(
      store.claimDue(at(5_000), 10).map((c) => c.id),
      [request.message.id],
    );
    store.markFailed(
      request.message.id,
      { code: "DELIVERY_EXPIRED", message: "gave up" },
      at(5_001),
    );
    assert.deepEqual(
      store.claimDue(at(5_002), 10).map((c) => c.id),
      [followUpMessage.id],
    );
  });

  it("claims urgent first, then priority, then due time, then queue order", () => {
    const normalLow = outbound({ queuedAt: at(0) });
    const normalHighEarly = outbound({ priority: 5, queuedAt: at(1) });
    const urgentLow = outbound({ urgent: true, queuedAt: at(2) });
    const urgentHigh = outbound({ urgent: true, priority: 3, queuedAt: at(3) });
    const normalHighLate = outbound({ priority: 5, queuedAt: at(4) });
    const notYetDue = outbound({ urgent: true, priority: 9, queuedAt: at(60_000) });
    for (const m of [
      normalLow,
      normalHighEarly,
      urgentLow,
      urgentHigh,
      normalHighLate,
      notYetDue,
    ]) {
      store.enqueueOutbound(m);
    }
    const first = store.claimDue(at(10), 2);
    assert.deepEqual(
      first.map((c) => c.id),
      [urgentHigh.message.id, urgentLow.message.id],
    );
    assert.equal(first[0]?.envelope, urgentHigh.envelope);
    assert.equal(first[0]?.jws, urgentHigh.jws);
    assert.equal(first[0]?.payloadSha256, urgentHigh.payloadSha256);
    assert.equal(first[0]?.to, "CO-FGN");
    assert.equal(first[0]?.attempts, 1);
    const rest = store.claimDue(at(10), 10);
    assert.deepEqual(
      rest.map((c) => c.id),
      [normalHighEarly.message.id, normalHighLate.message.id, normalLow.message.id],
    );
    assert.deepEqual(store.claimDue(at(10), 10), [], "a claimed row is not claimed twice");
    assert.equal(store.getMessage(urgentHigh.message.id)?.state, "sending");
    assert.deepEqual(
      store.claimDue(at(60_000), 10).map((c) => c.id),
      [notYetDue.message.id],
    );
    assert.throws(() => store.claimDue(at(0), 0), codeOf("INPUT_INVALID"));
    assert.throws(() => store.claimDue(at(0), 101), codeOf("INPUT_INVALID"));
    store.close();
  });

  it("does not hand a row claimed by one connection to another", () => {
    for (let i = 0; i < 5; i++) store.enqueueOutbound(outbound());
    const other = openStore(path, { now: () => clock });
    const a = store.claimDue(at(0), 3);
    const b = other.claimDue(at(0), 10);
    assert.equal(a.length, 3);
    assert.equal(b.length, 2);
    const ids = new Set([...a, ...b].map((c) => c.id));
    assert.equal(ids.size, 5);
    assert.deepEqual(store.claimDue(at(0), 10), []);
    other.close();
    store.close();
  });

  it("schedules a retry with its error and claims it again only when due", () => {
    const input = outbound();
    store.enqueueOutbound(input);
    store.claimDue(at(0), 1);
    clock = at(1);
    store.scheduleRetry(
      input.message.id,
      { code: "PEER_UNREACHABLE", message: "connect ECONNREFUSED" },
      at(30_000),
    );
    const delivery = store.getMessage(input.message.id)?.delivery;
    assert.equal(delivery?.state, "queued");
    assert.equal(delivery?.attempts, 1);
    assert.equal(delivery?.nextAttemptAt, at(30_000).toISOString());
    assert.equal(delivery?.lastErrorCode, "PEER_UNREACHABLE");
    assert.equal(delivery?.lastError, "connect ECONNREFUSED");
    assert.deepEqual(store.claimDue(at(29_999), 10), []);
    const [again] = store.claimDue(at(30_000), 10);
    assert.equal(again?.attempts, 2);
    assert.throws(
      () => store.scheduleRetry(randomUUID(), { code: "PEER_ERROR", message: "x" }, at(1)),
      codeOf("STORE_FAILED"),
    );
    store.close();
  });

  it("marks delivered with the peer's receipt, only from `sending`", () => {
    const input = outbound();
    store.enqueueOutbound(input);
    const receiptJws = fakeCompact({ type: "receipt", status: "accepted" });
    assert.throws(
      () => store.markDelivered(input.message.id, { receiptJws, at: at(5) }),
      codeOf("STORE_FAILED"),
      "a queued row is not delivered",
    );
    store.claimDue(at(0), 1);
    store.markDelivered(input.message.id, { receiptJws, at: at(5) });
    const detail = store.getMessage(input.message.id);
    assert.equal(detail?.state, "delivered");
    assert.equal(detail?.delivery?.deliveredAt, at(5).toISOString());
    assert.deepEqual(detail?.receipt, {
      direction: "received",
      jws: receiptJws,
      sha256: sha256Hex(receiptJws),
      status: "accepted",
      reason: null,
      recordedAt: at(5).toISOString(),
    });
    assert.throws(
      () => store.markDelivered(input.message.id, { receiptJws, at: at(6) }),
      codeOf("STORE_FAILED"),
    );
    assert.deepEqual(
      store.readAuditLog().map((e) => e.kind),
      ["queued", "delivered"],
    );
    store.close();
  });

  it("marks rejected with the peer's rejected receipt and reason", () => {
    const input = outbound();
    store.enqueueOutbound(input);
    store.claimDue(at(0), 1);
    const receiptJws = fakeCompact({ type: "receipt", status: "rejected" });
    store.markRejected(input.message.id, { receiptJws, reason: "THREAD_INVALID", at: at(2) });
    const detail = store.getMessage(input.message.id);
    assert.equal(detail?.state, "rejected");
    assert.equal(detail?.receipt?.status, "rejected");
    assert.equal(detail?.receipt?.reason, "THREAD_INVALID");
    assert.equal(detail?.delivery?.deliveredAt, null);
    const last = store.readAuditLog().at(-1);
    assert.equal(last?.kind, "rejected");
    assert.equal(last?.detail.reason, "THREAD_INVALID");
    store.close();
  });

  it("marks failed from sending or queued, loudly in the audit log", () => {
    const sending = outbound();
    const queued = outbound();
    store.enqueueOutbound(sending);
    store.enqueueOutbound(queued);
    store.claimDue(at(0), 1);
    const error = { code: "DELIVERY_EXPIRED", message: "expired after 9 attempts" };
    store.markFailed(sending.message.id, error, at(9));
    store.markFailed(queued.message.id, error, at(9));
    for (const id of [sending.message.id, queued.message.id]) {
      const delivery = store.getMessage(id)?.delivery;
      assert.equal(delivery?.state, "failed");
      assert.equal(delivery?.lastErrorCode, "DELIVERY_EXPIRED");
    }
    assert.deepEqual(
      store
        .readAuditLog()
        .filter((e) => e.kind === "failed")
        .map((e) => e.messageId),
      [sending.message.id, queued.message.id],
    );
    assert.throws(
      () => store.markFailed(sending.message.id, error, at(10)),
      codeOf("STORE_FAILED"),
    );
    assert.equal(store.claimDue(at(100), 10).length, 0);
    assert.deepEqual(
      store.listMessages({ box: "outbox", state: "failed" }).items.map((m) => m.state),
      ["failed", "failed"],
    );
    store.close();
  });

  it("puts `sending` rows back to `queued` after a crash", () => {
    const input = outbound();
    store.enqueueOutbound(input);
    assert.equal(store.claimDue(at(0), 1).length, 1);
    store.close(); // the process dies mid-send
    const reopened = openStore(path, { now: () => at(50) });
    assert.equal(reopened.getMessage(input.message.id)?.state, "sending");
    assert.equal(reopened.recoverInFlight(), 1);
    assert.equal(reopened.recoverInFlight(), 0);
    const [again] = reopened.claimDue(at(50), 10);
    assert.equal(again?.id, input.message.id);
    assert.equal(again?.envelope, input.envelope, "a retry sends the same bytes");
    assert.equal(again?.attempts, 2);
    reopened.close();
  });

  it("lists the outbox by state", () => {
    const ids = [outbound(), outbound(), outbound()].map((m) => {
      store.enqueueOutbound(m);
      return m.message.id;
    });
    store.claimDue(at(0), 1);
    assert.deepEqual(
      store.listMessages({ box: "outbox", state: "queued" }).items.map((m) => m.id),
      [ids[2], ids[1]],
    );
    assert.deepEqual(
      store.listMessages({ box: "outbox", state: "sending" }).items.map((m) => m.id),
      [ids[0]],
    );
    assert.equal(store.listMessages({ box: "inbox" }).items.length, 0);
    store.close();
  });
});
