/**
 * zod schemas for what the operator API reads from a URL (STYLE.md 6: a schema at every boundary):
 * path ids and query strings. Bodies are checked by the operation they feed (`sendMessageSchema`).
 */
import { z } from "zod";
import { authorityIdSchema, UUID_PATTERN } from "../envelope/message.ts";
import { InputError } from "../errors.ts";
import { MAX_PAGE } from "../store/index.ts";

export const OUTBOX_STATES = ["queued", "sending", "delivered", "rejected", "failed"] as const;
export const INBOX_STATES = ["accepted", "rejected"] as const;
export const MAX_SECURITY_EVENTS_PAGE = 1000;

/** A decimal integer in a query string, within [min, max]. */
function queryInt(min: number, max: number) {
  return z
    .string()
    .regex(/^[0-9]{1,15}$/, "a decimal integer")
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));
}

export const messageIdSchema = z.string().regex(UUID_PATTERN, "a lowercase UUID");

/** `GET /api/v1/messages/:id/attachments/:index`: a manifest index (0..99, decimal). */
export const attachmentIndexSchema = z
  .string()
  .regex(/^(0|[1-9][0-9]?)$/, "a manifest index from 0 to 99")
  .transform(Number);

const cursor = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9_-]+$/, "an opaque cursor");
const limit = queryInt(1, MAX_PAGE);

/** `GET /api/v1/messages`: the box is required; the state must be one of that box's states. */
export const listQuerySchema = z.discriminatedUnion("box", [
  z.strictObject({
    box: z.literal("inbox"),
    state: z.enum(INBOX_STATES).optional(),
    limit: limit.optional(),
    cursor: cursor.optional(),
  }),
  z.strictObject({
    box: z.literal("outbox"),
    state: z.enum(OUTBOX_STATES).optional(),
    limit: limit.optional(),
    cursor: cursor.optional(),
  }),
]);

/** `GET /api/v1/messages/:id[/evidence]`: optional narrowing (inbound ids are unique per sender). */
export const messageQuerySchema = z.strictObject({
  box: z.enum(["inbox", "outbox"]).optional(),
  from: authorityIdSchema.optional(),
});

export const securityEventsQuerySchema = z.strictObject({
  limit: queryInt(1, MAX_SECURITY_EVENTS_PAGE).optional(),
  beforeId: queryInt(1, Number.MAX_SAFE_INTEGER).optional(),
});

/** Parses URL input; the first issues become INPUT_INVALID with their paths in `details`. */
export function parseUrlInput<S extends z.ZodType>(
  schema: S,
  value: unknown,
  what: string,
): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues
    .slice(0, 10)
    .map((i) => ({ path: i.path.join("."), message: i.message }));
  const summary = issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join("; ");
  throw new InputError("INPUT_INVALID", `invalid ${what}: ${summary}`, { details: { issues } });
}
