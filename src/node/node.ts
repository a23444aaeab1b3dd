/**
 * The composition root of one authority node (DESIGN.md architecture): config → store → directory
 * and keys → peer server (mutual TLS) + operator API (loopback) + outbox worker. `createNode`
 * refuses to build a node that cannot work and says what to fix; `start`/`stop` open and close the
 * ports; overrides let tests fix the clock or the peer client.
 */
import { readFileSync, statSync } from "node:fs";
import { chmod, mkdir } from "node:fs/promises";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { createOutboxWorker, type OutboxWorker } from "../delivery/outbox-worker.ts";
import { createPeerClient, type PeerClient } from "../delivery/peer-client.ts";
import { createCheckpointSigner } from "../envelope/audit-checkpoint.ts";
import { ConfigError, isMlaxError } from "../errors.ts";
import { createLogger, type Logger } from "../log.ts";
import { createOperatorApp } from "../operator/app.ts";
import { createPeerApp } from "../peer/app.ts";
import { tlsClientIdentity } from "../peer/client-identity.ts";
import { createPeerServer } from "../peer/server.ts";
import { openBlobStore, openStore, type Store } from "../store/index.ts";
import type { NodeConfig } from "./config.ts";
import { type NodeContext, receiveContextOf } from "./context.ts";
import {
  type AuthorityKeys,
  loadAuthorityKeys,
  loadNetworkTrust,
  type NetworkTrust,
} from "./load-identity.ts";

export const STORE_FILE = "store.sqlite";
/** How often the node looks for a newer certs/directory.jws. */
const DIRECTORY_POLL_MS = 30_000;
/** How often the node signs an audit checkpoint (and once more at every stop). */
const AUDIT_CHECKPOINT_MS = 15 * 60_000;

export interface NodeOverrides {
  readonly now?: () => Date;
  readonly log?: Logger;
  readonly peerClient?: PeerClient;
}

export interface MlaxNode {
  readonly context: NodeContext;
  readonly worker: OutboxWorker;
  /** Opens the peer and operator ports and starts the worker. */
  start(): Promise<{ peerUrl: string; apiUrl: string }>;
  /** Closes the ports, waits for deliveries in flight, closes the store. */
  stop(): Promise<void>;
  /** Loads certs/directory.jws again if it changed; refuses a lower serial. */
  reloadDirectory(): Promise<boolean>;
}

function listen(server: Server, port: number, host: string, what: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      reject(
        new ConfigError(
          "CONFIG_INVALID",
          `cannot listen for the ${what} on ${host}:${port}: ${error.code ?? error.message}` +
            (error.code === "EADDRINUSE"
              ? " (port in use: choose another with --peer-port/--api-port)"
              : ""),
          { cause: error },
        ),
      );
    };
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      resolve(server.address() as AddressInfo);
    });
  });
}

function close(server: Server | undefined): Promise<void> {
  if (!server?.listening) return Promise.resolve();
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections?.();
  });
}

function endpointPort(endpoint: string): number {
  const url = new URL(endpoint);
  return url.port ? Number(url.port) : 443;
}

