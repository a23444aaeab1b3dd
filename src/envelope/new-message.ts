/**
 * Builds a message for sealing (DESIGN.md, wire protocol v1): fills `v`, a UUIDv7 `id`, the times
 * and the thread, then checks the result against `messageSchema`.
 */
import type { MessageType } from "../domain/message-types.ts";
import { InputError } from "../errors.ts";
import { type AttachmentManifest, type Message, messageSchema } from "./message.ts";
import { uuidv7 } from "./uuid.ts";

/**
 * Default lifetime of a message: 30 days. Past `expiresAt` the sender stops retrying and the
 * receiver refuses the message (MESSAGE_EXPIRED), so a request is either delivered within a month
 * or reported as failed; urgent requests should pass a shorter `ttlMs`.
 */
export const DEFAULT_MESSAGE_TTL_MS = 30 * 86_400_000;

export interface NewMessageInput {
  readonly type: MessageType;
  readonly from: string;
  readonly to: string;
  readonly body: Record<string, unknown>;
  readonly now: Date;
  /** Lifetime from `now` to `expiresAt` (DEFAULT_MESSAGE_TTL_MS when absent). */
  readonly ttlMs?: number;
  /** The request's id for every message that follows a request; absent for a request. */
  readonly threadId?: string;
  readonly inReplyTo?: string;
  readonly attachments?: readonly AttachmentManifest[];
  /** base64url 32-byte key of the attachment stream cipher. */
  readonly attachmentKey?: string;
  /** Random source for the id (tests). */
  readonly random?: (size: number) => Uint8Array;
}

/** A new message, valid per `messageSchema`; throws InputError INPUT_INVALID otherwise. */
export function newMessage(input: NewMessageInput): Message {
  const ttlMs = input.ttlMs ?? DEFAULT_MESSAGE_TTL_MS;
  if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) {
    throw new InputError("INPUT_INVALID", "ttlMs must be a positive integer of milliseconds");
  }
  const created = input.now.getTime();
  const expires = new Date(created + ttlMs);
  if (!Number.isFinite(created) || !Number.isFinite(expires.getTime())) {
    throw new InputError("INPUT_INVALID", "now and now + ttlMs must be valid dates");
  }
  const id = uuidv7(input.now, input.random);
  // A request opens its thread, keyed by its own id; every other message names its thread.
  let threadId: string;
  if (input.type === "request") {
    if (input.threadId !== undefined) {
      throw new InputError("INPUT_INVALID", "a request opens its own thread: no threadId");
    }
    threadId = id;
  } else {
    if (input.threadId === undefined) {
      throw new InputError("INPUT_INVALID", `a ${input.type} needs the threadId of its request`);
    }
    threadId = input.threadId;
  }
  const candidate = {
    v: 1,
    id,
    type: input.type,
    from: input.from,
    to: input.to,
    createdAt: input.now.toISOString(),
    expiresAt: expires.toISOString(),
    threadId,
    ...(input.inReplyTo !== undefined ? { inReplyTo: input.inReplyTo } : {}),
    body: input.body,
    attachments: [...(input.attachments ?? [])],
    ...(input.attachmentKey !== undefined ? { attachmentKey: input.attachmentKey } : {}),
  };
  const parsed = messageSchema.safeParse(candidate);
  if (!parsed.success) {
    throw new InputError("INPUT_INVALID", "the message does not match the message schema", {
      details: { issues: parsed.error.issues },
    });
  }
  return parsed.data;
}
