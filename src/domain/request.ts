/**
 * The body of a `request` message: what UNTOC art. 18(15) asks a request to contain, plus legal
 * basis, offences, language (18(14)), confidentiality (18(20)), urgency and the prioritisation
 * criteria of the UNTOC Working Group on International Cooperation (DESIGN.md, domain;
 * docs/DOMAIN.md lists every field).
 */
import { z } from "zod";
import { InputError } from "../errors.ts";
import {
  contactSchema,
  countryCode,
  deadline,
  isoDate,
  LANGUAGE_TAG_PATTERN,
  languageTag,
  longText,
  mediumText,
  parseOrThrow,
  shortText,
} from "./fields.ts";

export const REQUEST_KINDS = [
  "mla",
  "extradition",
  "confiscation",
  "transfer-of-sentenced-persons",
  "joint-investigation",
] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];

/**
 * Measures of assistance. The first nine are UNTOC 18(3)(a)–(i); the others name what the other
 * kinds of request seek (art. 16 extradition and 16(9) provisional arrest, art. 13 confiscation,
 * art. 17 transfer, art. 19 joint investigations).
 */
export const ASSISTANCE_MEASURES = [
  "taking-evidence", // 18(3)(a) evidence or statements from persons
  "service-of-documents", // 18(3)(b) service of judicial documents
  "search-and-seizure", // 18(3)(c) searches, seizures and freezing
  "examination-of-objects", // 18(3)(d) examining objects and sites
  "provision-of-information", // 18(3)(e) information, evidentiary items, expert evaluations
  "provision-of-records", // 18(3)(f) documents and records, incl. bank and business records
  "tracing-proceeds", // 18(3)(g) identifying or tracing proceeds, property, instrumentalities
  "facilitating-appearance", // 18(3)(h) voluntary appearance of persons
  "other-assistance", // 18(3)(i) any other assistance not contrary to domestic law
  "provisional-arrest", // 16(9)
  "surrender", // 16
  "confiscation-order", // 13(1)
  "transfer-of-person", // 17
  "joint-investigative-body", // 19
] as const;

export const PERSON_ROLES = [
  "suspect",
  "accused",
  "sentenced-person",
  "witness",
  "victim",
  "expert",
  "account-holder",
  "other",
] as const;

export const PROCEEDINGS_NATURES = ["investigation", "prosecution", "judicial-proceeding"] as const;
export const PROCEDURAL_STAGES = [
  "investigation",
  "prosecution",
  "trial",
  "appeal",
  "enforcement",
] as const;
export type ProceduralStage = (typeof PROCEDURAL_STAGES)[number];

export const URGENCY_LEVELS = ["normal", "urgent", "very-urgent"] as const;
export type UrgencyLevel = (typeof URGENCY_LEVELS)[number];

export const SERIOUSNESS_CATEGORIES = ["minor", "serious", "very-serious"] as const;
export type SeriousnessCategory = (typeof SERIOUSNESS_CATEGORIES)[number];

/** A penalty in years (fractions allowed: 0.5 is six months). */
const penaltyYears = () => z.number().min(0).max(100);

const personSchema = z
  .strictObject({
    role: z.enum(PERSON_ROLES),
    name: shortText().optional(),
    aliases: z.array(shortText()).max(10).optional(),
    /** Who the person is when the name is unknown ("the holder of account …"). */
    description: mediumText().optional(),
    dateOfBirth: isoDate().optional(),
    placeOfBirth: shortText().optional(),
    nationalities: z.array(countryCode()).max(5).optional(),
    location: mediumText().optional(),
    identityDocuments: z
      .array(
        z.strictObject({
          type: shortText(),
          number: shortText(),
          issuingCountry: countryCode().optional(),
        }),
      )
      .max(10)
      .optional(),
  })
  .refine((p) => p.name !== undefined || p.description !== undefined, {
    message: "a person needs a name or a description",
    path: ["name"],
  });

const offenceSchema = z.strictObject({
  name: shortText(),
  /** The provision of the requesting State's law that defines it. */
  legalProvision: shortText().optional(),
  maxPenaltyYears: penaltyYears().optional(),
  lifeImprisonment: z.boolean().optional(),
});

