/**
 * The peer port: HTTPS with mutual TLS. The client must present a certificate from the network
 * CA (no handshake otherwise); timeouts and a connection cap against slow clients (THREATS.md).
 */
import { createServer, type Server } from "node:https";
import type { Express } from "express";

export interface PeerTlsMaterial {
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
}

export interface PeerServerLimits {
  readonly handshakeTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly idleSocketTimeoutMs: number;
  /** How often Node checks incomplete requests against headersTimeout / requestTimeout. */
  readonly timeoutCheckIntervalMs: number;
  readonly maxConnections: number;
  readonly maxHeaderSize: number;
}

export const PEER_SERVER_LIMITS: PeerServerLimits = {
  /** A TCP connection that does not finish the TLS handshake. */
  handshakeTimeoutMs: 10_000,
  headersTimeoutMs: 10_000,
  /**
   * A whole request, attachments included (up to 512 MiB: attachments.ts). Only clients with a
   * network certificate get this far; a stalled upload is cut by idleSocketTimeoutMs.
   */
  requestTimeoutMs: 10 * 60_000,
  keepAliveTimeoutMs: 5_000,
  idleSocketTimeoutMs: 30_000,
  maxConnections: 256,
  maxHeaderSize: 16 * 1024,
  // Node's default is 30 s: headersTimeout would only bite up to 30 s late (slowloris).
  timeoutCheckIntervalMs: 1_000,
};

export function createPeerServer(
  app: Express,
  tls: PeerTlsMaterial,
  limits: PeerServerLimits = PEER_SERVER_LIMITS,
): Server {
  const server = createServer(
    {
      handshakeTimeout: limits.handshakeTimeoutMs,
      connectionsCheckingInterval: limits.timeoutCheckIntervalMs,
      ca: tls.caPem,
      cert: tls.certPem,
      key: tls.keyPem,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: "TLSv1.2",
      maxHeaderSize: limits.maxHeaderSize,
    },
    app,
  );
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.maxConnections = limits.maxConnections;
  server.setTimeout(limits.idleSocketTimeoutMs, (socket) => socket.destroy());
  return server;
}
