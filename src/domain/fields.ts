/**
 * Building blocks shared by the body schemas (DESIGN.md, domain; STYLE.md 6: a schema at every
 * boundary, with explicit size limits). Every string and every array has a cap; free text must
 * hold something other than white space and no control characters but tab and line breaks.
 */
import { z } from "zod";
import { InputError } from "../errors.ts";

/** Size caps, in characters (strings) and items (arrays). */
export const TEXT_LIMITS = {
  /** Names, references, offices, provisions. */
  short: 200,
  /** Purposes, reasons for a status, questions, procedures. */
  medium: 4_000,
  /** Summary of facts, description of the assistance, reasons for a refusal. */
  long: 20_000,
} as const;

function hasForbiddenControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f) return true;
  }
  return false;
}

/** Free text of at most `max` characters, not blank, without control characters. */
export function text(max: number) {
  return z
    .string()
    .min(1)
    .max(max)
    .refine((s) => s.trim().length > 0, "must not be blank")
    .refine((s) => !hasForbiddenControl(s), "must not contain control characters");
}

export const shortText = () => text(TEXT_LIMITS.short);
export const mediumText = () => text(TEXT_LIMITS.medium);
export const longText = () => text(TEXT_LIMITS.long);

/** A calendar date, `YYYY-MM-DD` (ISO 8601). */
export const isoDate = () => z.iso.date();
/** An RFC 3339 UTC timestamp (`Z`, any fraction of a second). */
export const isoDateTime = () => z.iso.datetime({ offset: false });
/** A deadline: a calendar date (meaning the end of that day, UTC) or a UTC timestamp. */
export const deadline = () => z.union([isoDate(), isoDateTime()]);

/** ISO 3166-1 alpha-2 country code, upper case. */
export const countryCode = () => z.string().regex(/^[A-Z]{2}$/, "ISO 3166-1 alpha-2 code like ES");

/** A BCP 47 language tag, simplified: primary language (ISO 639) then optional subtags (`es`, `pt-BR`). */
export const LANGUAGE_TAG_PATTERN = /^[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$/;
export const languageTag = () =>
  z.string().max(35).regex(LANGUAGE_TAG_PATTERN, "BCP 47 language tag like es or pt-BR");

/** How to reach the officer in charge. */
export const contactSchema = z.strictObject({
  name: shortText().optional(),
  office: shortText().optional(),
  email: z.email().max(254).optional(),
  phone: z
    .string()
    .max(40)
    .regex(/^\+?[0-9 ().-]{3,39}$/, "phone number like +34 91 000 00 00")
    .optional(),
});

export type Contact = z.infer<typeof contactSchema>;

/** Zod issues reduced to what is safe to show (no echo of the input). */
export interface IssueSummary {
  readonly path: (string | number)[];
  readonly code: string;
  readonly message: string;
}

export function summarizeIssues(error: z.ZodError): IssueSummary[] {
  return error.issues.slice(0, 50).map((issue) => ({
    path: issue.path.map((p) => (typeof p === "symbol" ? String(p) : p)),
    code: issue.code,
    message: issue.message,
  }));
}

/** Parses `input` with `schema` or throws InputError INPUT_INVALID carrying the issues. */
export function parseOrThrow<S extends z.ZodType>(
  schema: S,
  input: unknown,
  what: string,
  extra: Record<string, unknown> = {},
): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = summarizeIssues(result.error);
  const first = issues[0];
  const where = first && first.path.length > 0 ? ` at ${first.path.join(".")}` : "";
  throw new InputError(
    "INPUT_INVALID",
    `${what} is invalid${where}: ${first?.message ?? "does not match its schema"}`,
    { details: { ...extra, issues } },
  );
}
