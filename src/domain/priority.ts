/**
 * A documented, deterministic priority for a request (DESIGN.md, domain), from the criteria the
 * UNTOC Working Group on International Cooperation (2021) lists for prioritising a backlog:
 * urgency, seriousness of the offence, pre-trial detention, risk of losing key evidence and
 * procedural stage — plus the deadline, measured against `now`. docs/DOMAIN.md has the formula.
 *
 * score = urgency (0..250) + deadline (0..200) + detention (0..200) + evidence (0..150)
 *       + seriousness (0..100) + stage (0..100), an integer in 0..1000.
 * Each factor is non-decreasing in its input (an earlier deadline or detention end, a longer
 * penalty, a higher urgency never lowers the score). Same body and `now` → same result.
 */
import { MlaxError } from "../errors.ts";
import type { ProceduralStage, RequestBody, SeriousnessCategory, UrgencyLevel } from "./request.ts";

export type PriorityFactorName =
  | "urgency"
  | "deadline"
  | "pretrial-detention"
  | "evidence-at-risk"
  | "seriousness"
  | "procedural-stage";

export interface PriorityFactor {
  readonly factor: PriorityFactorName;
  readonly points: number;
  readonly why: string;
}

export interface Priority {
  /** Integer in 0..1000; higher goes first. */
  readonly score: number;
  /** Declared urgent or very urgent, or a score at or above URGENT_SCORE. */
  readonly urgent: boolean;
  /** Every factor, in a fixed order, including those worth 0 points. */
  readonly factors: readonly PriorityFactor[];
}

/** A score from which a request declared `normal` is treated as urgent all the same. */
export const URGENT_SCORE = 500;

export const URGENCY_POINTS: Readonly<Record<UrgencyLevel, number>> = {
  normal: 0,
  urgent: 150,
  "very-urgent": 250,
};

/** Days left until the deadline (or overdue) → points; no deadline: 0. */
export const DEADLINE_TIERS: readonly { readonly withinDays: number; readonly points: number }[] = [
  { withinDays: 2, points: 200 },
  { withinDays: 7, points: 150 },
  { withinDays: 30, points: 100 },
  { withinDays: 90, points: 50 },
];

/** A person detained: 100, plus by days left until the detention must end (unknown: +20). */
export const DETENTION_BASE = 100;
export const DETENTION_TIERS: readonly { readonly withinDays: number; readonly points: number }[] =
  [
    { withinDays: 7, points: 100 },
    { withinDays: 30, points: 70 },
    { withinDays: 90, points: 40 },
  ];
export const DETENTION_FAR_OR_UNKNOWN = 20;

export const EVIDENCE_AT_RISK_POINTS = 150;

/** Maximum penalty in years → points (20 years or more, or life: 100). 4 years: UNTOC 2(b). */
export const PENALTY_TIERS: readonly { readonly fromYears: number; readonly points: number }[] = [
  { fromYears: 20, points: 100 },
  { fromYears: 10, points: 75 },
  { fromYears: 4, points: 50 },
  { fromYears: 1, points: 25 },
];
export const CATEGORY_POINTS: Readonly<Record<SeriousnessCategory, number>> = {
  minor: 0,
  serious: 50,
  "very-serious": 100,
};

/** Trial dates are fixed by courts and appeals run on time limits; see docs/DOMAIN.md. */
export const STAGE_POINTS: Readonly<Record<ProceduralStage, number>> = {
  investigation: 25,
  prosecution: 50,
  trial: 100,
  appeal: 75,
  enforcement: 50,
};

const DAY_MS = 86_400_000;

/** A date (`YYYY-MM-DD`, meaning the end of that day UTC) or a UTC timestamp, in ms. */
function instantOf(value: string): number {
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) return Date.parse(`${value}T23:59:59.999Z`);
  return Date.parse(value);
}

function daysUntil(value: string, nowMs: number): number {
  return (instantOf(value) - nowMs) / DAY_MS;
}

function describeDays(days: number): string {
  if (days < 0) return `overdue by ${Math.ceil(-days)} day(s)`;
  return `${Math.floor(days)} day(s) left`;
}

