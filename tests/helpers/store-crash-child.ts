/**
 * Child process for tests/integration/store-crash.test.ts: writes to the store in a tight loop and
 * prints one line per committed write, after the commit returns:
 *   `in <from> <id>` (recordInbound), `out <id>` (enqueueOutbound), `dup <id>` (replay answered
 * from the store). The parent SIGKILLs it at random moments. Stops by itself after 10 s.
 * Run: node --import tsx tests/helpers/store-crash-child.ts <store path>
 */
import { randomBytes, randomUUID } from "node:crypto";
import { writeSync } from "node:fs";
import { sha256Hex } from "../../src/envelope/digest.ts";
import type { Message } from "../../src/envelope/message.ts";
import { openStore } from "../../src/store/index.ts";

const path = process.argv[2];
if (path === undefined) throw new Error("usage: store-crash-child.ts <store path>");

const SENDERS = ["CO-FGN", "MX-FGR", "AR-MJ"] as const;
const say = (line: string) => writeSync(1, `${line}\n`);

function compact(payload: unknown): string {
  const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  return `${part({ alg: "PS256" })}.${part(payload)}.${randomBytes(64).toString("base64url")}`;
}

function message(from: string, to: string): Message {
  const id = randomUUID();
  const now = new Date();
  return {
    v: 1,
    id,
    type: "request",
    from,
    to,
    createdAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + 3_600_000).toISOString(),
    threadId: id,
    body: { kind: "mla", summary: randomBytes(256).toString("base64") },
    attachments: [],
  };
}

const store = openStore(path);
store.recoverInFlight();

// A replay after a crash is answered from the store, never stored twice.
const [latest] = store.listMessages({ box: "inbox", limit: 1 }).items;
if (latest !== undefined) {
  const stored = store.getMessage(latest.id, { box: "inbox", from: latest.from });
  if (stored?.receipt === undefined || stored.envelopeSha256 === null)
    throw new Error("no receipt");
  const replay = store.recordInbound({
    message: JSON.parse(Buffer.from(stored.jws.split(".")[1] ?? "", "base64url").toString()),
    jws: stored.jws,
    payloadSha256: stored.payloadSha256,
    envelopeSha256: stored.envelopeSha256,
    receiptJws: compact({ fresh: true }),
    receiptStatus: "accepted",
    receivedAt: new Date(),
  });
  if (replay.outcome !== "duplicate" || replay.receiptJws !== stored.receipt.jws) {
    say(`BAD replay ${latest.id} ${replay.outcome}`);
    process.exit(1);
  }
  say(`dup ${latest.id}`);
}

const deadline = Date.now() + 10_000;
for (let i = 0; Date.now() < deadline; i++) {
  if (i % 2 === 0) {
    const m = message(SENDERS[i % SENDERS.length] ?? "CO-FGN", "ES-MJ");
    const jws = compact(m);
    const result = store.recordInbound({
      message: m,
      jws,
      payloadSha256: sha256Hex(jws),
      envelopeSha256: sha256Hex(`jwe:${jws}`),
      receiptJws: compact({ type: "receipt", messageId: m.id }),
      receiptStatus: "accepted",
      receivedAt: new Date(),
      urgent: i % 10 === 0,
    });
    if (result.outcome !== "stored") {
      say(`BAD inbound ${m.id} ${result.outcome}`);
      process.exit(1);
    }
    say(`in ${m.from} ${m.id}`);
  } else {
    const m = message("ES-MJ", "CO-FGN");
    const jws = compact(m);
    store.enqueueOutbound({
      message: m,
      jws,
      payloadSha256: sha256Hex(jws),
      envelope: compact({ sealed: m.id }),
      urgent: i % 7 === 0,
      priority: i % 3,
    });
    say(`out ${m.id}`);
  }
  if (i % 5 === 4) {
    const [deliver, retry] = store.claimDue(new Date(), 2);
    if (deliver !== undefined) {
      store.markDelivered(deliver.id, { receiptJws: compact({ ok: deliver.id }), at: new Date() });
    }
    if (retry !== undefined) {
      store.scheduleRetry(retry.id, { code: "PEER_UNREACHABLE", message: "test" }, new Date());
    }
  }
}
store.close();
