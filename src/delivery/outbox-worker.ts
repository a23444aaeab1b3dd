/**
 * The outbox worker (DESIGN.md "Delivery"): claims due messages (urgent first), sends each sealed
 * envelope, with its attachment blobs as `attachment` parts in manifest order, to the recipient's
 * endpoint from the directory over mutual TLS, verifies the signed receipt (pinned signer = the
 * recipient, messageSha256, from/to; an accepted one must list the SHA-256 of exactly the blobs
 * sent in `attachmentsSha256`) and stores it raw. Transient
 * failures are retried with capped exponential backoff and jitter until expiresAt; then the message
 * is marked failed and said so loudly. A peer's definitive refusal fails it at once.
 */
import { stat } from "node:fs/promises";
import { verifyReceipt } from "../envelope/receipt.ts";
import type { TrustView } from "../envelope/trust.ts";
import {
  DeliveryError,
  EvidenceError,
  isMlaxError,
  type MlaxError,
  toMlaxError,
} from "../errors.ts";
import type { Logger } from "../log.ts";
import type { BlobStore, ClaimedMessage, Store } from "../store/index.ts";
import { type BackoffPolicy, DEFAULT_BACKOFF, retryDelayMs } from "./backoff.ts";
import type { PeerClient, PeerResponse } from "./peer-client.ts";

/** How long before expiresAt the last attempt is made. */
const LAST_CHANCE_MARGIN_MS = 5_000;

export interface OutboxWorkerOptions {
  readonly self: string;
  readonly store: Store;
  readonly client: PeerClient;
  /** Where the attachment blobs of queued messages are. */
  readonly blobs: BlobStore;
  /** The current trust view and endpoint lookup (the directory may change while running). */
  trust(): TrustView;
  endpointOf(authorityId: string): string;
  now(): Date;
  readonly log: Logger;
  readonly pollMs?: number;
  readonly concurrency?: number;
  readonly backoff?: BackoffPolicy;
  readonly random?: () => number;
}

export interface OutboxWorker {
  start(): void;
  /** Wakes the worker now (a message was queued). */
  kick(): void;
  /** Runs one pass: claims what is due and delivers it. Resolves when the pass is done. */
  runOnce(): Promise<number>;
  /** Stops claiming, waits for deliveries in flight. */
  stop(): Promise<void>;
}

/**
 * Answers after which sending the same bytes again cannot succeed: the receiver holds another
 * message under this id (409), or the envelope is over its limits. Everything else — including
 * ENVELOPE_REJECTED and PEER_CLIENT_CERT_REQUIRED, which a receiver with an older directory
 * answers until it loads the new one — is retried until expiresAt.
 */
function isDefinitive(status: number, code: string): boolean {
  return status === 409 || status === 413 || code === "MULTIPART_INVALID";
}

function problemOf(response: PeerResponse): { code: string; message: string } {
  const body = response.body as { code?: unknown; detail?: unknown; title?: unknown } | undefined;
  const code = typeof body?.code === "string" ? body.code.slice(0, 64) : `HTTP_${response.status}`;
  const detail =
    typeof body?.detail === "string"
      ? body.detail
      : typeof body?.title === "string"
        ? body.title
        : "";
  return {
    code,
    message: `peer answered ${response.status} ${code}${detail ? `: ${detail.slice(0, 300)}` : ""}`,
  };
}