export async function createNode(
  config: NodeConfig,
  overrides: NodeOverrides = {},
): Promise<MlaxNode> {
  const now = overrides.now ?? (() => new Date());
  const log = overrides.log ?? createLogger({ level: config.logLevel, name: config.authorityId });

  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  await chmod(config.dataDir, 0o700);
  const store: Store = openStore(join(config.dataDir, STORE_FILE), { now });
  let network: NetworkTrust;
  let keys: AuthorityKeys;
  try {
    // Rollback protection (DESIGN.md trust model): never accept a lower directory serial.
    network = await loadNetworkTrust(config.certsDir, {
      now: now(),
      minSerial: store.directorySerial(),
    });
    store.raiseDirectorySerial(network.directory.serial);
    keys = await loadAuthorityKeys(network, config.authorityId, now());
  } catch (error) {
    if (isMlaxError(error) && error.code === "DIRECTORY_ROLLBACK") {
      store.recordSecurityEvent({ kind: "directory_rollback", detail: { message: error.message } });
    }
    store.close();
    throw error;
  }
  const self = network.directory.authority(config.authorityId);
  const caPem = readFileSync(network.layout.caCert, "utf8");

  const recovered = store.recoverInFlight();
  if (recovered > 0)
    log.warn({ recovered }, "requeued messages that were in flight at the last stop");

  const client =
    overrides.peerClient ??
    createPeerClient({
      ca: caPem,
      certPem: keys.tls.certPem,
      keyPem: keys.tls.privateKeyPem,
      requestTimeoutMs: config.delivery.requestTimeoutMs,
      serverPins: (id) =>
        network.directory
          .authority(id)
          .certificates.filter((c) => c.role === "tls")
          .map((c) => c.sha256),
    });

  const blobs = openBlobStore(config.dataDir);
  let worker: OutboxWorker | undefined;
  const context: NodeContext = {
    config,
    authorityId: config.authorityId,
    keys,
    ca: network.ca,
    network: () => network,
    store,
    log,
    now,
    kickOutbox: () => worker?.kick(),
  };
  worker = createOutboxWorker({
    self: config.authorityId,
    store,
    client,
    blobs,
    trust: () => network.trust,
    endpointOf: (id) => network.directory.authority(id).endpoint,
    now,
    log,
    pollMs: config.delivery.pollMs,
    concurrency: config.delivery.concurrency,
    backoff: { baseMs: config.delivery.baseBackoffMs, maxMs: config.delivery.maxBackoffMs },
  });

  const peerApp = createPeerApp({
    context: receiveContextOf(context, blobs),
    identifyClient: tlsClientIdentity(() => network.trust, now),
  });
  const operatorApp = createOperatorApp(context);

  let peerServer: Server | undefined;
  let apiServer: Server | undefined;
  let directoryTimer: NodeJS.Timeout | undefined;
  let auditTimer: NodeJS.Timeout | undefined;
  // DESIGN.md "Evidence and audit": the hash-chained log is checkpointed, signed by our sign key.
  const signCheckpoint = createCheckpointSigner(keys.sign, [network.ca], config.authorityId, now);
  async function checkpoint(): Promise<void> {
    try {
      const head = store.auditHead();
      const last = store.listAuditCheckpoints().at(-1);
      if (!head || last?.seq === head.seq) return;
      const cp = await store.checkpointAudit(signCheckpoint);
      if (cp) log.info({ seq: cp.seq }, "audit checkpoint signed");
    } catch (error) {
      log.error({ err: error }, "audit checkpoint failed");
    }
  }
  let directoryMtime = statSync(network.layout.directoryJws).mtimeMs;

  async function reloadDirectory(): Promise<boolean> {
    // Never throws: it runs from a timer and from SIGHUP. A missing or refused file keeps the
    // current directory.
    try {
      let mtime: number;
      try {
        mtime = statSync(network.layout.directoryJws).mtimeMs;
      } catch (error) {
        log.warn({ err: error }, "directory file unreadable; keeping the current directory");
        return false;
      }
      if (mtime === directoryMtime) return false;
      try {
        const next = await loadNetworkTrust(config.certsDir, {
          now: now(),
          minSerial: store.directorySerial(),
        });
        directoryMtime = mtime;
        if (next.directory.serial === network.directory.serial) return false;
        store.raiseDirectorySerial(next.directory.serial);
        network = next;
        log.info({ serial: next.directory.serial }, "directory reloaded");
        return true;
      } catch (error) {
        directoryMtime = mtime;
        const code = isMlaxError(error) ? error.code : "INTERNAL";
        if (code === "DIRECTORY_ROLLBACK") {
          store.recordSecurityEvent({
            kind: "directory_rollback",
            detail: { message: (error as Error).message },
          });
        }
        log.error({ code, err: error }, "new directory refused; keeping the current one");
        return false;
      }
    } catch (error) {
      log.error({ err: error }, "directory reload failed; keeping the current one");
      return false;
    }
  }

  return {
    context,
    worker,
    reloadDirectory,
    async start() {
      const peerPort = config.peer.port ?? endpointPort(self.endpoint);
      const apiPort = config.api.port ?? (config.peer.port === 0 ? 0 : peerPort + 100);
      peerServer = createPeerServer(peerApp, {
        caPem,
        certPem: keys.tls.certPem,
        keyPem: keys.tls.privateKeyPem,
      });
      const peerAddress = await listen(peerServer, peerPort, config.peer.host, "peer API");
      const { createServer } = await import("node:http");
      apiServer = createServer(operatorApp);
      apiServer.headersTimeout = 10_000;
      // Uploads with attachments (up to 512 MiB) go through this port: loopback, token-guarded.
      apiServer.requestTimeout = 10 * 60_000;
      const apiAddress = await listen(apiServer, apiPort, config.api.host, "operator API").catch(
        async (e) => {
          await close(peerServer);
          throw e;
        },
      );
      worker?.start();
      // Crash leftovers: incoming parts, temporary files and blobs no attachment row references.
      // An hour is longer than any request may last (server request timeouts: 10 min).
      blobs
        .sweepOrphans((name) => store.isBlobReferenced(name), 3_600_000, now())
        .then((n) => {
          if (n > 0) log.warn({ removed: n }, "removed orphan attachment blobs left by a crash");
        })
        .catch((error: unknown) => log.warn({ err: error }, "orphan blob sweep failed"));
      directoryTimer = setInterval(() => {
        reloadDirectory().catch(() => undefined);
      }, DIRECTORY_POLL_MS);
      directoryTimer.unref();
      auditTimer = setInterval(() => void checkpoint(), AUDIT_CHECKPOINT_MS);
      auditTimer.unref();
      const peerUrl = `https://${config.peer.host}:${peerAddress.port}`;
      const apiUrl = `http://${config.api.host}:${apiAddress.port}`;
      log.info(
        {
          authority: config.authorityId,
          peerUrl,
          apiUrl,
          directorySerial: network.directory.serial,
        },
        `node ${config.authorityId} started`,
      );
      return { peerUrl, apiUrl };
    },
    async stop() {
      clearInterval(directoryTimer);
      clearInterval(auditTimer);
      await Promise.all([close(peerServer), close(apiServer)]);
      await worker?.stop();
      await client.close();
      await checkpoint();
      store.close();
      log.info({ authority: config.authorityId }, `node ${config.authorityId} stopped`);
    },
  };
}
