/**
 * The signed business message (DESIGN.md, wire protocol v1): the JWS payload inside every envelope.
 */
import { z } from "zod";
import { MESSAGE_TYPES } from "../domain/message-types.ts";
import { AUTHORITY_ID_PATTERN } from "../pki/roles.ts";

/** Canonical UUID, lowercase; mlax generates UUIDv7 ids. */
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const SHA256_HEX_PATTERN = /^[0-9a-f]{64}$/;
/** RFC 3339 UTC timestamp with milliseconds, as `Date.prototype.toISOString` writes it. */
const isoUtc = z.iso.datetime({ offset: false, precision: 3 });

export const authorityIdSchema = z.string().regex(AUTHORITY_ID_PATTERN, "authority id like ES-MJ");

export const attachmentManifestSchema = z.strictObject({
  /** Display name only: never used as a path. */
  name: z.string().min(1).max(255),
  mediaType: z
    .string()
    .min(3)
    .max(127)
    .regex(/^[\w.+-]+\/[\w.+-]+$/),
  size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  sha256: z.string().regex(SHA256_HEX_PATTERN),
});

export const messageSchema = z.strictObject({
  v: z.literal(1),
  id: z.string().regex(UUID_PATTERN),
  type: z.enum(MESSAGE_TYPES),
  from: authorityIdSchema,
  to: authorityIdSchema,
  createdAt: isoUtc,
  expiresAt: isoUtc,
  threadId: z.string().regex(UUID_PATTERN),
  inReplyTo: z.string().regex(UUID_PATTERN).optional(),
  body: z.record(z.string(), z.unknown()),
  attachments: z.array(attachmentManifestSchema).max(100),
  /** base64url key of the attachment stream cipher; only ever inside the encryption. */
  attachmentKey: z
    .string()
    .regex(/^[A-Za-z0-9_-]{43}$/)
    .optional(),
});

export type Message = z.infer<typeof messageSchema>;
export type AttachmentManifest = z.infer<typeof attachmentManifestSchema>;
