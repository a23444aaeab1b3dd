/**
 * Process-crash durability of the store (THREATS.md, SQLite durability; DESIGN.md: crashes at any
 * point lose nothing and duplicate nothing). A child writes in a loop and prints each committed id;
 * we SIGKILL it at random moments, reopen, and check that every id reported as committed is there
 * exactly once, that replays after a crash are answered from the store, and that the file, the
 * audit chain and the outbox states hold. (A kill -9 proves process-crash safety, not power loss.)
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, it } from "node:test";
import Database from "better-sqlite3";
import { openStore } from "../../src/store/index.ts";

const LANES = 3;
const ROUNDS_PER_LANE = 5;
const CHILD = join(import.meta.dirname, "../helpers/store-crash-child.ts");
const ROOT = join(import.meta.dirname, "../..");

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "mlax-crash-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

interface Round {
  lines: string[];
  signal: NodeJS.Signals | null;
  code: number | null;
  stderr: string;
}

/**
 * The first round of a lane kills at a random moment after spawn (possibly during start-up or the
 * migration); later rounds wait for the first commit, then kill within 400 ms (mid-write).
 */
function runRound(path: string, round: number): Promise<Round> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", CHILD, path], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let buffered = "";
    let stderr = "";
    const lines: string[] = [];
    let timer: NodeJS.Timeout | undefined;
    const kill = () => child.kill("SIGKILL");
    const killAfter = (ms: number) => {
      timer ??= setTimeout(kill, ms);
    };
    if (round === 0) killAfter(200 + Math.random() * 1500);
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      buffered += chunk;
      const parts = buffered.split("\n");
      buffered = parts.pop() ?? ""; // a torn last line was not reported as committed
      lines.push(...parts);
      if (lines.length > 0) killAfter(20 + Math.random() * 380);
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const guard = setTimeout(kill, 4000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(guard);
      if (timer !== undefined) clearTimeout(timer);
      resolve({ lines, signal, code, stderr });
    });
  });
}

interface Lane {
  readonly path: string;
  readonly inbound: Set<string>; // "from id"
  readonly outbound: Set<string>;
  replays: number;
  killed: number;
}

/** One store file, killed ROUNDS_PER_LANE times in a row. */
async function runLane(path: string): Promise<Lane> {
  const lane: Lane = { path, inbound: new Set(), outbound: new Set(), replays: 0, killed: 0 };
  for (let round = 0; round < ROUNDS_PER_LANE; round++) {
    const result = await runRound(path, round);
    if (result.signal === "SIGKILL") lane.killed++;
    else assert.equal(result.code, 0, `child exited on its own: ${result.stderr}`);
    for (const line of result.lines) {
      const [kind, a, b] = line.split(" ");
      assert.notEqual(kind, "BAD", line);
      if (kind === "in" && a !== undefined && b !== undefined) {
        assert.equal(lane.inbound.has(`${a} ${b}`), false, `reported twice: ${line}`);
        lane.inbound.add(`${a} ${b}`);
      } else if (kind === "out" && a !== undefined) {
        lane.outbound.add(a);
      } else if (kind === "dup") {
        lane.replays++;
      } else {
        assert.fail(`unexpected line ${line}`);
      }
    }
  }
  return lane;
}

function checkLane(lane: Lane): void {
  const store = openStore(lane.path);
  try {
    assert.deepEqual(store.integrityCheck(), { ok: true });
    assert.equal(store.verifyAuditChain().ok, true);
    store.recoverInFlight();
  } finally {
    store.close();
  }

  const raw = new Database(lane.path, { readonly: true });
  try {
    const countIn = raw.prepare<[string, string], { n: number }>(
      "SELECT count(*) AS n FROM messages WHERE direction = 'in' AND from_authority = ? AND id = ?",
    );
    for (const key of lane.inbound) {
      const [from = "", id = ""] = key.split(" ");
      assert.equal(countIn.get(from, id)?.n, 1, `inbound ${key}`);
    }
    const countOut = raw.prepare<[string, string], { n: number; outbox: number }>(
      `SELECT count(*) AS n, (SELECT count(*) FROM outbox o JOIN messages m
         ON m.seq = o.message_seq WHERE m.direction = 'out' AND m.id = ?) AS outbox
         FROM messages WHERE direction = 'out' AND id = ?`,
    );
    for (const id of lane.outbound) {
      assert.deepEqual({ ...countOut.get(id, id) }, { n: 1, outbox: 1 }, `outbound ${id}`);
    }
    // One audit row per fact: nothing was recorded, queued or delivered twice.
    const audited = raw
      .prepare<[], { kind: string; n: number; distinct_ids: number }>(
        `SELECT kind, count(*) AS n, count(DISTINCT message_id) AS distinct_ids FROM audit_log
          WHERE kind IN ('queued', 'received', 'delivered') GROUP BY kind`,
      )
      .all();
    for (const row of audited) assert.equal(row.n, row.distinct_ids, row.kind);
    const count = (sql: string) => raw.prepare<[], { n: number }>(sql).get()?.n;
    assert.equal(
      count("SELECT count(*) AS n FROM audit_log WHERE kind = 'received'"),
      count("SELECT count(*) AS n FROM messages WHERE direction = 'in'"),
    );
    assert.equal(
      count("SELECT count(*) AS n FROM audit_log WHERE kind = 'queued'"),
      count("SELECT count(*) AS n FROM outbox"),
    );
    assert.equal(
      count("SELECT count(*) AS n FROM outbox WHERE state = 'sending'"),
      0,
      "recoverInFlight left a row in `sending`",
    );
  } finally {
    raw.close();
  }
}

it("loses and duplicates nothing across random SIGKILLs", { timeout: 90_000 }, async () => {
  // Lanes run in parallel on separate files to keep the test short; 15 kills in all.
  const lanes = await Promise.all(
    Array.from({ length: LANES }, (_, i) => runLane(join(dir, `node-${i}.sqlite`))),
  );
  const killed = lanes.reduce((n, lane) => n + lane.killed, 0);
  const committed = lanes.reduce((n, lane) => n + lane.inbound.size + lane.outbound.size, 0);
  assert.ok(killed >= LANES * ROUNDS_PER_LANE - 2, `only ${killed} rounds were killed`);
  assert.ok(committed > LANES * ROUNDS_PER_LANE, "the children committed too little to test");
  assert.ok(
    lanes.some((lane) => lane.replays > 0),
    "no round replayed a stored message",
  );
  for (const lane of lanes) checkLane(lane);
});
