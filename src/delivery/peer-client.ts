/**
 * Outbound mutual-TLS client for the peer API: undici with the node's tls certificate as client
 * certificate, the network CA as the only trust anchor for the server, and the server certificate
 * pinned: it must be a tls certificate the directory lists for the authority we are delivering to
 * (every tls certificate names localhost, so the host name alone does not tell nodes apart).
 * Attachments go as `attachment` parts in manifest order, each a file-backed Blob
 * (`fs.openAsBlob`): they stream from disk, never whole into memory (src/peer/attachments.ts).
 */
import { createHash } from "node:crypto";
import { openAsBlob } from "node:fs";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import { Agent, FormData, fetch } from "undici";
import { DeliveryError } from "../errors.ts";

export interface PeerClientOptions {
  readonly ca: string;
  readonly certPem: string;
  readonly keyPem: string;
  readonly connectTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
  /** SHA-256 (lowercase hex) of the tls certificates pinned for an authority, read at handshake. */
  serverPins(authorityId: string): readonly string[];
}

export interface PeerResponse {
  readonly status: number;
  readonly contentType: string;
  readonly body: unknown;
}

/** One `attachment` part: a ciphertext file on disk (a blob), or bytes in memory (tests). */
export type OutboundAttachment = { readonly path: string } | { readonly data: Uint8Array };

export interface PeerClient {
  postEnvelope(
    authorityId: string,
    endpoint: string,
    envelope: string,
    attachments?: readonly OutboundAttachment[],
  ): Promise<PeerResponse>;
  close(): Promise<void>;
}

const MAX_RESPONSE_BYTES = 256 * 1024;
/**
 * The slowest upload rate a delivery is given time for: a request's deadline is the request
 * timeout plus its attachment bytes at this rate (1 MiB/s), so large attachments are not cut off.
 */
const MIN_UPLOAD_BYTES_PER_MS = (1024 * 1024) / 1000;

export function createPeerClient(options: PeerClientOptions): PeerClient {
  const timeout = options.requestTimeoutMs ?? 30_000;
  const agents = new Map<string, Agent>();
  // One connection pool per recipient authority, each with its own server pin check.
  const agentFor = (authorityId: string): Agent => {
    let agent = agents.get(authorityId);
    if (!agent) {
      agent = new Agent({
        connect: {
          ca: options.ca,
          cert: options.certPem,
          key: options.keyPem,
          rejectUnauthorized: true,
          timeout: options.connectTimeoutMs ?? 10_000,
          checkServerIdentity: (host: string, cert: PeerCertificate) => {
            const hostError = checkServerIdentity(host, cert);
            if (hostError) return hostError;
            const sha256 = createHash("sha256").update(cert.raw).digest("hex");
            if (!options.serverPins(authorityId).includes(sha256)) {
              return new Error(
                `the server's certificate is not a tls certificate pinned for ${authorityId}`,
              );
            }
            return undefined;
          },
        },
        headersTimeout: timeout,
        bodyTimeout: timeout,
        keepAliveTimeout: 10_000,
      });
      agents.set(authorityId, agent);
    }
    return agent;
  };
  return {
    async postEnvelope(authorityId, endpoint, envelope, attachments = []) {
      const url = new URL("/peer/v1/envelopes", endpoint);
      const form = new FormData();
      form.append("envelope", envelope);
      let attachmentBytes = 0;
      for (const [i, a] of attachments.entries()) {
        let blob: Blob;
        try {
          blob =
            "path" in a
              ? await openAsBlob(a.path, { type: "application/octet-stream" })
              : new Blob([a.data], { type: "application/octet-stream" });
        } catch (cause) {
          throw new DeliveryError("STORE_FAILED", `attachment ${i} cannot be read`, { cause });
        }
        attachmentBytes += blob.size;
        form.append("attachment", blob, `attachment-${i}.bin`);
      }
      const deadline = timeout + Math.ceil(attachmentBytes / MIN_UPLOAD_BYTES_PER_MS);
      let res: Awaited<ReturnType<typeof fetch>>;
      try {
        res = await fetch(url, {
          method: "POST",
          body: form,
          dispatcher: agentFor(authorityId),
          signal: AbortSignal.timeout(deadline),
        });
      } catch (cause) {
        const reason = (cause as { cause?: { code?: string; message?: string } })?.cause;
        throw new DeliveryError(
          "PEER_UNREACHABLE",
          `cannot reach ${authorityId} at ${url.origin}: ${reason?.message ?? reason?.code ?? (cause as Error).message}`,
          { cause },
        );
      }
      const text = await readCapped(res, MAX_RESPONSE_BYTES);
      const contentType = res.headers.get("content-type") ?? "";
      let body: unknown = text;
      if (/json/.test(contentType)) {
        try {
          body = JSON.parse(text);
        } catch {
          body = text;
        }
      }
      return { status: res.status, contentType, body };
    },
    async close() {
      await Promise.all([...agents.values()].map((a) => a.close()));
      agents.clear();
    },
  };
}

async function readCapped(res: Awaited<ReturnType<typeof fetch>>, cap: number): Promise<string> {
  if (!res.body) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += chunk.byteLength;
    if (size > cap) {
      throw new DeliveryError("PEER_ERROR", `peer response exceeds ${cap} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}
