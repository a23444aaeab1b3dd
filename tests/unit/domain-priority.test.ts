import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { exampleRequestBody } from "../../src/domain/example-request.ts";
import { computePriority, URGENT_SCORE } from "../../src/domain/priority.ts";
import {
  PROCEDURAL_STAGES,
  type ProceduralStage,
  parseRequestBody,
  type RequestBody,
  type SeriousnessCategory,
  type UrgencyLevel,
} from "../../src/domain/request.ts";
import { isMlaxError } from "../../src/errors.ts";

const NOW = new Date("2026-01-10T12:00:00.000Z");
const DAY = 86_400_000;

interface Criteria {
  level: UrgencyLevel;
  deadlineDays?: number;
  detained: boolean;
  detentionDays?: number;
  atRisk: boolean;
  years?: number;
  life?: boolean;
  category?: SeriousnessCategory;
  stage: ProceduralStage;
}

const BASE: Criteria = { level: "normal", detained: false, atRisk: false, stage: "investigation" };

function dateIn(days: number): string {
  return new Date(NOW.getTime() + days * DAY).toISOString();
}

/** A valid request body with these criteria (checked by the schema, so the tests stay honest). */
function request(c: Criteria): RequestBody {
  const b = exampleRequestBody();
  b.offences = [{ name: "Fraud" }];
  b.urgency = {
    level: c.level,
    ...(c.level === "normal" ? {} : { reason: "because" }),
    ...(c.deadlineDays === undefined ? {} : { deadline: dateIn(c.deadlineDays) }),
  };
  b.prioritisation = {
    pretrialDetention: c.detained
      ? {
          detained: true,
          ...(c.detentionDays === undefined
            ? {}
            : { detentionEndsOn: dateIn(c.detentionDays).slice(0, 10) }),
        }
      : { detained: false },
    evidenceAtRisk: c.atRisk ? { atRisk: true, description: "logs are erased" } : { atRisk: false },
    seriousness: {
      ...(c.years === undefined ? {} : { maxPenaltyYears: c.years }),
      ...(c.life ? { lifeImprisonment: true } : {}),
      ...(c.category === undefined ? {} : { category: c.category }),
    },
    proceduralStage: c.stage,
  };
  return parseRequestBody(b);
}

const score = (c: Partial<Criteria>, now = NOW) =>
  computePriority(request({ ...BASE, ...c }), now).score;

/** Deterministic pseudo-random generator (mulberry32) for property-style loops. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function pick<T>(r: () => number, items: readonly T[]): T {
  return items[Math.floor(r() * items.length)]!;
}

/** Varied starting points for the monotonicity loops. */
function bases(count: number): Criteria[] {
  const r = rng(42);
  return Array.from({ length: count }, () => {
    const detained = r() < 0.5;
    return {
      level: pick(r, ["normal", "urgent", "very-urgent"] as const),
      ...(r() < 0.7 ? { deadlineDays: Math.round(r() * 200 - 10) } : {}),
      detained,
      ...(detained && r() < 0.7 ? { detentionDays: Math.round(r() * 200 - 5) } : {}),
      atRisk: r() < 0.5,
      ...(r() < 0.7 ? { years: Math.round(r() * 60) / 2 } : {}),
      ...(r() < 0.1 ? { life: true } : {}),
      ...(r() < 0.5 ? { category: pick(r, ["minor", "serious", "very-serious"] as const) } : {}),
      stage: pick(r, PROCEDURAL_STAGES),
    };
  });
}

function assertNonDecreasing(values: number[], what: string): void {
  for (let i = 1; i < values.length; i++) {
    assert.ok(values[i]! >= values[i - 1]!, `${what}: ${values[i - 1]} then ${values[i]} at ${i}`);
  }
}

