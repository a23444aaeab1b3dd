/**
 * Three real node processes (ES-MJ, CO-FGN, IT-MG) over real HTTPS with mutual TLS, real SQLite
 * files, real certificates (issue "Authority nodes that deliver", item 8).
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import {
  connect as netConnect,
  createServer as netServer,
  type Server,
  type Socket,
} from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { connect as tlsConnect } from "node:tls";
import {
  createLocalNetwork,
  type LocalNetwork,
  type NodeHandle,
  runCli,
  waitForMessage,
} from "../../scripts/lib/local-network.ts";
import { createPeerClient } from "../../src/delivery/peer-client.ts";
import { exampleRequestBody } from "../../src/domain/example-request.ts";
import { newMessage } from "../../src/envelope/new-message.ts";
import { seal } from "../../src/envelope/seal.ts";
import { loadAuthorityKeys, loadNetworkTrust } from "../../src/node/load-identity.ts";
import { openStore } from "../../src/store/index.ts";

const delivered = (d: { delivery?: { state?: string } }) => d.delivery?.state === "delivered";

async function sendRequest(from: NodeHandle, to: string, caseReference = "T-1") {
  const body = exampleRequestBody();
  body.caseReference = caseReference;
  body.language = "en";
  const r = await from.api("/api/v1/messages", { body: { type: "request", to, body } });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  return r.body as { id: string; threadId: string };
}

/**
 * A TCP proxy in front of a node's peer port (TLS passes through untouched). For the first
 * `dropResponses` connections it forwards the request but cuts both sockets as soon as the server
 * starts answering: the receiver has stored the message and its receipt, the sender never sees it.
 */
function cuttingProxy(listenPort: number, targetPort: number, dropResponses: number) {
  let toDrop = dropResponses;
  let cut = 0;
  const server: Server = netServer((client: Socket) => {
    const drop = toDrop > 0;
    if (drop) toDrop--;
    const upstream = netConnect(targetPort, "127.0.0.1");
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
    client.pipe(upstream);
    let bytes = 0;
    upstream.on("data", (chunk: Buffer) => {
      bytes += chunk.length;
      // TLS handshake records go through; the first application data after ~6 kB of handshake
      // traffic is the HTTP response. Cut when the server sends an application-data record (0x17)
      // after the handshake has finished.
      if (drop && chunk[0] === 0x17 && bytes > 2_000) {
        cut++;
        client.destroy();
        upstream.destroy();
        return;
      }
      client.write(chunk);
    });
    upstream.on("end", () => client.end());
  });
  return {
    listen: () => new Promise<void>((r) => server.listen(listenPort, "127.0.0.1", () => r())),
    close: () => new Promise<void>((r) => server.close(() => r())),
    cuts: () => cut,
  };
}

