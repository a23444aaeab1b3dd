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

export const PEER_SERVER_LIMITS = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5_000,
  idleSocketTimeoutMs: 30_000,
  maxConnections: 256,
  maxHeaderSize: 16 * 1024,
} as const;

export function createPeerServer(app: Express, tls: PeerTlsMaterial): Server {
  const server = createServer(
    {
      ca: tls.caPem,
      cert: tls.certPem,
      key: tls.keyPem,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: "TLSv1.2",
      maxHeaderSize: PEER_SERVER_LIMITS.maxHeaderSize,
    },
    app,
  );
  server.headersTimeout = PEER_SERVER_LIMITS.headersTimeoutMs;
  server.requestTimeout = PEER_SERVER_LIMITS.requestTimeoutMs;
  server.keepAliveTimeout = PEER_SERVER_LIMITS.keepAliveTimeoutMs;
  server.maxConnections = PEER_SERVER_LIMITS.maxConnections;
  server.setTimeout(PEER_SERVER_LIMITS.idleSocketTimeoutMs, (socket) => socket.destroy());
  return server;
}
