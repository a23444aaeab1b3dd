import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { exampleRequestBody } from "../../src/domain/example-request.ts";
import { TEXT_LIMITS } from "../../src/domain/fields.ts";
import {
  checkLanguage,
  languageAccepted,
  parseRequestBody,
  REQUEST_KINDS,
  type RequestBody,
} from "../../src/domain/request.ts";
import { isMlaxError } from "../../src/errors.ts";

type Json = Record<string, unknown>;

function body(patch: (b: Json) => void = () => {}): Json {
  const b = structuredClone(exampleRequestBody()) as unknown as Json;
  patch(b);
  return b;
}

function at(b: Json, path: string): Json {
  return path.split(".").reduce((o, k) => o[k] as Json, b);
}

/** Asserts INPUT_INVALID and returns the issue paths (joined with "."). */
function refusedPaths(input: unknown): string[] {
  try {
    parseRequestBody(input);
  } catch (e) {
    assert.ok(isMlaxError(e));
    assert.equal(e.code, "INPUT_INVALID");
    assert.equal(e.status, 400);
    const issues = e.details?.issues as { path: (string | number)[]; code: string }[];
    assert.ok(Array.isArray(issues) && issues.length > 0);
    return issues.map((i) => i.path.join("."));
  }
  assert.fail("expected INPUT_INVALID");
}

