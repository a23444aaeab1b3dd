/**
 * `npm run demo [-- --out DIR]`: three authority nodes exchanging requests, from nothing.
 *   1. a PKI for ES-MJ, CO-FGN and IT-MG (network CA, keys, certificates, signed directory);
 *   2. three `mlax node start` processes on free loopback ports (mutual TLS between them);
 *   3. CO-FGN → ES-MJ and ES-MJ → IT-MG requests; ES-MJ acknowledges CO-FGN's request in its thread;
 *   4. waits for the signed receipts, exports an evidence bundle and verifies it with `mlax verify`
 *      in a separate process;
 *   5. prints a timeline, stops the nodes, exits 0 — non-zero if anything failed.
 * With --out DIR everything stays: DIR/certs, DIR/nodes/<ID>/ (store.sqlite, node.log), DIR/evidence.json.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { exampleRequestBody } from "../src/domain/example-request.ts";
import {
  type ApiBody,
  createLocalNetwork,
  type LocalNetwork,
  PROJECT_ROOT,
  runCliOk,
  waitForMessage,
} from "./lib/local-network.ts";

const AUTHORITIES = ["ES-MJ", "CO-FGN", "IT-MG"] as const;

function parseArgs(argv: readonly string[]): { out?: string; bits: number } {
  let out: string | undefined;
  let bits = 3072;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--out") out = argv[++i];
    else if (a === "--bits") bits = Number(argv[++i]);
    else if (a === "--help" || a === "-h") {
      process.stdout.write("usage: npm run demo [-- --out DIR] [--bits 2048|3072]\n");
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (out === "") throw new Error("--out needs a folder");
  return { out, bits };
}

const t0 = Date.now();
const timeline: string[] = [];
function step(text: string): void {
  const line = `[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${text}`;
  timeline.push(line);
  process.stdout.write(`${line}\n`);
}

async function run(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const dir = args.out ? resolve(args.out) : mkdtempSync(join(tmpdir(), "mlax-demo-"));
  let network: LocalNetwork | undefined;
  try {
    step(
      `PKI: network CA, sign/enc/tls keys (RSA-${args.bits}) for ${AUTHORITIES.join(", ")}, signed directory`,
    );
    network = await createLocalNetwork({ dir, ids: AUTHORITIES, bits: args.bits, pollMs: 200 });
    const { nodes } = network;
    const es = nodes["ES-MJ"]!;
    const co = nodes["CO-FGN"]!;
    const it = nodes["IT-MG"]!;
    await Promise.all([es.start(), co.start(), it.start()]);
    for (const n of [es, co, it])
      step(
        `node ${n.id} up: peer https://127.0.0.1:${n.peerPort} (mutual TLS), operator ${n.apiUrl}`,
      );

    // CO-FGN asks ES-MJ for bank records (an MLA request in Spanish, which ES-MJ accepts).
    const toEs = await co.api("/api/v1/messages", {
      body: { type: "request", to: "ES-MJ", body: exampleRequestBody() },
    });
    if (toEs.status !== 202) throw new Error(`CO-FGN send failed: ${JSON.stringify(toEs.body)}`);
    step(
      `CO-FGN queued request ${toEs.body.id} → ES-MJ (priority ${toEs.body.priority}${toEs.body.urgent ? ", urgent" : ""})`,
    );

    // ES-MJ asks IT-MG, urgently, in English: a person is in pre-trial detention.
    const urgentBody = exampleRequestBody();
    urgentBody.language = "en";
    urgentBody.caseReference = "AN-DP-2026-117";
    urgentBody.requestingAuthority = {
      name: "Ministerio de Justicia",
      office: "Subdirección General de Cooperación Jurídica Internacional",
    };
    urgentBody.urgency = {
      level: "urgent",
      reason: "The suspect is in pre-trial detention; evidence may be lost.",
      deadline: new Date(Date.now() + 3 * 86_400_000).toISOString().slice(0, 10),
    };
    urgentBody.prioritisation = {
      ...urgentBody.prioritisation,
      pretrialDetention: { detained: true },
      evidenceAtRisk: { atRisk: true, description: "Server logs are kept for 30 days only." },
    };
    const toIt = await es.api("/api/v1/messages", {
      body: { type: "request", to: "IT-MG", body: urgentBody },
    });
    if (toIt.status !== 202) throw new Error(`ES-MJ send failed: ${JSON.stringify(toIt.body)}`);
    step(`ES-MJ queued URGENT request ${toIt.body.id} → IT-MG (priority ${toIt.body.priority})`);

    const delivered = (d: ApiBody) => d.delivery?.state === "delivered";
    const d1 = await waitForMessage(co, toEs.body.id, delivered);
    step(
      `CO-FGN → ES-MJ delivered after ${d1.delivery.attempts} attempt(s); ES-MJ's signed receipt verified (${d1.receipt.status})`,
    );
    const d2 = await waitForMessage(es, toIt.body.id, delivered);
    step(
      `ES-MJ → IT-MG delivered after ${d2.delivery.attempts} attempt(s); IT-MG's signed receipt verified (${d2.receipt.status})`,
    );

    // ES-MJ registers the request and acknowledges it in the same thread.
    const inbox = await es.api("/api/v1/messages?box=inbox");
    const received = inbox.body.items.find((m: ApiBody) => m.id === toEs.body.id);
    if (!received) throw new Error("ES-MJ's inbox does not show CO-FGN's request");
    step(
      `ES-MJ inbox: ${received.type} ${received.id} from ${received.from}, receipt ${received.state}`,
    );
    const ack = await es.api("/api/v1/messages", {
      body: {
        type: "acknowledgement",
        to: "CO-FGN",
        threadId: toEs.body.threadId,
        inReplyTo: toEs.body.id,
        body: { caseNumber: "MJ-CI-2026-00931", registeredAt: new Date().toISOString() },
      },
    });
    if (ack.status !== 202)
      throw new Error(`ES-MJ acknowledgement failed: ${JSON.stringify(ack.body)}`);
    const d3 = await waitForMessage(es, ack.body.id, delivered);
    step(`ES-MJ → CO-FGN acknowledgement ${ack.body.id} delivered (${d3.receipt.status})`);

    // Evidence: the request and ES-MJ's receipt, verified offline by a separate `mlax verify`.
    const evidence = await co.api(`/api/v1/messages/${toEs.body.id}/evidence`);
    if (evidence.status !== 200)
      throw new Error(`evidence export failed: ${JSON.stringify(evidence.body)}`);
    const evidencePath = join(dir, "evidence.json");
    writeFileSync(evidencePath, `${JSON.stringify(evidence.body, null, 2)}\n`, { mode: 0o600 });
    step(`CO-FGN exported the evidence bundle to ${evidencePath}`);
    const verified = execFileSync(
      process.execPath,
      [
        join(PROJECT_ROOT, "scripts", "mlax.mjs"),
        "verify",
        evidencePath,
        "--ca",
        join(network.certsDir, "ca", "ca.crt"),
        "--directory",
        join(network.certsDir, "directory.jws"),
      ],
      { cwd: PROJECT_ROOT, encoding: "utf8" },
    );
    step("mlax verify (offline, against the network CA and the directory):");
    for (const line of verified.trimEnd().split("\n")) process.stdout.write(`          ${line}\n`);

    const stopped = await Promise.all([es.stop(), co.stop(), it.stop()]);
    if (stopped.some((c) => c !== 0))
      throw new Error(`a node did not stop cleanly: exit codes ${stopped.join(", ")}`);
    step("nodes stopped cleanly (each signed an audit checkpoint on the way out)");

    // The audit trail: CO-FGN's hash-chained log with its signed checkpoint, verified offline.
    const auditPath = join(dir, "audit-CO-FGN.json");
    await runCliOk([
      "audit",
      "export",
      "--data",
      co.dataDir,
      "--certs",
      network.certsDir,
      "--as",
      "CO-FGN",
      "-o",
      auditPath,
    ]);
    const audit = JSON.parse(
      await runCliOk([
        "verify",
        auditPath,
        "--ca",
        join(network.certsDir, "ca", "ca.crt"),
        "--json",
      ]),
    );
    if (audit.ok !== true) throw new Error("the audit export does not verify");
    step(
      `CO-FGN audit log verified offline: ${audit.summary.entries} entries (${audit.summary.kinds}), ${audit.summary.checkpoints} signed checkpoint(s), head covered: ${audit.summary.headCovered}`,
    );
    process.stdout.write(
      `\nOK: 3 authorities, 3 messages delivered with verified receipts, evidence bundle verified.\n`,
    );
    if (args.out)
      process.stdout.write(
        `Kept: ${dir}/certs, ${dir}/nodes/<ID>/, ${dir}/evidence.json, ${dir}/audit-CO-FGN.json\n`,
      );
  } finally {
    await network?.stopAll().catch(() => undefined);
    if (!args.out) rmSync(dir, { recursive: true, force: true });
  }
}

run().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(
      `\ndemo FAILED: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exit(1);
  },
);
