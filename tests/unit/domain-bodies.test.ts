import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { exampleRequestBody } from "../../src/domain/example-request.ts";
import { bodySchemaFor, validateBody } from "../../src/domain/message-bodies.ts";
import { MESSAGE_TYPES, type MessageType } from "../../src/domain/message-types.ts";
import { isMlaxError } from "../../src/errors.ts";

/** One valid body per message type. */
const VALID: Record<MessageType, Record<string, unknown>> = {
  request: exampleRequestBody(),
  acknowledgement: {
    caseNumber: "MJ-2026/117",
    registeredAt: "2026-01-02T09:30:00.000Z",
    contact: { email: "cooperacion@example.org" },
  },
  "clarification-request": { questions: ["Which accounts?", "Which period?"] },
  clarification: {
    answers: [
      { question: 0, answer: "ES00 0000" },
      { question: 1, answer: "2024" },
    ],
  },
  "status-inquiry": {},
  "status-update": { status: "Forwarded to the court of Madrid", expectedCompletion: "2026-03-01" },
  consultation: { text: "Dual criminality is doubtful.", considering: "refusal" },
  postponement: {
    reasons: "Execution would alert suspects of our own investigation",
    until: "2026-06-01",
  },
  refusal: {
    reasons: "The conduct is not an offence here",
    legalGrounds: [{ ground: "no-dual-criminality", provision: "UNTOC 18(9)" }],
  },
  execution: {
    completeness: "final",
    summary: "Bank records attached",
    evidence: [{ attachment: 0, description: "Statements 2024", obtainedOn: "2026-02-01" }],
  },
  withdrawal: { reason: "The case was closed" },
};

function refused(type: MessageType, b: unknown): void {
  assert.throws(
    () => validateBody(type, b),
    (e: unknown) =>
      isMlaxError(e) &&
      e.code === "INPUT_INVALID" &&
      e.details?.type === type &&
      Array.isArray(e.details?.issues),
  );
}

describe("message bodies", () => {
  it("has a schema for every message type and accepts a valid body of each", () => {
    for (const type of MESSAGE_TYPES) {
      assert.ok(bodySchemaFor(type), type);
      assert.deepEqual(validateBody(type, structuredClone(VALID[type])), VALID[type]);
    }
  });

  it("refuses an unknown field in every type", () => {
    for (const type of MESSAGE_TYPES) refused(type, { ...VALID[type], extra: true });
  });

  it("refuses a non-object body in every type", () => {
    for (const type of MESSAGE_TYPES) {
      for (const b of [null, "text", 1, []]) refused(type, b);
    }
  });

  it("refuses an unknown message type", () => {
    for (const type of ["receipt", "toString", "__proto__", ""]) {
      assert.throws(
        () => bodySchemaFor(type as MessageType),
        (e: unknown) => isMlaxError(e) && e.code === "INPUT_INVALID",
      );
    }
  });

  it("18(23): a refusal gives reasons and at least one legal ground", () => {
    refused("refusal", { legalGrounds: VALID.refusal.legalGrounds });
    refused("refusal", { ...VALID.refusal, reasons: "  " });
    refused("refusal", { ...VALID.refusal, legalGrounds: [] });
    // 18(8), 18(22): bank secrecy and fiscal matters alone are not grounds.
    refused("refusal", { ...VALID.refusal, legalGrounds: [{ ground: "bank-secrecy" }] });
    refused("refusal", { ...VALID.refusal, legalGrounds: [{ ground: "fiscal-matter" }] });
  });

  it("18(25): a postponement gives reasons", () => {
    refused("postponement", { until: "2026-06-01" });
    validateBody("postponement", {
      reasons: "ongoing trial",
      interferesWith: "judicial-proceeding",
    });
    refused("postponement", { reasons: "x", until: "June" });
  });

  it("an execution is partial or final", () => {
    validateBody("execution", { completeness: "partial", summary: "first part" });
    refused("execution", { summary: "no completeness" });
    refused("execution", { completeness: "done", summary: "x" });
    refused("execution", {
      completeness: "final",
      summary: "x",
      evidence: Array.from({ length: 101 }, () => ({ description: "item" })),
    });
  });

  it("checks the other bodies", () => {
    refused("acknowledgement", { caseNumber: "1" });
    refused("acknowledgement", { caseNumber: "1", registeredAt: "2026-01-02" });
    refused("clarification-request", { questions: [] });
    refused("clarification-request", {
      questions: Array.from({ length: 51 }, () => "why?"),
    });
    refused("clarification", { answers: [] });
    refused("clarification", {
      answers: [
        { question: 0, answer: "a" },
        { question: 0, answer: "b" },
      ],
    });
    refused("status-update", {});
    refused("status-inquiry", { question: "q".repeat(4_001) });
    refused("consultation", { considering: "refusal" });
    refused("withdrawal", {});
    refused("withdrawal", { reason: "r".repeat(4_001) });
  });
});
