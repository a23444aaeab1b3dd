/**
 * Outbound mutual-TLS client for the peer API: undici with the node's tls certificate as client
 * certificate and the network CA as the only trust anchor for the server.
 */
import { Agent, FormData, fetch } from "undici";
import { DeliveryError } from "../errors.ts";

export interface PeerClientOptions {
  readonly ca: string;
  readonly certPem: string;
  readonly keyPem: string;
  readonly connectTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
}

export interface PeerResponse {
  readonly status: number;
  readonly contentType: string;
  readonly body: unknown;
}

export interface OutboundAttachment {
  readonly data: Uint8Array;
}

export interface PeerClient {
  postEnvelope(
    endpoint: string,
    envelope: string,
    attachments?: readonly OutboundAttachment[],
  ): Promise<PeerResponse>;
  close(): Promise<void>;
}

const MAX_RESPONSE_BYTES = 256 * 1024;

export function createPeerClient(options: PeerClientOptions): PeerClient {
  const timeout = options.requestTimeoutMs ?? 30_000;
  const agent = new Agent({
    connect: {
      ca: options.ca,
      cert: options.certPem,
      key: options.keyPem,
      rejectUnauthorized: true,
      timeout: options.connectTimeoutMs ?? 10_000,
    },
    headersTimeout: timeout,
    bodyTimeout: timeout,
    keepAliveTimeout: 10_000,
  });
  return {
    async postEnvelope(endpoint, envelope, attachments = []) {
      const url = new URL("/peer/v1/envelopes", endpoint);
      const form = new FormData();
      form.append("envelope", envelope);
      attachments.forEach((a, i) => {
        form.append("attachment", new Blob([a.data]), `attachment-${i}.bin`);
      });
      let res: Awaited<ReturnType<typeof fetch>>;
      try {
        res = await fetch(url, {
          method: "POST",
          body: form,
          dispatcher: agent,
          signal: AbortSignal.timeout(timeout),
        });
      } catch (cause) {
        const reason = (cause as { cause?: { code?: string; message?: string } })?.cause;
        throw new DeliveryError(
          "PEER_UNREACHABLE",
          `cannot reach ${url.origin}: ${reason?.code ?? reason?.message ?? (cause as Error).message}`,
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
    close: () => agent.close(),
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
