/**
 * Body schemas of every message type (DESIGN.md, domain): the `request` body (request.ts) and the
 * messages that follow it in a thread. Bodies are strict objects: an unknown field is refused.
 */
import { z } from "zod";
import { InputError } from "../errors.ts";
import {
  contactSchema,
  isoDate,
  isoDateTime,
  longText,
  mediumText,
  parseOrThrow,
  shortText,
} from "./fields.ts";
import type { MessageType } from "./message-types.ts";
import { requestBodySchema } from "./request.ts";

/** The requested authority registered the request (with its own case number). */
export const acknowledgementBodySchema = z.strictObject({
  caseNumber: shortText(),
  registeredAt: isoDateTime(),
  /** The competent authority the request was forwarded to for execution, if any. */
  executingAuthority: shortText().optional(),
  contact: contactSchema.optional(),
  note: mediumText().optional(),
});

/** The requested authority needs more information (cf. 18(16)) before or while executing. */
export const clarificationRequestBodySchema = z.strictObject({
  questions: z.array(mediumText()).min(1).max(50),
  respondBy: isoDate().optional(),
});

/** The requesting authority answers the questions of the clarification-request it replies to. */
export const clarificationBodySchema = z
  .strictObject({
    answers: z
      .array(
        z.strictObject({
          /** Index (from 0) of the question in the clarification-request answered. */
          question: z.number().int().min(0).max(49),
          answer: longText(),
        }),
      )
      .min(1)
      .max(50),
    /** Further information the requesting authority adds to its request. */
    supplement: longText().optional(),
  })
  .refine((b) => new Set(b.answers.map((a) => a.question)).size === b.answers.length, {
    message: "each question is answered once",
    path: ["answers"],
  });

/** The requesting authority asks how its request is progressing (18(24)). */
export const statusInquiryBodySchema = z.strictObject({
  question: mediumText().optional(),
});

/** 18(24): the requested State responds on the status and progress of the request. */
export const statusUpdateBodySchema = z.strictObject({
  status: mediumText(),
  executingAuthority: shortText().optional(),
  expectedCompletion: isoDate().optional(),
});

/**
 * 18(26): before refusing under 18(21) or postponing under 18(25), the requested State consults
 * the requesting State on whether assistance may be granted subject to terms and conditions.
 * The requesting authority answers with a consultation too.
 */
export const consultationBodySchema = z.strictObject({
  text: longText(),
  considering: z.enum(["refusal", "postponement", "conditions"]).optional(),
  proposedConditions: mediumText().optional(),
  respondBy: isoDate().optional(),
});

/** 18(25): execution postponed because it interferes with ongoing proceedings; 18(23): reasons. */
export const postponementBodySchema = z.strictObject({
  reasons: longText(),
  interferesWith: z.enum(["investigation", "prosecution", "judicial-proceeding"]).optional(),
  until: isoDate().optional(),
});

/**
 * Grounds for refusal. 18(21)(a)–(d) and 18(9) (no dual criminality) for assistance; 16(14)
 * (discriminatory purpose) for extradition; a ground in the applicable treaty; other. Bank secrecy
 * (18(8)) and fiscal matters alone (18(22), 16(15)) are not grounds and have no entry.
 */
export const REFUSAL_GROUNDS = [
  "request-not-in-conformity", // 18(21)(a)
  "essential-interests", // 18(21)(b) sovereignty, security, ordre public, other essential interests
  "domestic-law-prohibits", // 18(21)(c)
  "contrary-to-legal-system", // 18(21)(d)
  "no-dual-criminality", // 18(9)
  "discrimination", // 16(14)
  "treaty-ground", // the applicable bilateral or multilateral treaty
  "other",
] as const;

/** 18(23): reasons shall be given for any refusal. */
export const refusalBodySchema = z.strictObject({
  reasons: longText(),
  legalGrounds: z
    .array(
      z.strictObject({
        ground: z.enum(REFUSAL_GROUNDS),
        provision: shortText().optional(),
      }),
    )
    .min(1)
    .max(10),
});

export const EXECUTION_COMPLETENESS = ["partial", "final"] as const;

/** The result of the execution, partial or final, with the evidence transmitted as attachments. */
export const executionBodySchema = z.strictObject({
  completeness: z.enum(EXECUTION_COMPLETENESS),
  summary: longText(),
  evidence: z
    .array(
      z.strictObject({
        /** Index (from 0) of the attachment in the message manifest, if the item is a file. */
        attachment: z.number().int().min(0).max(99).optional(),
        description: mediumText(),
        obtainedOn: isoDate().optional(),
        /** Chain of custody: who obtained it, how, where it was kept. */
        custody: mediumText().optional(),
      }),
    )
    .max(100)
    .optional(),
});

/** The requesting authority withdraws its request. */
export const withdrawalBodySchema = z.strictObject({
  reason: mediumText(),
});

export const BODY_SCHEMAS = {
  request: requestBodySchema,
  acknowledgement: acknowledgementBodySchema,
  "clarification-request": clarificationRequestBodySchema,
  clarification: clarificationBodySchema,
  "status-inquiry": statusInquiryBodySchema,
  "status-update": statusUpdateBodySchema,
  consultation: consultationBodySchema,
  postponement: postponementBodySchema,
  refusal: refusalBodySchema,
  execution: executionBodySchema,
  withdrawal: withdrawalBodySchema,
} as const satisfies Record<MessageType, z.ZodType>;

export type BodySchemas = typeof BODY_SCHEMAS;
export type MessageBody<T extends MessageType> = z.infer<BodySchemas[T]>;

export function bodySchemaFor<T extends MessageType>(type: T): BodySchemas[T] {
  if (typeof type !== "string" || !Object.hasOwn(BODY_SCHEMAS, type)) {
    throw new InputError("INPUT_INVALID", `unknown message type ${JSON.stringify(type)}`);
  }
  return BODY_SCHEMAS[type];
}

/** Validates the body of a message of `type`; throws InputError INPUT_INVALID with the issues. */
export function validateBody<T extends MessageType>(type: T, body: unknown): MessageBody<T> {
  return parseOrThrow(bodySchemaFor(type), body, `${type} body`, { type }) as MessageBody<T>;
}