export function createOutboxWorker(options: OutboxWorkerOptions): OutboxWorker {
  const { store, log } = options;
  const pollMs = options.pollMs ?? 1_000;
  const concurrency = options.concurrency ?? 4;
  const backoff = options.backoff ?? DEFAULT_BACKOFF;

  /** The blob files to send, or why they cannot be sent (missing, or not the size recorded). */
  async function blobParts(m: ClaimedMessage): Promise<{ path: string }[] | string> {
    const parts: { path: string }[] = [];
    for (const a of m.attachments) {
      let path: string;
      try {
        path = options.blobs.path(a.blobName);
      } catch {
        return `attachment ${a.index}: the blob name is malformed`;
      }
      const size = await stat(path).then(
        (info) => info.size,
        (error: NodeJS.ErrnoException) => {
          if (error.code === "ENOENT") return -1;
          throw error;
        },
      );
      if (size !== a.size) {
        return `attachment ${a.index}: blob ${a.blobName} is ${size < 0 ? "missing" : `${size} bytes, not ${a.size}`}`;
      }
      parts.push({ path });
    }
    return parts;
  }

  async function deliver(m: ClaimedMessage): Promise<void> {
    const line = { msgId: m.id, to: m.to, attempt: m.attempts };
    if (options.now().getTime() >= Date.parse(m.expiresAt)) {
      store.markFailed(
        m.id,
        { code: "DELIVERY_EXPIRED", message: `expired at ${m.expiresAt}` },
        options.now(),
      );
      log.error(line, `delivery FAILED: expired at ${m.expiresAt} before it could be sent`);
      return;
    }
    try {
      const endpoint = options.endpointOf(m.to);
      const parts = await blobParts(m);
      if (typeof parts === "string") {
        // A blob that is gone or changed size cannot be sent, now or later.
        store.markFailed(m.id, { code: "STORE_FAILED", message: parts }, options.now());
        log.error(line, `delivery FAILED: ${parts}`);
        return;
      }
      const response = await options.client.postEnvelope(m.to, endpoint, m.envelope, parts);
      if (response.status !== 200) {
        const problem = problemOf(response);
        if (isDefinitive(response.status, problem.code)) {
          store.markFailed(m.id, problem, options.now());
          log.error({ ...line, code: problem.code }, `delivery FAILED: ${problem.message}`);
          return;
        }
        throw new DeliveryError("PEER_ERROR", problem.message, {
          details: { peerCode: problem.code },
        });
      }
      const token = (response.body as { receipt?: unknown } | undefined)?.receipt;
      const now = options.now();
      const { receipt } = await verifyReceipt(token, {
        trust: options.trust(),
        at: [now],
        expect: { messageId: m.id, messageSha256: m.payloadSha256, from: m.to, to: m.from },
      });
      const sent = m.attachments.map((a) => a.ciphertextSha256);
      if (
        receipt.status === "accepted" &&
        (receipt.attachmentsSha256.length !== sent.length ||
          receipt.attachmentsSha256.some((h, i) => h !== sent[i]))
      ) {
        throw new EvidenceError(
          "RECEIPT_MISMATCH",
          "receipt attachmentsSha256 does not list the attachment ciphertexts sent",
          { details: { field: "attachmentsSha256" } },
        );
      }
      if (receipt.status === "accepted") {
        store.markDelivered(m.id, { receiptJws: token as string, at: now });
        log.info({ ...line, receiptId: receipt.id }, "delivered, receipt verified");
      } else {
        store.markRejected(m.id, {
          receiptJws: token as string,
          reason: receipt.reason ?? "UNKNOWN",
          at: now,
        });
        log.warn(
          { ...line, reason: receipt.reason },
          "the recipient answered a signed REJECTED receipt",
        );
      }
    } catch (error) {
      const e = toMlaxError(error, "PEER_ERROR");
      if (/^(RECEIPT_|SIGNER_|CERT_|ENVELOPE_)/.test(e.code)) {
        // A receipt that does not verify is not a delivery: keep retrying, and record it.
        store.recordSecurityEvent({
          kind: "receipt_invalid",
          peerAuthority: m.to,
          messageId: m.id,
          detail: { code: e.code, message: e.message.slice(0, 300) },
        });
      }
      retryOrFail(m, e);
    }
  }

  function retryOrFail(m: ClaimedMessage, error: MlaxError): void {
    const now = options.now();
    const next = new Date(now.getTime() + retryDelayMs(m.attempts, backoff, options.random));
    const failure = {
      code: isMlaxError(error) ? error.code : "PEER_ERROR",
      message: error.message,
    };
    const expiresAt = Date.parse(m.expiresAt);
    // One last attempt just before expiresAt: the receiver may have stored the message on an
    // attempt whose answer we lost, and it answers the stored receipt until then.
    const lastChance = expiresAt - LAST_CHANCE_MARGIN_MS;
    if (next.getTime() >= expiresAt && lastChance > now.getTime() + LAST_CHANCE_MARGIN_MS) {
      store.scheduleRetry(m.id, failure, new Date(lastChance));
      log.warn(
        {
          msgId: m.id,
          to: m.to,
          attempt: m.attempts,
          code: failure.code,
          retryAt: new Date(lastChance).toISOString(),
        },
        `delivery attempt failed: ${failure.message}; one last attempt before expiresAt`,
      );
      return;
    }
    if (next.getTime() >= expiresAt) {
      store.markFailed(
        m.id,
        { code: "DELIVERY_EXPIRED", message: `${failure.code}: ${failure.message}` },
        now,
      );
      log.error(
        { msgId: m.id, to: m.to, attempts: m.attempts, code: failure.code },
        `delivery FAILED: not delivered before expiresAt ${m.expiresAt}`,
      );
      return;
    }
    store.scheduleRetry(m.id, failure, next);
    log.warn(
      {
        msgId: m.id,
        to: m.to,
        attempt: m.attempts,
        code: failure.code,
        retryAt: next.toISOString(),
      },
      `delivery attempt failed: ${failure.message}`,
    );
  }

  const inFlight = new Map<string, Promise<void>>();
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let stopping = false;
  /** A store write of ours failed mid-delivery: some row may be left in `sending`. */
  let stranded = false;

  /** With nothing in flight, a `sending` row was stranded by a failed store write: requeue it. */
  function requeueStranded(): void {
    if (!stranded || inFlight.size > 0) return;
    try {
      const n = store.recoverInFlight();
      stranded = false;
      if (n > 0)
        log.warn({ requeued: n }, "requeued messages left in sending by a failed store write");
    } catch (error) {
      log.error({ err: error }, "cannot requeue stranded messages yet; will try again");
    }
  }

  /** Runs one delivery in a slot; whatever happens, the slot is freed and refilled. */
  function launch(m: ClaimedMessage): void {
    const delivery = deliver(m)
      .catch((error) => {
        stranded = true;
        log.error(
          { msgId: m.id, err: error },
          "outbox bookkeeping failed; the message will be requeued",
        );
      })
      .finally(() => {
        inFlight.delete(m.id);
        requeueStranded();
        if (running && !stopping) fill();
      });
    inFlight.set(m.id, delivery);
  }

  /**
   * Claims as many due messages as there are free slots (urgent first) and starts them. Slots are
   * refilled one by one as deliveries end, so one slow peer does not hold up the others.
   */
  function fill(): number {
    if (stopping) return 0;
    const free = concurrency - inFlight.size;
    if (free <= 0) return 0;
    let batch: ClaimedMessage[];
    try {
      batch = store.claimDue(options.now(), free);
    } catch (error) {
      log.error({ err: error }, "cannot claim due messages; will try again");
      return 0;
    }
    for (const m of batch) launch(m);
    return batch.length;
  }

  return {
    start() {
      if (running) return;
      running = true;
      stopping = false;
      timer = setInterval(() => {
        requeueStranded();
        fill();
      }, pollMs);
      timer.unref?.();
      setImmediate(fill);
    },
    kick() {
      if (running && !stopping) setImmediate(fill);
    },
    async runOnce() {
      let total = 0;
      for (;;) {
        total += fill();
        if (inFlight.size === 0) break;
        await Promise.race(inFlight.values());
      }
      return total;
    },
    async stop() {
      stopping = true;
      running = false;
      clearInterval(timer);
      await Promise.allSettled([...inFlight.values()]);
    },
  };
}
