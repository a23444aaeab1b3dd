/**
 * `mlax send --attach` and `mlax attachment` (src/cli/node-client-commands.ts, client.ts), run
 * in-process against the operator app on an ephemeral loopback port: files are checked before
 * anything is sent, uploaded as multipart, listed by `show`, downloaded to the -o path only (never
 * to the sender's name), and a download that fails (a corrupt blob, early or late) leaves no file.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { main } from "../../src/cli/main.ts";
import type { CliIo } from "../../src/cli/output.ts";
import { exampleRequestBody } from "../../src/domain/example-request.ts";
import { createOperatorApp } from "../../src/operator/app.ts";
import { makeTestNode, type TestNode } from "../helpers/node-context.ts";

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

describe("mlax send --attach and mlax attachment", () => {
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
  const client = (...args: string[]) => mlax(...args, "--node", url, "--token", token);
  const fails = (r: Result, code: string, exit = 1) => {
    assert.equal(r.code, exit, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^error ${code}: `), r.stderr);
  };

  before(async () => {
    node = await makeTestNode();
    server = createOperatorApp(node.ctx).listen(0, "127.0.0.1");
    await new Promise((r) => server.once("listening", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    dir = await mkdtemp(join(tmpdir(), "mlax-cli-attach-"));
    bodyFile = join(dir, "request.json");
    await writeFile(bodyFile, JSON.stringify(exampleRequestBody()));
    token = node.store.createToken("cli").secret;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    node.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("sends files, lists them with show, and saves each to the -o path", async () => {
    const pdf = randomBytes(150_000);
    await writeFile(join(dir, "Anexo 1.PDF"), pdf);
    await writeFile(join(dir, "notes.bin"), "");
    const sent = await client(
      "send",
      bodyFile,
      "--to",
      "CO-FGN",
      "--attach",
      join(dir, "Anexo 1.PDF"),
      "--attach",
      join(dir, "notes.bin"),
      "--json",
    );
    assert.equal(sent.code, 0, sent.stderr);
    const queued = JSON.parse(sent.stdout);
    assert.deepEqual(
      queued.attachments.map((a: { name: string; mediaType: string; size: number }) => [
        a.name,
        a.mediaType,
        a.size,
      ]),
      [
        ["Anexo 1.PDF", "application/pdf", pdf.length],
        ["notes.bin", "application/octet-stream", 0],
      ],
    );

    const shown = await client("show", queued.id);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /attachments:\n\s+#\s+NAME/);
    assert.match(shown.stdout, /0\s+Anexo 1\.PDF\s+application\/pdf\s+150000\s+[0-9a-f]{64}/);
    assert.match(shown.stdout, new RegExp(`mlax attachment ${queued.id} <#> -o <file>`));

    const out = join(dir, "saved.pdf");
    const saved = await client("attachment", queued.id, "0", "-o", out, "--json");
    assert.equal(saved.code, 0, saved.stderr);
    assert.ok((await readFile(out)).equals(pdf));
    assert.equal((await stat(out)).mode & 0o777, 0o600);
    assert.equal(JSON.parse(saved.stdout).sha256, queued.attachments[0].sha256);
    const empty = await client("attachment", queued.id, "1", "-o", join(dir, "e.bin"));
    assert.equal(empty.code, 0, empty.stderr);
    assert.equal((await readFile(join(dir, "e.bin"))).length, 0);
    fails(await client("attachment", queued.id, "2", "-o", join(dir, "x.bin")), "NOT_FOUND");
    fails(
      await client("attachment", queued.id, "two", "-o", join(dir, "x.bin")),
      "INPUT_INVALID",
      2,
    );
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n.endsWith(".tmp")),
      [],
      "no temporary download left",
    );
  });

  it("checks --attach files before sending anything", async () => {
    const before = node.store.listMessages({ box: "outbox", limit: 200 }).items.length;
    fails(
      await client("send", bodyFile, "--to", "CO-FGN", "--attach", join(dir, "missing.pdf")),
      "FILE_UNREADABLE",
    );
    fails(await client("send", bodyFile, "--to", "CO-FGN", "--attach", dir), "FILE_UNREADABLE");
    const many = Array.from({ length: 21 }, () => ["--attach", bodyFile]).flat();
    fails(await client("send", bodyFile, "--to", "CO-FGN", ...many), "INPUT_INVALID", 2);
    assert.equal(node.store.listMessages({ box: "outbox", limit: 200 }).items.length, before);
  });

  it("fails without leaving a file when the node's blob is corrupt, early or late", async () => {
    await writeFile(join(dir, "a.txt"), randomBytes(300_000));
    const sent = await client(
      "send",
      bodyFile,
      "--to",
      "CO-FGN",
      "--attach",
      join(dir, "a.txt"),
      "--json",
    );
    assert.equal(sent.code, 0, sent.stderr);
    const id = JSON.parse(sent.stdout).id;
    const record = node.store.getAttachment(id, 0);
    assert.ok(record?.blob);
    const blobPath = join(node.dataDir, "blobs", record.blob.blobName);
    const original = await readFile(blobPath);
    const out = join(dir, "tampered.txt");
    // Found in the first record, before anything is answered: a problem, STORE_CORRUPT.
    const early = Buffer.from(original);
    early[5] = (early[5] ?? 0) ^ 1;
    await writeFile(blobPath, early);
    fails(await client("attachment", id, "0", "-o", out), "STORE_CORRUPT");
    await assert.rejects(stat(out), "no file at -o");
    // Found in a later record: the node cuts the response short; the CLI keeps nothing.
    const late = Buffer.from(original);
    late[200_000] = (late[200_000] ?? 0) ^ 1;
    await writeFile(blobPath, late);
    fails(await client("attachment", id, "0", "-o", out), "PEER_ERROR");
    await assert.rejects(stat(out), "no file at -o");
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n.endsWith(".tmp")),
      [],
    );
  });
});
