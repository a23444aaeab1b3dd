/**
 * Who is on the other end of a peer connection: the TLS client certificate (already chained to
 * the network CA by the TLS handshake) must be the tls certificate pinned in the directory for
 * some authority.
 */
import { X509Certificate } from "node:crypto";
import type { TLSSocket } from "node:tls";
import type { Request } from "express";
import type { TrustView } from "../envelope/trust.ts";
import { HttpError, isMlaxError } from "../errors.ts";

export type IdentifyClient = (req: Request) => string;

export function tlsClientIdentity(trust: () => TrustView, now: () => Date): IdentifyClient {
  return (req) => {
    const socket = req.socket as TLSSocket;
    const peer =
      typeof socket.getPeerCertificate === "function"
        ? socket.getPeerCertificate(false)
        : undefined;
    if (!socket.authorized || !peer?.raw) {
      throw new HttpError(
        "PEER_CLIENT_CERT_REQUIRED",
        "a client certificate from the network CA is required",
      );
    }
    try {
      const pinned = trust().resolveSigner([new X509Certificate(peer.raw)], [now()]);
      if (pinned.role !== "tls") {
        throw new HttpError(
          "PEER_CLIENT_CERT_REQUIRED",
          `the client certificate has role ${pinned.role}, not tls`,
        );
      }
      return pinned.authorityId;
    } catch (cause) {
      if (cause instanceof HttpError) throw cause;
      throw new HttpError(
        "PEER_CLIENT_CERT_REQUIRED",
        `the client certificate is not usable: ${isMlaxError(cause) ? cause.code : "invalid"}`,
        { cause },
      );
    }
  };
}
