/**
 * Queues an outbound message (operator API `POST /api/v1/messages`, `mlax send`): the body is
 * checked against its domain schema (and, for a request, UNTOC 18(14): a language the recipient
 * accepts), signed, sealed to the recipient's pinned enc certificate, and committed to the outbox
 * before any send (DESIGN.md "Delivery"). Attachments arrive already encrypted into blobs under the
 * message's key (src/operator/attachment-upload.ts; src/peer/attachments.ts, step 1): their
 * manifest and key go into the signed message, their blobs into the outbox rows.
 */
import { z } from "zod";
import { MESSAGE_TYPES } from "../domain/message-types.ts";
import { computePriority, type Priority } from "../domain/priority.ts";
import { parseRequestBody } from "../domain/request.ts";
import { type AttachmentManifest, authorityIdSchema, UUID_PATTERN } from "../envelope/message.ts";
import { newMessage } from "../envelope/new-message.ts";
import { seal } from "../envelope/seal.ts";
import { InputError } from "../errors.ts";
import { checkMessage } from "../policy/check-message.ts";
import type { AttachmentBlob } from "../store/index.ts";
import type { NodeContext } from "./context.ts";

export const sendMessageSchema = z.strictObject({
  type: z.enum(MESSAGE_TYPES).default("request"),
  to: authorityIdSchema,
  body: z.record(z.string(), z.unknown()),
  /** The thread (the request's id); required for every type but `request`. */
  threadId: z.string().regex(UUID_PATTERN).optional(),
  inReplyTo: z.string().regex(UUID_PATTERN).optional(),
  /** Time to live in hours (default 30 days; at most a year). */
  ttlHours: z.number().int().min(1).max(8_760).optional(),
});

export type SendMessageInput = z.input<typeof sendMessageSchema>;

/** Attachments of an outgoing message, already encrypted under `key` into their blobs. */
export interface OutgoingAttachments {
  /** The message's attachmentKey (base64url, `generateAttachmentKey`). */
  readonly key: string;
  /** In manifest order: entry i was encrypted with index i. */
  readonly items: readonly {
    readonly manifest: AttachmentManifest;
    readonly blob: AttachmentBlob;
  }[];
}

export interface QueuedMessage {
  readonly id: string;
  readonly type: string;
  readonly to: string;
  readonly threadId: string;
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly state: "queued";
  readonly urgent: boolean;
  readonly priority: number;
  readonly messageSha256: string;
  /** The signed manifest (empty without attachments). */
  readonly attachments: readonly AttachmentManifest[];
  readonly priorityFactors?: Priority["factors"];
}

export function parseSendMessage(input: unknown): z.output<typeof sendMessageSchema> {
  const parsed = sendMessageSchema.safeParse(input);
  if (!parsed.success) {
    throw new InputError("INPUT_INVALID", "invalid message", {
      details: {
        issues: parsed.error.issues
          .slice(0, 20)
          .map((i) => ({ path: i.path.join("."), message: i.message })),
      },
    });
  }
  return parsed.data;
}

/**
 * Checks, signs, seals and queues a message. The caller owns the attachment blobs until this
 * resolves: on a throw nothing names them and the caller removes them.
 */
export async function sendMessage(
  ctx: NodeContext,
  raw: unknown,
  attachments?: OutgoingAttachments,
): Promise<QueuedMessage> {
  const input = parseSendMessage(raw);
  const items = attachments?.items ?? [];
  const now = ctx.now();
  const network = ctx.network();
  const recipient = network.directory.authority(input.to);
  if (input.to === ctx.authorityId) {
    throw new InputError("INPUT_INVALID", "a node does not send messages to itself");
  }
  const message = newMessage({
    type: input.type,
    from: ctx.authorityId,
    to: input.to,
    body: input.body,
    now,
    ttlMs: input.ttlHours ? input.ttlHours * 3_600_000 : undefined,
    threadId: input.threadId,
    inReplyTo: input.inReplyTo,
    attachments: items.map((a) => a.manifest),
    ...(items.length > 0 ? { attachmentKey: attachments?.key } : {}),
  });
  // The same checks the recipient will apply, so a refusal is known before anything is sent.
  checkMessage(ctx.store, message, recipient.languages);
  const priority: Priority | undefined =
    message.type === "request" ? computePriority(parseRequestBody(message.body), now) : undefined;
  const sealed = await seal({
    message,
    signer: ctx.keys.sign,
    chain: [ctx.ca],
    recipient: network.trust.encryptionCertificate(input.to, now),
  });
  const urgent = priority?.urgent ?? false;
  const score = priority?.score ?? 0;
  ctx.store.enqueueOutbound({
    message,
    jws: sealed.jws,
    payloadSha256: sealed.messageSha256,
    envelope: sealed.envelope,
    urgent,
    priority: score,
    queuedAt: now,
    attachments: items.map((a) => a.blob),
  });
  // Committed: from here on nothing may throw, or the caller would remove blobs the outbox names.
  try {
    ctx.log.info(
      { msgId: message.id, to: message.to, type: message.type, urgent, priority: score },
      "message queued",
    );
    ctx.kickOutbox();
  } catch {
    // The worker also polls; a failed wake-up only delays the first attempt.
  }
  return {
    id: message.id,
    type: message.type,
    to: message.to,
    threadId: message.threadId,
    createdAt: message.createdAt,
    expiresAt: message.expiresAt,
    state: "queued",
    urgent,
    priority: score,
    messageSha256: sealed.messageSha256,
    attachments: message.attachments,
    ...(priority ? { priorityFactors: priority.factors } : {}),
  };
}
