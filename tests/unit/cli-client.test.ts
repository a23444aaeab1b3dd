/**
 * The CLI commands that talk to a node (`mlax send|inbox|outbox|show|evidence|status|
 * security-events`) and `mlax token`, run in-process through main() against the operator app on
 * an ephemeral loopback port, over a real NodeContext.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { problemToError } from "../../src/cli/client.ts";
import { main } from "../../src/cli/main.ts";
import type { CliIo } from "../../src/cli/output.ts";
import { exampleRequestBody } from "../../src/domain/example-request.ts";
import { sha256Hex } from "../../src/envelope/digest.ts";
import { verifyEvidenceBundle } from "../../src/envelope/evidence.ts";
import { createReceipt } from "../../src/envelope/receipt.ts";
import { createOperatorApp } from "../../src/operator/app.ts";
import { MAX_CLAIM } from "../../src/store/index.ts";
import { makeTestNode, type TestNode } from "../helpers/node-context.ts";

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.once("listening", () => resolve((server.address() as AddressInfo).port));
  });
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

describe("mlax client commands against a node's operator API", () => {
  let node: TestNode;
  let server: Server;
  let url: string;
  let dir: string;
  let token: string;
  let bodyFile: string;

  const mlax = async (...args: string[]): Promise<Result> => {
    let stdout = "";
    let stderr = "";
    const io: CliIo = {
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: (s: string) => (stderr += s) },
      now: () => node.clock.now(),
    };
    const code = await main(["node", "mlax", ...args], io);
    return { code, stdout, stderr };
  };
  /** A command against the test node with the test token. */
  const client = (...args: string[]) => mlax(...args, "--node", url, "--token", token);
  const ok = (r: Result): Result => {
    assert.equal(r.code, 0, r.stderr);
    return r;
  };
  const fails = (r: Result, code: string, exit = 1): Result => {
    assert.equal(r.code, exit, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^error ${code}: `), r.stderr);
    return r;
  };
  const parsed = <T = Record<string, unknown>>(r: Result): T => JSON.parse(ok(r).stdout) as T;

  before(async () => {
    node = await makeTestNode();
    server = createOperatorApp(node.ctx).listen(0, "127.0.0.1");
    url = `http://127.0.0.1:${await listen(server)}`;
    dir = await mkdtemp(join(tmpdir(), "mlax-cli-client-"));
    bodyFile = join(dir, "request.json");
    await writeFile(bodyFile, JSON.stringify(exampleRequestBody(), null, 2));
    delete process.env.MLAX_TOKEN;
    delete process.env.MLAX_NODE;
  });
  after(async () => {
    await close(server);
    node.close();
    await rm(dir, { recursive: true, force: true });
  });

  describe("mlax token", () => {
    it("create prints the secret once, and the secret works against the node", async () => {
      const created = parsed<{ id: string; secret: string; label: string; store: string }>(
        await mlax("token", "create", "--data", node.dataDir, "--label", "cli test", "--json"),
      );
      assert.match(created.id, /^tok_[0-9a-f]{16}$/);
      assert.match(created.secret, /^mlax_[A-Za-z0-9_-]{43}$/);
      assert.equal(created.label, "cli test");
      assert.equal(created.store, node.storePath);
      token = created.secret;
      const status = parsed<{ authorityId: string }>(await client("status", "--json"));
      assert.equal(status.authorityId, "ES-MJ");

      const human = ok(await mlax("token", "create", "--data", node.dataDir));
      const secret = human.stdout.trim().split("\n").at(-1) ?? "";
      assert.match(secret, /^mlax_/);
      assert.match(human.stdout, /created token tok_[0-9a-f]{16} \(operator\)/);
    });

    it("list shows tokens without secrets; revoke makes the node refuse it", async () => {
      const created = parsed<{ id: string; secret: string }>(
        await mlax("token", "create", "--data", node.dataDir, "--label", "to revoke", "--json"),
      );
      const listed = parsed<{ id: string; label: string; revokedAt: string | null }[]>(
        await mlax("token", "list", "--data", node.dataDir, "--json"),
      );
      const entry = listed.find((t) => t.id === created.id);
      assert.equal(entry?.label, "to revoke");
      assert.equal(entry?.revokedAt, null);
      const table = ok(await mlax("token", "list", "--data", node.dataDir));
      assert.match(table.stdout, /^ID\s+STATE\s+CREATED\s+LAST USED\s+LABEL/);
      assert.doesNotMatch(table.stdout + JSON.stringify(listed), /mlax_/);

      ok(await mlax("status", "--node", url, "--token", created.secret));
      ok(await mlax("token", "revoke", created.id, "--data", node.dataDir));
      fails(await mlax("status", "--node", url, "--token", created.secret), "AUTH_INVALID");
      fails(await mlax("token", "revoke", created.id, "--data", node.dataDir), "NOT_FOUND");
      fails(await mlax("token", "revoke", "tok_x", "--data", node.dataDir), "INPUT_INVALID", 2);
    });

    it("list and revoke refuse a folder without a store", async () => {
      const empty = join(dir, "no-node");
      fails(await mlax("token", "list", "--data", empty), "NOT_FOUND");
      await assert.rejects(stat(join(empty, "store.sqlite")));
    });
  });

  describe("connection", () => {
    it("reads the node and the token from MLAX_NODE and MLAX_TOKEN", async () => {
      process.env.MLAX_NODE = url;
      process.env.MLAX_TOKEN = token;
      try {
        assert.equal(
          parsed<{ authorityId: string }>(await mlax("status", "--json")).authorityId,
          "ES-MJ",
        );
      } finally {
        delete process.env.MLAX_NODE;
        delete process.env.MLAX_TOKEN;
      }
    });

    it("without a token: AUTH_REQUIRED, nothing sent", async () => {
      fails(await mlax("status", "--node", url), "AUTH_REQUIRED");
    });

    it("a node that is not running: PEER_UNREACHABLE", async () => {
      const probe = createOperatorApp(node.ctx).listen(0, "127.0.0.1");
      const port = await listen(probe);
      await close(probe);
      const r = fails(
        await mlax("status", "--node", `http://127.0.0.1:${port}`, "--token", token),
        "PEER_UNREACHABLE",
      );
      assert.match(r.stderr, /ECONNREFUSED/);
    });

    it("a malformed --node is a usage error", async () => {
      fails(
        await mlax("status", "--node", "ftp://127.0.0.1:1", "--token", "x"),
        "INPUT_INVALID",
        2,
      );
    });

    it("maps problem+json to the node's code, and unknown codes to PEER_ERROR", () => {
      const known = problemToError(400, {
        code: "INPUT_INVALID",
        detail: "invalid message",
        issues: [{ path: "to", message: "authority id like ES-MJ" }],
      });
      assert.equal(known.code, "INPUT_INVALID");
      assert.match(known.message, /to: authority id like ES-MJ/);
      const unknown = problemToError(409, { code: "SOMETHING_NEW", detail: "later version" });
      assert.equal(unknown.code, "PEER_ERROR");
      assert.match(unknown.message, /409 SOMETHING_NEW: later version/);
      assert.equal(problemToError(502, "<html>").code, "PEER_ERROR");
    });
  });

  describe("send, outbox, inbox, show, evidence, status", () => {
    let id: string;

    it("send --json queues the request", async () => {
      const queued = parsed<{ id: string; to: string; state: string; location: string }>(
        await client("send", "--to", "CO-FGN", bodyFile, "--json"),
      );
      assert.equal(queued.to, "CO-FGN");
      assert.equal(queued.state, "queued");
      assert.equal(queued.location, `/api/v1/messages/${queued.id}`);
      assert.equal(node.store.getMessage(queued.id)?.state, "queued");
      id = queued.id;
    });

    it("send prints a readable summary", async () => {
      node.clock.advance(1000);
      const r = ok(await client("send", "--to", "CO-FGN", "--ttl-hours", "48", bodyFile));
      assert.match(r.stdout, /^queued request [0-9a-f-]{36} → CO-FGN\n/);
      assert.match(r.stdout, /follow it with: mlax show /);
    });

    it("send refuses with the node's code", async () => {
      fails(await client("send", "--to", "IT-MG", bodyFile), "LANGUAGE_NOT_ACCEPTED");
      const noFacts = join(dir, "no-facts.json");
      await writeFile(noFacts, JSON.stringify({ ...exampleRequestBody(), facts: undefined }));
      const r = fails(await client("send", "--to", "CO-FGN", noFacts), "INPUT_INVALID");
      assert.match(r.stderr, /facts/);
      const notJson = join(dir, "not.json");
      await writeFile(notJson, "{ nope");
      fails(await client("send", "--to", "CO-FGN", notJson), "INPUT_INVALID");
      fails(await client("send", "--to", "CO-FGN", join(dir, "missing.json")), "FILE_UNREADABLE");
      fails(
        await client("send", "--to", "CO-FGN", "--ttl-hours", "soon", bodyFile),
        "INPUT_INVALID",
        2,
      );
      fails(await client("send", "--to", "co-fgn", bodyFile), "INPUT_INVALID", 2);
    });

    it("outbox lists and pages; inbox is empty", async () => {
      const all = parsed<{ items: { id: string }[] }>(await client("outbox", "--json"));
      assert.equal(all.items.length, 2);
      assert.equal(all.items[1]?.id, id);
      const first = parsed<{ items: { id: string }[]; nextCursor: string }>(
        await client("outbox", "--limit", "1", "--json"),
      );
      assert.equal(first.items.length, 1);
      const second = parsed<{ items: { id: string }[]; nextCursor?: string }>(
        await client("outbox", "--limit", "1", "--cursor", first.nextCursor, "--json"),
      );
      assert.deepEqual(
        second.items.map((m) => m.id),
        [id],
      );
      assert.equal(second.nextCursor, undefined);

      const table = ok(await client("outbox", "--limit", "1"));
      const lines = table.stdout.trimEnd().split("\n");
      assert.equal(lines.length, 3, table.stdout);
      assert.match(lines[0] ?? "", /^ID\s+TYPE\s+TO\s+STATE\s+PRIORITY\s+QUEUED\s+THREAD$/);
      assert.match(table.stdout, /CO-FGN\s+queued/);
      assert.match(table.stdout, /more: mlax outbox --cursor \S+/);

      assert.deepEqual(parsed(await client("inbox", "--json")), { items: [] });
      assert.match(ok(await client("inbox")).stdout, /the inbox is empty/);
      fails(await client("outbox", "--state", "accepted"), "INPUT_INVALID", 2);
      fails(await client("inbox", "--limit", "500"), "INPUT_INVALID", 2);
      fails(await client("outbox", "--cursor", "bogus"), "INPUT_INVALID");
    });

    it("show prints the message, its delivery state and (no) receipt", async () => {
      const m = parsed<{ id: string; state: string; delivery: { attempts: number } }>(
        await client("show", id, "--json"),
      );
      assert.equal(m.id, id);
      assert.equal(m.state, "queued");
      assert.equal(m.delivery.attempts, 0);
      const human = ok(await client("show", id));
      assert.match(human.stdout, /from → to\s+ES-MJ → CO-FGN/);
      assert.match(human.stdout, /receipt\s+none yet/);
      assert.match(human.stdout, /^ {2}"caseReference": "DP-2026-0042",$/m);
      fails(await client("show", "nope"), "INPUT_INVALID", 2);
      fails(await client("show", "018f0000-0000-7000-8000-0000000000ff"), "NOT_FOUND");
    });

    it("evidence: NOT_FOUND before the receipt, a 0600 bundle that verifies after", async () => {
      const out = join(dir, "bundle.json");
      fails(await client("evidence", id, "-o", out), "NOT_FOUND");
      await assert.rejects(stat(out));

      const now = node.clock.now();
      const claimed = node.store.claimDue(now, MAX_CLAIM).find((m) => m.id === id);
      assert.ok(claimed);
      const receipt = await createReceipt({
        message: { id: claimed.id, from: claimed.from, to: claimed.to },
        messageSha256: claimed.payloadSha256,
        envelopeSha256: sha256Hex(claimed.envelope),
        status: "accepted",
        receivedAt: now,
        signer: node.pki.authorities["CO-FGN"]!.sign,
        chain: [node.pki.ca.certificate],
      });
      node.store.markDelivered(id, { receiptJws: receipt, at: now });
      node.store.recoverInFlight();

      const summary = parsed<{ bundle: string; receiptStatus: string }>(
        await client("evidence", id, "-o", out, "--json"),
      );
      assert.equal(summary.bundle, out);
      assert.equal(summary.receiptStatus, "accepted");
      assert.equal((await stat(out)).mode & 0o777, 0o600);
      const bundle = JSON.parse(await readFile(out, "utf8"));
      const verified = await verifyEvidenceBundle(bundle, { trust: node.ctx.network().trust });
      assert.equal(verified.message.id, id);

      // And offline, with the CLI, against the network CA only.
      const ca = join(dir, "ca.crt");
      await writeFile(ca, node.pki.ca.certPem);
      ok(await mlax("verify", out, "--ca", ca));
      assert.match(ok(await client("show", id)).stdout, /receipt\s+accepted received/);
    });

    it("status: counts, audit, and failed deliveries on stderr", async () => {
      const human = ok(await client("status"));
      assert.match(human.stdout, /^authority\s+ES-MJ$/m);
      assert.match(human.stdout, /^directory\s+mlax test network serial 1/m);
      assert.match(
        human.stdout,
        /^outbox\s+queued 1, sending 0, delivered 1, rejected 0, failed 0$/m,
      );
      assert.match(human.stdout, /^audit\s+ok, \d+ entries/m);
      assert.equal(human.stderr, "");

      const other = node.store.listMessages({ box: "outbox", state: "queued" }).items[0];
      assert.ok(other);
      node.store.markFailed(
        other.id,
        { code: "PEER_UNREACHABLE", message: "refused" },
        node.clock.now(),
      );
      const failed = ok(await client("status"));
      assert.match(
        failed.stdout,
        /failed deliveries:\n\s+\S+ request → CO-FGN: PEER_UNREACHABLE refused/,
      );
      assert.match(failed.stderr, /^warning: 1 outbound message\(s\) failed delivery/m);
      const json = parsed<{ outbox: { counts: { failed: number } }; warnings: string[] }>(
        await client("status", "--json"),
      );
      assert.equal(json.outbox.counts.failed, 1);
      assert.equal(json.warnings.length, 1);
    });

    it("security-events lists what the node recorded", async () => {
      assert.match(ok(await client("security-events")).stdout, /no security events/);
      node.store.recordSecurityEvent({ kind: "client_mismatch", peerAuthority: "IT-MG" });
      const page = parsed<{ items: { kind: string; peerAuthority: string }[] }>(
        await client("security-events", "--json"),
      );
      assert.deepEqual(
        page.items.map((e) => [e.kind, e.peerAuthority]),
        [["client_mismatch", "IT-MG"]],
      );
      assert.match(ok(await client("security-events")).stdout, /client_mismatch\s+IT-MG/);
    });
  });
});