describe("computePriority", () => {
  it("orders the working group's cases", () => {
    assert.ok(score({ detained: true }) > score({ detained: false }));
    assert.ok(score({ deadlineDays: 1 }) > score({ deadlineDays: 31 }));
    assert.ok(score({ deadlineDays: 31 }) > score({}));
    assert.ok(
      score({ detained: true, detentionDays: 3 }) > score({ detained: true, detentionDays: 180 }),
    );
    assert.ok(score({ level: "very-urgent" }) > score({ level: "urgent" }));
    assert.ok(score({ level: "urgent" }) > score({ level: "normal" }));
    assert.ok(score({ atRisk: true }) > score({ atRisk: false }));
    assert.ok(score({ years: 12 }) > score({ years: 2 }));
    assert.ok(score({ life: true }) > score({ years: 12 }));
    assert.ok(score({ category: "very-serious" }) > score({ category: "minor" }));
    assert.ok(score({ stage: "trial" }) > score({ stage: "investigation" }));
  });

  it("is an integer in 0..1000 that is the sum of its factors, in a fixed order", () => {
    for (const c of bases(300)) {
      const p = computePriority(request(c), NOW);
      assert.ok(Number.isInteger(p.score) && p.score >= 0 && p.score <= 1000);
      assert.equal(
        p.score,
        p.factors.reduce((t, f) => t + f.points, 0),
      );
      assert.deepEqual(
        p.factors.map((f) => f.factor),
        [
          "urgency",
          "deadline",
          "pretrial-detention",
          "evidence-at-risk",
          "seriousness",
          "procedural-stage",
        ],
      );
      for (const f of p.factors) assert.ok(f.why.length > 0);
    }
  });

  it("reaches 1000 when every criterion is at its highest", () => {
    const p = computePriority(
      request({
        level: "very-urgent",
        deadlineDays: -1,
        detained: true,
        detentionDays: -1,
        atRisk: true,
        life: true,
        stage: "trial",
      }),
      NOW,
    );
    assert.equal(p.score, 1000);
    assert.equal(p.urgent, true);
  });

  it("is deterministic and leaves its input alone", () => {
    for (const c of bases(50)) {
      const body = request(c);
      const copy = structuredClone(body);
      const a = computePriority(body, NOW);
      const b = computePriority(copy, new Date(NOW.getTime()));
      assert.deepEqual(a, b);
      assert.equal(JSON.stringify(a), JSON.stringify(b));
      assert.deepEqual(body, copy);
    }
  });

  it("depends on now only through the deadline and the detention end", () => {
    const c: Criteria = { ...BASE, level: "urgent", atRisk: true, detained: true, years: 8 };
    assert.equal(score(c, NOW), score(c, new Date("2030-01-01T00:00:00Z")));
    const d: Criteria = { ...c, deadlineDays: 10 };
    assert.ok(score(d, new Date(NOW.getTime() + 9 * DAY)) > score(d, NOW));
  });

  it("is monotone in the deadline: sooner never scores lower", () => {
    for (const base of bases(40)) {
      const scores = [];
      for (let days = 200; days >= -5; days -= 1)
        scores.push(score({ ...base, deadlineDays: days }));
      assertNonDecreasing(scores, "deadline");
      const { deadlineDays: _omit, ...none } = base;
      assert.ok(score({ ...none, deadlineDays: 365 }) >= score(none));
    }
  });

  it("is monotone in pre-trial detention: detained, and sooner released, never lower", () => {
    for (const base of bases(40)) {
      const { detentionDays: _omit, ...b } = base;
      const free = score({ ...b, detained: false });
      assert.ok(score({ ...b, detained: true }) > free);
      const scores = [];
      for (let days = 200; days >= -3; days -= 1) {
        scores.push(score({ ...b, detained: true, detentionDays: days }));
      }
      assertNonDecreasing(scores, "detention end");
      assert.ok(scores.every((s) => s > free));
    }
  });

  it("is monotone in seriousness: penalty, life, category", () => {
    for (const base of bases(40)) {
      const { life: _l, ...b } = base;
      const scores = [];
      for (let years = 0; years <= 40; years += 0.5) scores.push(score({ ...b, years }));
      assertNonDecreasing(scores, "penalty years");
      assert.ok(score({ ...b, life: true }) >= Math.max(...scores));
      const cats = (["minor", "serious", "very-serious"] as const).map((category) =>
        score({ ...b, category }),
      );
      assertNonDecreasing(cats, "category");
    }
  });

  it("is monotone in urgency, evidence at risk and procedural stage", () => {
    for (const base of bases(60)) {
      assertNonDecreasing(
        (["normal", "urgent", "very-urgent"] as const).map((level) => score({ ...base, level })),
        "urgency",
      );
      assert.ok(score({ ...base, atRisk: true }) > score({ ...base, atRisk: false }));
      // The documented order of stages (docs/DOMAIN.md).
      const [inv, pros, trial, appeal, enf] = PROCEDURAL_STAGES.map((stage) =>
        score({ ...base, stage }),
      ) as [number, number, number, number, number];
      assert.ok(inv < pros && pros === enf && pros < appeal && appeal < trial);
    }
  });

  it("reads a date-only deadline as the end of that day (UTC)", () => {
    const at = (deadline: string) => {
      const b = request({ ...BASE });
      b.urgency = { level: "normal", deadline };
      return computePriority(parseRequestBody(b), NOW).factors[1]!.points;
    };
    assert.equal(at("2026-01-11"), 200); // 1.5 days
    assert.equal(at("2026-01-12T00:00:00.000Z"), 200); // 1.5 days
    assert.equal(at("2026-01-12"), 150); // 2.5 days
    assert.equal(at("2026-01-09"), 200); // overdue
    assert.equal(at("2026-06-01"), 0);
  });

  it("flags urgent when declared so, or when the score reaches URGENT_SCORE", () => {
    assert.equal(computePriority(request({ ...BASE, level: "urgent" }), NOW).urgent, true);
    assert.equal(computePriority(request(BASE), NOW).urgent, false);
    const heavy = computePriority(
      request({
        ...BASE,
        detained: true,
        detentionDays: 3,
        atRisk: true,
        life: true,
        stage: "trial",
      }),
      NOW,
    );
    assert.ok(heavy.score >= URGENT_SCORE);
    assert.equal(heavy.urgent, true);
  });

  it("refuses an invalid now", () => {
    assert.throws(
      () => computePriority(request(BASE), new Date("not a date")),
      (e: unknown) => isMlaxError(e) && e.code === "INTERNAL",
    );
  });
});
