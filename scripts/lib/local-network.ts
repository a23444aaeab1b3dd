/**
 * A network of real mlax nodes on this machine, for the demo and the multi-node tests: one PKI,
 * one child process per authority (`mlax node start`), each on free loopback ports, with a
 * bearer token per node. Nothing here is mocked: mutual TLS, SQLite files and child processes.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { main } from "../../src/cli/main.ts";
import type { CliIo } from "../../src/cli/output.ts";

/** JSON from our own operator API; callers check the fields they use. */
// biome-ignore lint/suspicious/noExplicitAny: test and demo tooling reads loosely typed JSON
export type ApiBody = any;

export const PROJECT_ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const MLAX_BIN = join(PROJECT_ROOT, "scripts", "mlax.mjs");

/** A free TCP port on 127.0.0.1 (asked of the kernel, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}

/** Runs the mlax CLI in this process and returns its exit code and output. */
export async function runCli(args: readonly string[], now?: () => Date) {
  let stdout = "";
  let stderr = "";
  const io: CliIo = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    now: now ?? (() => new Date()),
  };
  const code = await main(["node", "mlax", ...args], io);
  return { code, stdout, stderr };
}

export async function runCliOk(args: readonly string[]): Promise<string> {
  const r = await runCli(args);
  if (r.code !== 0)
    throw new Error(`mlax ${args.join(" ")} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

export interface NodeHandle {
  readonly id: string;
  /** The port the node listens on for peers. */
  readonly peerPort: number;
  /** The port of its endpoint in the directory (= peerPort unless a test proxy sits between). */
  readonly endpointPort: number;
  readonly apiPort: number;
  readonly apiUrl: string;
  readonly dataDir: string;
  readonly logFile: string;
  token: string;
  process: ChildProcess | undefined;
  /** Starts (or restarts) the node process and waits until its operator API answers. */
  start(): Promise<void>;
  /** SIGTERM and wait for exit. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait for exit (crash). */
  kill(): Promise<void>;
  /** Calls the node's operator API with its token. */
  api(
    path: string,
    init?: { method?: string; body?: unknown },
  ): Promise<{ status: number; body: ApiBody }>;
}

export interface LocalNetwork {
  readonly dir: string;
  readonly certsDir: string;
  readonly nodes: Readonly<Record<string, NodeHandle>>;
  stopAll(): Promise<void>;
}

export interface LocalNetworkOptions {
  readonly dir: string;
  readonly ids: readonly string[];
  readonly bits?: number;
  /** Outbox poll interval of every node (ms). */
  readonly pollMs?: number;
  /** Extra environment for the node processes. */
  readonly env?: Record<string, string>;
  readonly logLevel?: string;
  /** Authorities whose directory endpoint gets its own port, for a test proxy in front of them. */
  readonly proxied?: readonly string[];
}

function waitExit(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolveExit) => child.once("exit", (code) => resolveExit(code)));
}

export async function createLocalNetwork(options: LocalNetworkOptions): Promise<LocalNetwork> {
  const dir = resolve(options.dir);
  const certsDir = join(dir, "certs");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ports = new Map<string, { peer: number; endpoint: number; api: number }>();
  for (const id of options.ids) {
    const peer = await freePort();
    const endpoint = options.proxied?.includes(id) ? await freePort() : peer;
    ports.set(id, { peer, endpoint, api: await freePort() });
  }
  await runCliOk([
    "pki",
    "init",
    "--out",
    certsDir,
    "--authorities",
    options.ids.join(","),
    "--bits",
    String(options.bits ?? 3072),
    ...options.ids.flatMap((id) => [
      "--endpoint",
      `${id}=https://127.0.0.1:${ports.get(id)?.endpoint}`,
    ]),
    "--json",
  ]);

  const nodes: Record<string, NodeHandle> = {};
  for (const id of options.ids) {
    const { peer, endpoint, api } = ports.get(id) as {
      peer: number;
      endpoint: number;
      api: number;
    };
    const dataDir = join(dir, "nodes", id);
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const created = JSON.parse(
      await runCliOk(["token", "create", "--data", dataDir, "--label", "local-network", "--json"]),
    );
    const handle: NodeHandle = {
      id,
      peerPort: peer,
      endpointPort: endpoint,
      apiPort: api,
      apiUrl: `http://127.0.0.1:${api}`,
      dataDir,
      logFile: join(dataDir, "node.log"),
      token: created.secret as string,
      process: undefined,
      async start() {
        const log = createWriteStream(handle.logFile, { flags: "a" });
        const child = spawn(
          process.execPath,
          [
            MLAX_BIN,
            "node",
            "start",
            "--certs",
            certsDir,
            "--as",
            id,
            "--data",
            dataDir,
            "--peer-port",
            String(peer),
            "--api-port",
            String(api),
            "--poll-ms",
            String(options.pollMs ?? 200),
            "--log-level",
            options.logLevel ?? "info",
          ],
          {
            cwd: PROJECT_ROOT,
            env: { ...process.env, ...options.env },
            stdio: ["ignore", "pipe", "pipe"],
          },
        );
        child.stdout?.pipe(log);
        child.stderr?.pipe(log);
        handle.process = child;
        const deadline = Date.now() + 30_000;
        for (;;) {
          if (child.exitCode !== null) {
            throw new Error(
              `node ${id} exited with ${child.exitCode} during start-up; see ${handle.logFile}`,
            );
          }
          try {
            const r = await handle.api("/api/v1/status");
            if (r.status === 200) return;
          } catch {
            // not listening yet
          }
          if (Date.now() > deadline)
            throw new Error(`node ${id} did not start within 30 s; see ${handle.logFile}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      },
      async stop() {
        const child = handle.process;
        if (!child) return null;
        child.kill("SIGTERM");
        const code = await waitExit(child);
        handle.process = undefined;
        return code;
      },
      async kill() {
        const child = handle.process;
        if (!child) return;
        child.kill("SIGKILL");
        await waitExit(child);
        handle.process = undefined;
      },
      async api(path, init = {}) {
        const res = await fetch(new URL(path, handle.apiUrl), {
          method: init.method ?? (init.body === undefined ? "GET" : "POST"),
          headers: {
            authorization: `Bearer ${handle.token}`,
            ...(init.body === undefined ? {} : { "content-type": "application/json" }),
          },
          body: init.body === undefined ? undefined : JSON.stringify(init.body),
          signal: AbortSignal.timeout(10_000),
        });
        const text = await res.text();
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON
        }
        return { status: res.status, body };
      },
    };
    nodes[id] = handle;
  }
  return {
    dir,
    certsDir,
    nodes,
    async stopAll() {
      await Promise.all(Object.values(nodes).map((n) => n.stop()));
    },
  };
}

/** Polls a message on a node until `done(detail)` holds or the time runs out. */
export async function waitForMessage(
  node: NodeHandle,
  id: string,
  done: (detail: ApiBody) => boolean,
  timeoutMs = 30_000,
): Promise<ApiBody> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    const r = await node.api(`/api/v1/messages/${id}`);
    last = r.body;
    if (r.status === 200 && done(r.body)) return r.body;
    if (Date.now() > deadline) {
      throw new Error(
        `message ${id} on ${node.id}: condition not met in ${timeoutMs} ms; last: ${JSON.stringify(last).slice(0, 500)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
