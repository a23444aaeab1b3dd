/**
 * What the peer API does with one envelope (DESIGN.md wire protocol, THREATS.md), independent of
 * HTTP: open it, bind it to the TLS client, deduplicate, answer a signed receipt — stored with the
 * message in one transaction before it is returned.
 *
 *   cannot decrypt / authenticate      → ENVELOPE_REJECTED (uniform; the log keeps the detail)
 *   TLS client ≠ signer                → PEER_CLIENT_MISMATCH (403), security event
 *   same from + id + signed payload    → the stored receipt, byte for byte; nothing delivered twice
 *   same from + id, other payload      → DUPLICATE_CONFLICT (409), security event, original kept
 *   authentic but refused              → signed `rejected` receipt with the reason code
 *   attachment parts ≠ signed manifest → signed `rejected` receipt MESSAGE_ATTACHMENT_INVALID
 *   otherwise                          → signed `accepted` receipt
 * Every receipt lists the SHA-256 of each attachment part received (the ciphertext) in
 * `attachmentsSha256`. Accepted parts are moved into blobs/ before the transaction that stores
 * them with the message and its receipt (attachments.ts).
 */
import type { X509Certificate } from "node:crypto";
import { computePriority } from "../domain/priority.ts";
import { requestBodySchema } from "../domain/request.ts";
import {
  type Opened,
  open,
  type RefusedMessage,
  refusedFromOpened,
  refusedMessageOf,
} from "../envelope/open.ts";
import { createReceipt } from "../envelope/receipt.ts";
import type { LocalKey, TrustView } from "../envelope/trust.ts";
import { type ErrorCode, HttpError, isMlaxError, MessageRefusedError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { checkMessage } from "../policy/check-message.ts";
import type { AttachmentBlob, BlobStore, Store } from "../store/index.ts";
import { type ReceivedPart, verifyAttachments } from "./attachments.ts";

export interface ReceiveContext {
  readonly self: {
    readonly authorityId: string;
    readonly sign: LocalKey;
    readonly enc: LocalKey;
    /** Certificates after ours in x5c (the network CA). */
    readonly chain: readonly X509Certificate[];
  };
  /** The current trust view (the directory may be replaced while running). */
  trust(): TrustView;
  /** The languages this authority accepts (its directory entry). */
  languages(): readonly string[];
  readonly store: Store;
  /** Where attachment parts arrive (incoming/) and accepted ones are kept (blobs/). */
  readonly blobs: BlobStore;
  now(): Date;
  readonly log: Logger;
}

export interface ReceiveInput {
  readonly envelope: unknown;
  /** The authority of the verified TLS client certificate. */
  readonly clientAuthority: string;
  /**
   * The `attachment` parts as received, in order, under incoming/ (default none). The caller
   * removes whatever is left of them afterwards; accepted ones are moved into blobs/.
   */
  readonly attachments?: readonly ReceivedPart[];
}

export interface ReceiveResult {
  readonly receipt: string;
  readonly status: "accepted" | "rejected";
  readonly duplicate: boolean;
  readonly messageId: string;
}

type Outcome =
  | { readonly kind: "accepted"; readonly opened: Opened }
  | { readonly kind: "rejected"; readonly refused: RefusedMessage; readonly reason: ErrorCode };

async function openEnvelope(ctx: ReceiveContext, envelope: unknown, now: Date): Promise<Outcome> {
  try {
    const opened = await open(envelope, {
      self: { authorityId: ctx.self.authorityId, enc: ctx.self.enc },
      trust: ctx.trust(),
      now,
    });
    return { kind: "accepted", opened };
  } catch (error) {
    const refused = refusedMessageOf(error);
    if (refused && error instanceof MessageRefusedError) {
      return { kind: "rejected", refused, reason: error.code };
    }
    const code = isMlaxError(error) ? error.code : "INTERNAL";
    ctx.log.warn({ code, err: error }, "envelope refused before authentication");
    // STYLE.md 3: whatever failed inside decrypt-then-verify, the peer sees one code.
    throw new HttpError("ENVELOPE_REJECTED", "the envelope cannot be opened or authenticated", {
      cause: error,
    });
  }
}

function refuse(ctx: ReceiveContext, opened: Opened, reason: ErrorCode, detail: string): Outcome {
  ctx.log.info({ msgId: opened.message.id, reason, detail }, "authentic message refused");
  return {
    kind: "rejected",
    reason,
    refused: refusedFromOpened(opened),
  };
}

/**
 * Authentic messages that break the domain rules get a signed `rejected` receipt with the reason:
 * a body that does not fit its type, a request in a language we do not accept (UNTOC 18(14)), a
 * follow-up the thread state machine forbids.
 */
/** The failures of the domain rules that are the message's fault: answered by a signed refusal. */
const DOMAIN_REFUSALS: ReadonlyMap<ErrorCode, ErrorCode> = new Map<ErrorCode, ErrorCode>([
  ["INPUT_INVALID", "MESSAGE_INVALID"],
  ["THREAD_INVALID", "THREAD_INVALID"],
  ["LANGUAGE_NOT_ACCEPTED", "LANGUAGE_NOT_ACCEPTED"],
]);

function applyDomainChecks(ctx: ReceiveContext, opened: Opened): Outcome {
  // Outside the try: a failure here is ours (directory, store), never the message's. It becomes a
  // 5xx, which the sender retries, not a signed refusal that dedupe would make permanent.
  const languages = ctx.languages();
  try {
    checkMessage(ctx.store, opened.message, languages);
    return { kind: "accepted", opened };
  } catch (error) {
    const reason = isMlaxError(error) ? DOMAIN_REFUSALS.get(error.code) : undefined;
    if (!reason) throw error;
    return refuse(ctx, opened, reason, (error as Error).message);
  }
}

/** The parts must be the manifest's ciphertexts, in order (attachments.ts, step 3). */
async function applyAttachmentChecks(
  ctx: ReceiveContext,
  opened: Opened,
  parts: readonly ReceivedPart[],
): Promise<Outcome> {
  try {
    await verifyAttachments(opened.message, parts);
    return { kind: "accepted", opened };
  } catch (error) {
    if (!isMlaxError(error) || error.code !== "MESSAGE_ATTACHMENT_INVALID") throw error;
    return refuse(ctx, opened, "MESSAGE_ATTACHMENT_INVALID", error.message);
  }
}

/** Moves accepted parts into blobs/ (fsync'd) and names them for the `attachments` rows. */
async function keepParts(
  ctx: ReceiveContext,
  parts: readonly ReceivedPart[],
): Promise<AttachmentBlob[]> {
  const kept: AttachmentBlob[] = [];
  try {
    for (const part of parts) {
      const blobName = await ctx.blobs.adopt(part.path);
      kept.push({ blobName, ciphertextSha256: part.sha256, size: part.size });
    }
    return kept;
  } catch (error) {
    await forgetBlobs(ctx, kept);
    throw error;
  }
}

/** Removes blobs that no row names (the message was not stored after all). */
async function forgetBlobs(ctx: ReceiveContext, blobs: readonly AttachmentBlob[]): Promise<void> {
  for (const blob of blobs) {
    await ctx.blobs.remove(blob.blobName).catch((err: unknown) => {
      ctx.log.error({ err, blob: blob.blobName }, "could not remove an orphan attachment blob");
    });
  }
}

function triage(opened: Opened, now: Date): { urgent: boolean; priority: number } {
  if (opened.message.type !== "request") return { urgent: false, priority: 0 };
  const body = requestBodySchema.safeParse(opened.message.body);
  if (!body.success) return { urgent: false, priority: 0 };
  const p = computePriority(body.data, now);
  return { urgent: p.urgent, priority: p.score };
}

export async function receiveEnvelope(
  ctx: ReceiveContext,
  input: ReceiveInput,
): Promise<ReceiveResult> {
  const now = ctx.now();
  let outcome = await openEnvelope(ctx, input.envelope, now);
  const head = outcome.kind === "accepted" ? outcome.opened : outcome.refused;
  const msgId = head.message.id;
  const signer = head.signer.authorityId;

  // The TLS client must be the authority that signed the message (X-Road SslAuthCertNotMatchesOrg).
  if (signer !== input.clientAuthority) {
    ctx.store.recordSecurityEvent({
      kind: "client_mismatch",
      peerAuthority: input.clientAuthority,
      messageId: msgId,
      detail: { signer },
    });
    ctx.log.warn({ msgId, client: input.clientAuthority, signer }, "TLS client is not the signer");
    throw new HttpError(
      "PEER_CLIENT_MISMATCH",
      `the TLS client ${input.clientAuthority} is not the signer ${signer}`,
    );
  }

  // Fast path for a resend: no new signature, no new row.
  const known = ctx.store.findInbound(head.message.from, msgId);
  if (known && known.payloadSha256 === head.messageSha256) {
    ctx.log.info({ msgId, from: signer }, "duplicate envelope: stored receipt answered");
    return {
      receipt: known.receiptJws,
      status: known.receiptStatus,
      duplicate: true,
      messageId: msgId,
    };
  }

  const parts = input.attachments ?? [];
  if (outcome.kind === "accepted") outcome = applyDomainChecks(ctx, outcome.opened);
  if (outcome.kind === "accepted")
    outcome = await applyAttachmentChecks(ctx, outcome.opened, parts);
  const status = outcome.kind === "accepted" ? "accepted" : "rejected";
  const reason = outcome.kind === "rejected" ? outcome.reason : undefined;
  const receipt = await createReceipt({
    message: head.message,
    messageSha256: head.messageSha256,
    envelopeSha256: head.envelopeSha256,
    // The ciphertext of each part as received (the plaintext digests are in the signed manifest).
    attachmentsSha256: parts.map((p) => p.sha256),
    status,
    ...(reason ? { reason } : {}),
    receivedAt: now,
    signer: ctx.self.sign,
    chain: ctx.self.chain,
  });

  const message = outcome.kind === "accepted" ? outcome.opened.message : outcome.refused.parsed;
  if (!message) {
    // A refused message that does not even parse is answered but not stored as a message.
    ctx.store.recordSecurityEvent({
      kind: "envelope_rejected",
      peerAuthority: signer,
      messageId: msgId,
      detail: { reason },
    });
    return { receipt, status, duplicate: false, messageId: msgId };
  }
  const { urgent, priority } =
    outcome.kind === "accepted" ? triage(outcome.opened, now) : { urgent: false, priority: 0 };
  // Blobs are durable before the transaction that names them: a crash leaves an orphan file at
  // worst, never a stored message without its attachments.
  const kept = status === "accepted" ? await keepParts(ctx, parts) : [];
  let stored: ReturnType<Store["recordInbound"]>;
  try {
    stored = ctx.store.recordInbound({
      message,
      jws: head.jws,
      payloadSha256: head.messageSha256,
      envelopeSha256: head.envelopeSha256,
      receiptJws: receipt,
      receiptStatus: status,
      ...(reason ? { reason } : {}),
      receivedAt: now,
      urgent,
      priority,
      attachments: kept,
    });
  } catch (error) {
    await forgetBlobs(ctx, kept);
    throw error;
  }
  if (stored.outcome !== "stored") await forgetBlobs(ctx, kept);
  switch (stored.outcome) {
    case "stored":
      ctx.log.info({ msgId, from: signer, type: message.type, status, reason }, "message received");
      return { receipt: stored.receiptJws, status, duplicate: false, messageId: msgId };
    case "duplicate":
      return {
        receipt: stored.receiptJws,
        status: stored.receiptStatus,
        duplicate: true,
        messageId: msgId,
      };
    case "conflict":
      ctx.log.warn(
        { msgId, from: signer },
        "same message id with another signed payload: refused, original kept",
      );
      throw new HttpError(
        "DUPLICATE_CONFLICT",
        `message ${msgId} from ${signer} was already received with another signed payload`,
      );
  }
}