function urgencyFactor(body: RequestBody): PriorityFactor {
  const level = body.urgency.level;
  return { factor: "urgency", points: URGENCY_POINTS[level], why: `declared ${level}` };
}

function deadlineFactor(body: RequestBody, nowMs: number): PriorityFactor {
  const deadline = body.urgency.deadline;
  if (deadline === undefined) return { factor: "deadline", points: 0, why: "no deadline" };
  const days = daysUntil(deadline, nowMs);
  const tier = DEADLINE_TIERS.find((t) => days <= t.withinDays);
  return {
    factor: "deadline",
    points: tier?.points ?? 0,
    why: `deadline ${deadline}: ${describeDays(days)}${tier ? ` (within ${tier.withinDays} days)` : " (more than 90 days)"}`,
  };
}

function detentionFactor(body: RequestBody, nowMs: number): PriorityFactor {
  const detention = body.prioritisation.pretrialDetention;
  if (!detention.detained) {
    return { factor: "pretrial-detention", points: 0, why: "no person in pre-trial detention" };
  }
  const ends = detention.detentionEndsOn;
  if (ends === undefined) {
    return {
      factor: "pretrial-detention",
      points: DETENTION_BASE + DETENTION_FAR_OR_UNKNOWN,
      why: "a person is in pre-trial detention (end date not given)",
    };
  }
  const days = daysUntil(ends, nowMs);
  const tier = DETENTION_TIERS.find((t) => days <= t.withinDays);
  return {
    factor: "pretrial-detention",
    points: DETENTION_BASE + (tier?.points ?? DETENTION_FAR_OR_UNKNOWN),
    why: `a person is in pre-trial detention until ${ends}: ${describeDays(days)}`,
  };
}

function evidenceFactor(body: RequestBody): PriorityFactor {
  return body.prioritisation.evidenceAtRisk.atRisk
    ? { factor: "evidence-at-risk", points: EVIDENCE_AT_RISK_POINTS, why: "key evidence at risk" }
    : { factor: "evidence-at-risk", points: 0, why: "no evidence stated at risk" };
}

function seriousnessFactor(body: RequestBody): PriorityFactor {
  const stated = body.prioritisation.seriousness;
  const years = Math.max(
    stated?.maxPenaltyYears ?? 0,
    ...body.offences.map((o) => o.maxPenaltyYears ?? 0),
  );
  const life = stated?.lifeImprisonment === true || body.offences.some((o) => o.lifeImprisonment);
  const penaltyPoints = life ? 100 : (PENALTY_TIERS.find((t) => years >= t.fromYears)?.points ?? 0);
  const category = stated?.category;
  const categoryPoints = category ? CATEGORY_POINTS[category] : 0;
  const parts = [
    life ? "life imprisonment" : years > 0 ? `maximum penalty ${years} year(s)` : "",
    category ? `category ${category}` : "",
  ].filter((p) => p !== "");
  return {
    factor: "seriousness",
    points: Math.max(penaltyPoints, categoryPoints),
    why: parts.length > 0 ? parts.join(", ") : "no maximum penalty or category stated",
  };
}

function stageFactor(body: RequestBody): PriorityFactor {
  const stage = body.prioritisation.proceduralStage;
  return { factor: "procedural-stage", points: STAGE_POINTS[stage], why: `stage: ${stage}` };
}

/** The priority of a request at `now`, with the points of every factor and why. */
export function computePriority(body: RequestBody, now: Date): Priority {
  const nowMs = now.getTime();
  if (!Number.isFinite(nowMs)) throw new MlaxError("INTERNAL", "now is not a valid date");
  const factors = [
    urgencyFactor(body),
    deadlineFactor(body, nowMs),
    detentionFactor(body, nowMs),
    evidenceFactor(body),
    seriousnessFactor(body),
    stageFactor(body),
  ];
  const sum = factors.reduce((total, f) => total + f.points, 0);
  const score = Math.min(1000, Math.max(0, Math.round(sum)));
  return { score, urgent: body.urgency.level !== "normal" || score >= URGENT_SCORE, factors };
}
