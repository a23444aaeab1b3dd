/**
 * The outbox worker's retry policy against a peer that never answers, under a controlled clock:
 * capped exponential backoff, one last attempt just before expiresAt, then `failed` with
 * DELIVERY_EXPIRED — never silently dropped, never sent after expiry.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createOutboxWorker } from "../../src/delivery/outbox-worker.ts";
import type { PeerClient } from "../../src/delivery/peer-client.ts";
import { exampleRequestBody } from "../../src/domain/example-request.ts";
import { DeliveryError } from "../../src/errors.ts";
import { silentLogger } from "../../src/log.ts";
import { sendMessage } from "../../src/node/send-message.ts";
import { openBlobStore } from "../../src/store/index.ts";
import { makeTestNode, type TestNode } from "../helpers/node-context.ts";

describe("outbox worker: retries until expiresAt", () => {
  let node: TestNode;
  before(async () => {
    node = await makeTestNode();
  });
  after(() => node.close());

  it("backs off, makes a last attempt before expiry, then fails loudly", async () => {
    const attempts: Date[] = [];
    const client: PeerClient = {
      async postEnvelope() {
        attempts.push(node.clock.now());
        throw new DeliveryError("PEER_UNREACHABLE", "connection refused");
      },
      async close() {},
    };
    const worker = createOutboxWorker({
      self: "ES-MJ",
      store: node.store,
      client,
      blobs: openBlobStore(node.dataDir),
      trust: () => node.ctx.network().trust,
      endpointOf: () => "https://127.0.0.1:1",
      now: node.clock.now,
      log: silentLogger(),
      backoff: { baseMs: 1_000, maxMs: 60_000 },
      random: () => 0.999,
    });
    const q = await sendMessage(node.ctx, {
      to: "CO-FGN",
      body: exampleRequestBody(),
      ttlHours: 1,
    });
    const expiresAt = Date.parse(q.expiresAt);
    // Drive the clock to each due time until the message leaves the queue.
    for (let i = 0; i < 200; i++) {
      await worker.runOnce();
      const d = node.store.getMessage(q.id, { box: "outbox" })?.delivery;
      assert.ok(d);
      if (d.state !== "queued") break;
      node.clock.set(new Date(Math.max(node.clock.now().getTime(), Date.parse(d.nextAttemptAt))));
    }
    const d = node.store.getMessage(q.id, { box: "outbox" })?.delivery;
    assert.equal(d?.state, "failed");
    assert.equal(d?.lastErrorCode, "DELIVERY_EXPIRED");
    assert.match(d?.lastError ?? "", /PEER_UNREACHABLE/);
    // Exponential, capped: gaps grow to the 60 s cap.
    const gaps = attempts.slice(1).map((t, i) => t.getTime() - (attempts[i] as Date).getTime());
    assert.ok(gaps[0]! >= 500 && gaps[0]! <= 1_000, `first gap ${gaps[0]}`);
    assert.ok(gaps[3]! > gaps[2]! && gaps[2]! > gaps[1]!, "growing");
    assert.ok(Math.max(...gaps) <= 60_000, "capped");
    // The last attempt was made shortly before expiresAt, none after.
    const last = attempts.at(-1)!.getTime();
    assert.ok(
      last < expiresAt && expiresAt - last <= 10_000,
      `last attempt ${expiresAt - last} ms before expiry`,
    );
    assert.ok(attempts.every((t) => t.getTime() < expiresAt));
  });
});