describe("three authority nodes over mutual TLS", { timeout: 240_000 }, () => {
  let dir: string;
  let net: LocalNetwork;
  let es: NodeHandle;
  let co: NodeHandle;
  let itMg: NodeHandle;
  let proxy: ReturnType<typeof cuttingProxy>;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "mlax-multi-"));
    net = await createLocalNetwork({
      dir,
      ids: ["ES-MJ", "CO-FGN", "IT-MG"],
      bits: 2048,
      pollMs: 100,
      proxied: ["IT-MG"],
      logLevel: "debug",
    });
    es = net.nodes["ES-MJ"]!;
    co = net.nodes["CO-FGN"]!;
    itMg = net.nodes["IT-MG"]!;
    proxy = cuttingProxy(itMg.endpointPort, itMg.peerPort, 1);
    await proxy.listen();
    await Promise.all([es.start(), co.start(), itMg.start()]);
  });

  after(async () => {
    await net?.stopAll();
    await proxy?.close();
    if (process.env.MLAX_KEEP_TEST_DIR) console.log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  });

  it("delivers a request with a verified receipt, and the receiver stores it once", async () => {
    const sent = await sendRequest(co, "ES-MJ", "T-deliver");
    const d = await waitForMessage(co, sent.id, delivered);
    assert.equal(d.receipt.status, "accepted");
    assert.equal(d.delivery.attempts, 1);
    const inbox = await es.api(`/api/v1/messages/${sent.id}?box=inbox`);
    assert.equal(inbox.status, 200);
    assert.equal(inbox.body.from, "CO-FGN");
    assert.equal(inbox.body.state, "accepted");
    // The receipt the sender stored is the one the receiver issued, byte for byte.
    assert.equal(inbox.body.receipt.jws, d.receipt.jws);
    const evidence = await co.api(`/api/v1/messages/${sent.id}/evidence`);
    assert.equal(evidence.status, 200);
    assert.equal(evidence.body.format, "mlax-evidence/1");
  });

  it("carries two attachments end to end: sent with the CLI, delivered, served back byte-identical", async () => {
    const files = join(dir, "attachments");
    mkdirSync(files, { recursive: true });
    const annex = randomBytes(3 * 1024 * 1024 + 12_345);
    const paths = {
      body: join(files, "body.json"),
      pdf: join(files, "annex.pdf"),
      empty: join(files, "empty.txt"),
    };
    const body = exampleRequestBody();
    body.caseReference = "T-attach";
    body.language = "en";
    writeFileSync(paths.body, JSON.stringify(body));
    writeFileSync(paths.pdf, annex);
    writeFileSync(paths.empty, "");
    const as = (node: NodeHandle) => ["--node", node.apiUrl, "--token", node.token];
    const sent = await runCli([
      "send",
      paths.body,
      "--to",
      "ES-MJ",
      "--attach",
      paths.pdf,
      "--attach",
      paths.empty,
      "--json",
      ...as(co),
    ]);
    assert.equal(sent.code, 0, sent.stderr);
    const queued = JSON.parse(sent.stdout) as { id: string; attachments: unknown[] };
    assert.equal(queued.attachments.length, 2);

    const d = await waitForMessage(co, queued.id, delivered, 60_000);
    assert.equal(d.receipt.status, "accepted");
    const listed = d.receipt.payload.attachmentsSha256 as string[];
    assert.equal(listed.length, 2);
    // The receipt lists the ciphertexts ES-MJ holds (its blobs), not the plaintexts.
    const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
    const esBlobs = readdirSync(join(es.dataDir, "blobs")).map((n) =>
      sha256(readFileSync(join(es.dataDir, "blobs", n))),
    );
    for (const h of listed) assert.ok(esBlobs.includes(h), `ES-MJ keeps the blob ${h}`);
    assert.notEqual(listed[0], sha256(annex));

    const inbox = await es.api(`/api/v1/messages/${queued.id}?box=inbox`);
    assert.equal(inbox.status, 200);
    assert.deepEqual(
      inbox.body.attachments.map((a: { name: string; size: number }) => [a.name, a.size]),
      [
        ["annex.pdf", annex.length],
        ["empty.txt", 0],
      ],
    );
    for (const [node, box] of [
      [es, "inbox"],
      [co, "outbox"],
    ] as const) {
      for (const [index, expected] of [annex, Buffer.alloc(0)].entries()) {
        const out = join(files, `${node.id}-${index}.out`);
        const r = await runCli([
          "attachment",
          queued.id,
          String(index),
          "-o",
          out,
          "--box",
          box,
          "--json",
          ...as(node),
        ]);
        assert.equal(r.code, 0, r.stderr);
        assert.ok(readFileSync(out).equals(expected), `${node.id} attachment ${index}`);
      }
    }
    const shown = await runCli(["show", queued.id, "--box", "inbox", ...as(es)]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /annex\.pdf\s+application\/pdf\s+3158073/);
  });

  it("retries while the receiver is down and delivers once it is back", async () => {
    await es.stop();
    const sent = await sendRequest(co, "ES-MJ", "T-down");
    const failing = await waitForMessage(
      co,
      sent.id,
      (d) => d.delivery?.attempts >= 2 && d.delivery.state === "queued",
    );
    assert.equal(failing.delivery.lastErrorCode, "PEER_UNREACHABLE");
    await es.start();
    const d = await waitForMessage(co, sent.id, delivered, 60_000);
    assert.equal(d.receipt.status, "accepted");
    assert.ok(d.delivery.attempts >= 2);
  });

  it("a connection cut after the receiver stored is retried: same receipt, one inbox row", async () => {
    const sent = await sendRequest(es, "IT-MG", "T-cut");
    const d = await waitForMessage(es, sent.id, delivered, 60_000);
    assert.ok(proxy.cuts() >= 1, "the proxy cut a response");
    assert.ok(d.delivery.attempts >= 2, `attempts ${d.delivery.attempts}`);
    const inbox = await itMg.api("/api/v1/messages?box=inbox&limit=200");
    const rows = inbox.body.items.filter((m: { id: string }) => m.id === sent.id);
    assert.equal(rows.length, 1);
    const stored = await itMg.api(`/api/v1/messages/${sent.id}?box=inbox`);
    assert.equal(
      stored.body.receipt.jws,
      d.receipt.jws,
      "the retry got the stored receipt byte for byte",
    );
  });

  it("refuses an envelope whose TLS client is not its signer (403 PEER_CLIENT_MISMATCH)", async () => {
    const now = new Date();
    const network = await loadNetworkTrust(net.certsDir, { now });
    const itKeys = await loadAuthorityKeys(network, "IT-MG", now);
    const coKeys = await loadAuthorityKeys(network, "CO-FGN", now);
    const message = newMessage({
      type: "request",
      from: "IT-MG",
      to: "ES-MJ",
      body: exampleRequestBody(),
      now,
    });
    const sealed = await seal({
      message,
      signer: itKeys.sign,
      chain: [network.ca],
      recipient: network.trust.encryptionCertificate("ES-MJ", now),
    });
    // CO-FGN's TLS identity delivering IT-MG's signed message.
    const client = createPeerClient({
      ca: readFileSync(join(net.certsDir, "ca", "ca.crt"), "utf8"),
      certPem: coKeys.tls.certPem,
      keyPem: coKeys.tls.privateKeyPem,
      serverPins: (id) =>
        network.directory
          .authority(id)
          .certificates.filter((c) => c.role === "tls")
          .map((c) => c.sha256),
    });
    try {
      const r = await client.postEnvelope(
        "ES-MJ",
        `https://127.0.0.1:${es.peerPort}`,
        sealed.envelope,
      );
      assert.equal(r.status, 403);
      assert.equal((r.body as { code: string }).code, "PEER_CLIENT_MISMATCH");
    } finally {
      await client.close();
    }
    const inbox = await es.api(`/api/v1/messages/${message.id}?box=inbox`);
    assert.equal(inbox.status, 404, "nothing stored");
    const events = await es.api("/api/v1/security-events");
    assert.ok(
      events.body.items.some(
        (e: { kind: string; messageId: string }) =>
          e.kind === "client_mismatch" && e.messageId === message.id,
      ),
    );
  });

  it("completes no TLS handshake without a client certificate", async () => {
    const ca = readFileSync(join(net.certsDir, "ca", "ca.crt"), "utf8");
    const outcome = await new Promise<string>((resolve) => {
      const socket = tlsConnect({
        host: "127.0.0.1",
        port: es.peerPort,
        ca,
        servername: "localhost",
      });
      socket.on("secureConnect", () => {
        // TLS 1.3: the server checks the certificate after the client's Finished; any request
        // then fails instead of being answered.
        socket.write("GET /peer/v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n");
      });
      socket.on("data", (d) => resolve(`answered: ${d.toString().slice(0, 40)}`));
      socket.on("error", (e: NodeJS.ErrnoException) => resolve(`error: ${e.code ?? e.message}`));
      socket.on("close", () => resolve("closed"));
    });
    assert.match(outcome, /^(error|closed)/, outcome);
  });

  it("answers 401 on the operator API without a valid token", async () => {
    for (const [method, path] of [
      ["GET", "/api/v1/status"],
      ["GET", "/api/v1/messages?box=inbox"],
      ["POST", "/api/v1/messages"],
      ["GET", "/api/v1/nope"],
    ] as const) {
      for (const auth of [undefined, "Bearer mlax_notavalidtokennotavalidtoken"]) {
        const res = await fetch(`${es.apiUrl}${path}`, {
          method,
          headers: auth ? { authorization: auth } : {},
        });
        assert.equal(res.status, 401, `${method} ${path} with ${auth ?? "no token"}`);
        assert.match(res.headers.get("content-type") ?? "", /problem\+json/);
      }
    }
  });

  it("a sender killed with SIGKILL mid-run loses nothing and duplicates nothing", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      ids.push((await sendRequest(co, "ES-MJ", `T-kill-${i}`)).id);
      if (i === 5) await new Promise((r) => setTimeout(r, 150));
    }
    await co.kill();
    await co.start();
    for (const id of ids) {
      const d = await waitForMessage(co, id, delivered, 60_000);
      assert.equal(d.receipt.status, "accepted");
    }
    // Every id is in ES-MJ's inbox exactly once (read the receiver's SQLite file directly).
    const store = openStore(join(es.dataDir, "store.sqlite"));
    try {
      for (const id of ids) {
        assert.ok(store.getMessage(id, { box: "inbox", from: "CO-FGN" }), `inbox has ${id}`);
      }
      const page = store.listMessages({ box: "inbox", limit: 200 });
      const seen = page.items.filter((m) => ids.includes(m.id));
      assert.equal(seen.length, ids.length);
      assert.equal(new Set(seen.map((m) => m.id)).size, ids.length);
      assert.deepEqual(store.integrityCheck(), { ok: true });
      assert.equal(store.verifyAuditChain().ok, true);
    } finally {
      store.close();
    }
  });
});