describe("request body (UNTOC 18(15))", () => {
  it("accepts the example and returns it unchanged", () => {
    const input = exampleRequestBody();
    assert.deepEqual(parseRequestBody(structuredClone(input)), input);
  });

  it("accepts every kind of request", () => {
    for (const kind of REQUEST_KINDS) {
      assert.equal(parseRequestBody(body((b) => (b.kind = kind))).kind, kind);
    }
    assert.deepEqual(refusedPaths(body((b) => (b.kind = "letters-rogatory"))), ["kind"]);
  });

  it("18(15)(c): facts may be left out only for service of documents", () => {
    const service = body((b) => {
      delete b.facts;
      at(b, "assistance").measures = ["service-of-documents"];
    });
    assert.equal(parseRequestBody(service).facts, undefined);
    assert.deepEqual(refusedPaths(body((b) => delete b.facts)), ["facts"]);
    const serviceAndMore = body((b) => {
      delete b.facts;
      at(b, "assistance").measures = ["service-of-documents", "taking-evidence"];
    });
    assert.deepEqual(refusedPaths(serviceAndMore), ["facts"]);
  });

  it("requires each 18(15) element", () => {
    for (const key of [
      "requestingAuthority",
      "proceedings",
      "assistance",
      "purpose",
      "legalBasis",
      "offences",
      "language",
      "confidentiality",
      "urgency",
      "prioritisation",
      "caseReference",
    ]) {
      assert.ok(
        refusedPaths(body((b) => delete b[key])).includes(key),
        `${key} should be required`,
      );
    }
    assert.ok(
      refusedPaths(body((b) => delete at(b, "proceedings").conductingAuthority)).includes(
        "proceedings.conductingAuthority",
      ),
    );
  });

  it("refuses unknown fields, at the top and nested", () => {
    refusedPaths(body((b) => (b.priority = 1)));
    refusedPaths(body((b) => (at(b, "requestingAuthority").badge = "x")));
    refusedPaths(body((b) => (at(b, "prioritisation.pretrialDetention").cell = "4")));
    refusedPaths(body((b) => ((b.persons as Json[])[0]!.eyes = "blue")));
  });

  it("refuses what is not an object", () => {
    for (const input of [null, undefined, "request", 42, [], [exampleRequestBody()]]) {
      refusedPaths(input);
    }
  });

  it("caps every string: at the cap accepted, one more refused", () => {
    const cases: [string, number][] = [
      ["facts", TEXT_LIMITS.long],
      ["purpose", TEXT_LIMITS.medium],
      ["caseReference", TEXT_LIMITS.short],
    ];
    for (const [key, max] of cases) {
      parseRequestBody(body((b) => (b[key] = "x".repeat(max))));
      assert.deepEqual(refusedPaths(body((b) => (b[key] = "x".repeat(max + 1)))), [key]);
    }
    assert.deepEqual(
      refusedPaths(body((b) => (at(b, "requestingAuthority").name = "n".repeat(201)))),
      ["requestingAuthority.name"],
    );
    assert.deepEqual(
      refusedPaths(body((b) => (at(b, "assistance").description = "d".repeat(20_001)))),
      ["assistance.description"],
    );
    refusedPaths(body((b) => (b.language = `es-${"a".repeat(40)}`)));
  });

  it("caps every array", () => {
    refusedPaths(body((b) => (b.legalBasis = Array.from({ length: 11 }, (_, i) => `T${i}`))));
    refusedPaths(body((b) => (b.legalBasis = [])));
    refusedPaths(body((b) => (b.offences = [])));
    refusedPaths(
      body((b) => (b.offences = Array.from({ length: 51 }, (_, i) => ({ name: `o${i}` })))),
    );
    refusedPaths(
      body((b) => (b.persons = Array.from({ length: 51 }, () => ({ role: "witness", name: "W" })))),
    );
    refusedPaths(body((b) => (at(b, "assistance").measures = [])));
    refusedPaths(
      body((b) => (at(b, "assistance").measures = ["taking-evidence", "taking-evidence"])),
    );
  });

  it("refuses blank text and control characters, keeps line breaks", () => {
    assert.deepEqual(refusedPaths(body((b) => (b.purpose = "   \n "))), ["purpose"]);
    assert.deepEqual(refusedPaths(body((b) => (b.purpose = "a\u0000b"))), ["purpose"]);
    assert.deepEqual(refusedPaths(body((b) => (b.purpose = "a\u001bb"))), ["purpose"]);
    parseRequestBody(body((b) => (b.facts = "line one\nline two\r\n\tindented")));
  });

  it("checks the rules between fields", () => {
    assert.deepEqual(
      refusedPaths(body((b) => (b.urgency = { level: "urgent", deadline: "2026-02-01" }))),
      ["urgency.reason"],
    );
    parseRequestBody(
      body((b) => (b.urgency = { level: "very-urgent", reason: "suspect leaves tomorrow" })),
    );
    assert.deepEqual(refusedPaths(body((b) => (b.confidentiality = { required: true }))), [
      "confidentiality.requirement",
    ]);
    assert.deepEqual(
      refusedPaths(body((b) => (b.confidentiality = { required: false, requirement: "secret" }))),
      ["confidentiality.requirement"],
    );
    parseRequestBody(body((b) => (b.confidentiality = { required: false })));
    assert.deepEqual(
      refusedPaths(
        body(
          (b) =>
            (at(b, "prioritisation").pretrialDetention = {
              detained: false,
              detentionEndsOn: "2026-03-01",
            }),
        ),
      ),
      ["prioritisation.pretrialDetention.detentionEndsOn"],
    );
    assert.deepEqual(
      refusedPaths(body((b) => (at(b, "prioritisation").evidenceAtRisk = { atRisk: true }))),
      ["prioritisation.evidenceAtRisk.description"],
    );
    assert.deepEqual(
      refusedPaths(body((b) => (b.persons = [{ role: "witness", location: "Lima" }]))),
      ["persons.0.name"],
    );
    parseRequestBody(
      body((b) => (b.persons = [{ role: "account-holder", description: "holder of account X" }])),
    );
  });

  it("checks formats: dates, countries, penalties, language tags", () => {
    refusedPaths(body((b) => (at(b, "urgency").deadline = "tomorrow")));
    refusedPaths(body((b) => (at(b, "urgency").deadline = "2026-02-30")));
    parseRequestBody(body((b) => (at(b, "urgency").deadline = "2026-02-01T12:00:00Z")));
    refusedPaths(body((b) => (at(b, "urgency").deadline = "2026-02-01T12:00:00+02:00")));
    refusedPaths(body((b) => ((b.persons as Json[])[0]!.nationalities = ["col"])));
    refusedPaths(body((b) => ((b.offences as Json[])[0]!.maxPenaltyYears = -1)));
    refusedPaths(body((b) => ((b.offences as Json[])[0]!.maxPenaltyYears = 101)));
    refusedPaths(body((b) => ((b.offences as Json[])[0]!.maxPenaltyYears = "10")));
    for (const bad of ["ES", "spanish", "e", "es_CO", ""]) {
      refusedPaths(body((b) => (b.language = bad)));
    }
    for (const good of ["es", "pt-BR", "zh-Hant-TW", "fil"]) {
      parseRequestBody(body((b) => (b.language = good)));
    }
  });

  it("puts only path, code and message in the issues (no echo of the input)", () => {
    try {
      parseRequestBody(body((b) => (b.purpose = "secret".repeat(1000))));
      assert.fail("expected INPUT_INVALID");
    } catch (e) {
      assert.ok(isMlaxError(e));
      const issues = e.details?.issues as Json[];
      for (const issue of issues)
        assert.deepEqual(Object.keys(issue).sort(), ["code", "message", "path"]);
      assert.ok(!JSON.stringify(e.toJSON()).includes("secretsecret"));
    }
  });
});

describe("checkLanguage (UNTOC 18(14))", () => {
  const request = (language: string): RequestBody => ({ ...exampleRequestBody(), language });

  it("accepts a language the recipient accepts", () => {
    checkLanguage(request("es"), ["en", "es"]);
    checkLanguage(request("es"), ["ES"]);
    checkLanguage(request("pt-BR"), ["pt-br"]);
    checkLanguage(request("es-CO"), ["es"]);
  });

  it("refuses another language with LANGUAGE_NOT_ACCEPTED", () => {
    for (const [language, accepted] of [
      ["fr", ["en", "es"]],
      ["es", ["es-CO"]],
      ["est", ["es"]],
      ["es", []],
    ] as [string, string[]][]) {
      assert.equal(languageAccepted(language, accepted), false);
      assert.throws(
        () => checkLanguage(request(language), accepted),
        (e: unknown) =>
          isMlaxError(e) &&
          e.code === "LANGUAGE_NOT_ACCEPTED" &&
          e.status === 422 &&
          e.details?.language === language,
      );
    }
  });
});