export const requestBodySchema = z
  .strictObject({
    kind: z.enum(REQUEST_KINDS),
    /** Reference of the requesting authority's own file. */
    caseReference: shortText(),
    /** 18(15)(a): the identity of the authority making the request. */
    requestingAuthority: z.strictObject({
      name: shortText(),
      office: shortText().optional(),
      contact: contactSchema.optional(),
    }),
    /**
     * 18(15)(b): the subject matter and nature of the investigation, prosecution or judicial
     * proceeding, and the name and functions of the authority conducting it.
     */
    proceedings: z.strictObject({
      subject: mediumText(),
      nature: z.enum(PROCEEDINGS_NATURES),
      conductingAuthority: z.strictObject({
        name: shortText(),
        functions: shortText(),
      }),
    }),
    /** 18(15)(c): a summary of the relevant facts, except for service of judicial documents. */
    facts: longText().optional(),
    /**
     * 18(15)(d): a description of the assistance sought and details of any particular procedure
     * the requesting State wishes to be followed (18(17): followed where not contrary to the
     * requested State's law).
     */
    assistance: z.strictObject({
      measures: z.array(z.enum(ASSISTANCE_MEASURES)).min(1).max(ASSISTANCE_MEASURES.length),
      description: longText(),
      procedure: mediumText().optional(),
    }),
    /** 18(15)(e): where possible, the identity, location and nationality of any person concerned. */
    persons: z.array(personSchema).max(50).optional(),
    /** 18(15)(f): the purpose for which the evidence, information or action is sought. */
    purpose: mediumText(),
    /** The treaties or conventions relied on (e.g. "UNTOC art. 18"), or reciprocity. */
    legalBasis: z.array(shortText()).min(1).max(10),
    offences: z.array(offenceSchema).min(1).max(50),
    /** 18(14): the language of the request; must be one the requested State accepts. */
    language: languageTag(),
    /**
     * 18(20): whether the requested State must keep the fact and substance of the request
     * confidential, except to the extent necessary to execute it; and what exactly.
     */
    confidentiality: z.strictObject({
      required: z.boolean(),
      requirement: mediumText().optional(),
    }),
    /** Urgency as declared by the requesting authority, why, and by when. */
    urgency: z.strictObject({
      level: z.enum(URGENCY_LEVELS),
      reason: mediumText().optional(),
      deadline: deadline().optional(),
    }),
    /**
     * The prioritisation criteria of the UNTOC Working Group on International Cooperation
     * (2021): pre-trial detention, risk of losing key evidence, seriousness, procedural stage.
     */
    prioritisation: z.strictObject({
      pretrialDetention: z.strictObject({
        detained: z.boolean(),
        /** When the detention must end (legal time limit), if known. */
        detentionEndsOn: isoDate().optional(),
      }),
      evidenceAtRisk: z.strictObject({
        atRisk: z.boolean(),
        description: mediumText().optional(),
      }),
      seriousness: z
        .strictObject({
          maxPenaltyYears: penaltyYears().optional(),
          lifeImprisonment: z.boolean().optional(),
          category: z.enum(SERIOUSNESS_CATEGORIES).optional(),
        })
        .optional(),
      proceduralStage: z.enum(PROCEDURAL_STAGES),
    }),
  })
  .superRefine((body, ctx) => {
    // 18(15)(c): facts may be left out only when the assistance sought is service of documents.
    const measures = body.assistance?.measures ?? [];
    const serviceOnly = measures.length > 0 && measures.every((m) => m === "service-of-documents");
    if (body.facts === undefined && !serviceOnly) {
      ctx.addIssue({
        code: "custom",
        path: ["facts"],
        message: "a summary of the facts is required unless only service of documents is sought",
      });
    }
    if (new Set(measures).size !== measures.length) {
      ctx.addIssue({ code: "custom", path: ["assistance", "measures"], message: "duplicate" });
    }
    const conf = body.confidentiality;
    if (conf?.required === true && conf.requirement === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["confidentiality", "requirement"],
        message: "state what must be kept confidential (18(20))",
      });
    }
    if (conf?.required === false && conf.requirement !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["confidentiality", "requirement"],
        message: "a requirement is given but confidentiality is not required",
      });
    }
    const urgency = body.urgency;
    if (urgency && urgency.level !== "normal" && urgency.reason === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["urgency", "reason"],
        message: "an urgent request must say why",
      });
    }
    const detention = body.prioritisation?.pretrialDetention;
    if (detention?.detained === false && detention.detentionEndsOn !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["prioritisation", "pretrialDetention", "detentionEndsOn"],
        message: "a detention end date is given but no one is detained",
      });
    }
    const evidence = body.prioritisation?.evidenceAtRisk;
    if (evidence?.atRisk === true && evidence.description === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["prioritisation", "evidenceAtRisk", "description"],
        message: "say which evidence is at risk and why",
      });
    }
  });

export type RequestBody = z.infer<typeof requestBodySchema>;

/** Validates a request body; throws InputError INPUT_INVALID with the zod issues in `details`. */
export function parseRequestBody(input: unknown): RequestBody {
  return parseOrThrow(requestBodySchema, input, "request body", { type: "request" });
}

/**
 * True when a request in `language` is in one the recipient accepts: the same tag (case does not
 * matter), or an accepted tag that is the request's primary language (`es` accepts `es-CO`).
 */
export function languageAccepted(language: string, accepted: readonly string[]): boolean {
  const tag = language.toLowerCase();
  return accepted.some((a) => {
    const acc = a.toLowerCase();
    return acc === tag || (LANGUAGE_TAG_PATTERN.test(a) && tag.startsWith(`${acc}-`));
  });
}

/**
 * UNTOC 18(14): a request is made in a language acceptable to the requested State, as notified
 * (here: the recipient's accepted languages in the directory). A recipient that declares none
 * accepts none. Throws LANGUAGE_NOT_ACCEPTED.
 */
export function checkLanguage(body: Pick<RequestBody, "language">, accepted: readonly string[]) {
  if (!languageAccepted(body.language, accepted)) {
    throw new InputError(
      "LANGUAGE_NOT_ACCEPTED",
      accepted.length === 0
        ? `the recipient declares no accepted language; "${body.language}" cannot be checked (UNTOC 18(14))`
        : `language "${body.language}" is not accepted by the recipient, which accepts ${accepted.join(", ")} (UNTOC 18(14))`,
      { details: { language: body.language, accepted: [...accepted] } },
    );
  }
}
