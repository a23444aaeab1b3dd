/**
 * Wycheproof JWS and JWE vectors (C2SP/wycheproof testvectors_v1, ../shared/vectors/wycheproof):
 * our compact part checks first (splitCompact, decodeHeader: what every mlax receiver runs before
 * jose), then jose with an allow-list taken from the test group's key, never from the token
 * (STYLE.md §4). The point: every `invalid` case is refused by the two together, and every `valid`
 * case in a family we run is accepted, except the listed, explained deviations.
 *
 * THREATS.md: jose alone accepts whitespace inside a JWS and some malformed base64; the cases it
 * accepts are counted, and each one must be refused by our part checks or be a defective vector.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { before, describe, it } from "node:test";
import { compactDecrypt, compactVerify, type JWK } from "jose";
import { decodeHeader, splitCompact } from "../../src/envelope/compact.ts";
import { checkEnvelopeParts, MESSAGE_TYP } from "../../src/envelope/jwe-header.ts";
import { parseJwsHeader } from "../../src/envelope/jws.ts";
import { LIMITS } from "../../src/envelope/limits.ts";

const VECTORS = "../shared/vectors/wycheproof";

interface WycheproofCase {
  readonly tcId: number;
  readonly comment: string;
  readonly result: "valid" | "invalid" | "acceptable";
  readonly flags: readonly string[];
  readonly jws?: string;
  readonly jwe?: string;
  readonly enc?: string;
  readonly pt?: string;
}
interface WycheproofGroup {
  readonly comment: string;
  readonly public?: JWK;
  readonly private?: JWK;
  readonly tests: readonly WycheproofCase[];
}
interface WycheproofFile {
  readonly numberOfTests: number;
  readonly testGroups: readonly WycheproofGroup[];
}

/** What happened to one case. `ours` / `jose` hold the refusal code, undefined when accepted. */
interface Evaluated {
  readonly group: WycheproofGroup;
  readonly test: WycheproofCase;
  readonly token: string;
  readonly allowed: string;
  /** Not run: a JSON serialization (mlax only accepts compact). */
  readonly skipped?: string;
  readonly ours?: string;
  readonly jose?: string;
  /** jose alone, without our part checks (same allow-list). */
  readonly joseAlone?: string;
}

const ACCEPTED = undefined;
const CONTENT_ALGORITHMS = new Set([
  "A128GCM",
  "A192GCM",
  "A256GCM",
  "A128CBC-HS256",
  "A192CBC-HS384",
  "A256CBC-HS512",
]);

/**
 * Vectors that no correct verifier can pass as labelled, each checked below so that this list
 * cannot hide a real regression (another harness lists the same six JWS cases as defective).
 */
const JWS_IDENTICAL_TO_VALID = new Map([
  [367, 357], // "invalidBase64Padding": byte-identical to the valid tcId 357
  [370, 357], // "invalidBase64PaddingInPayload": byte-identical to the valid tcId 357
]);
/** Labelled valid, but a part holds "?": not base64url (RFC 7515 §2); our checks refuse it. */
const JWS_VALID_NOT_BASE64URL = new Set([372, 373]);
/** Labelled valid, but the group's key declares another alg than the token (PS256/PS384, ES521/ES512). */
const JWS_KEY_ALG_MISMATCH = new Set([346, 347, 350, 351]);

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : ((error as Error)?.name ?? "unknown");
}

/** Our checks, as every mlax receiver runs them before jose: part count, characters, size, JSON. */
function ourChecks(token: string, parts: 3 | 5): string | undefined {
  try {
    const split = splitCompact(token, {
      parts,
      maxChars: parts === 3 ? LIMITS.maxJwsChars : LIMITS.maxEnvelopeChars,
      maxHeaderChars: LIMITS.maxHeaderChars,
    });
    decodeHeader(split[0] ?? "");
    return ACCEPTED;
  } catch (error) {
    return codeOf(error);
  }
}

async function refusalOf(run: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await run();
    return ACCEPTED;
  } catch (error) {
    return codeOf(error);
  }
}

function isJsonSerialization(token: string): boolean {
  return token.trimStart().startsWith("{");
}

async function evaluateJws(file: WycheproofFile): Promise<Evaluated[]> {
  const out: Evaluated[] = [];
  for (const group of file.testGroups) {
    const key = group.public ?? group.private;
    assert.ok(key, `group ${group.comment} has a key`);
    // The allow-list comes from the key; a key without alg gets the mlax profile's (PS256).
    const allowed = key.alg ?? "PS256";
    for (const test of group.tests) {
      const token = test.jws ?? "";
      if (isJsonSerialization(token)) {
        out.push({ group, test, token, allowed, skipped: "JSON serialization" });
        continue;
      }
      const verify = () => compactVerify(token, structuredClone(key), { algorithms: [allowed] });
      const ours = ourChecks(token, 3);
      const joseAlone = await refusalOf(verify);
      out.push({ group, test, token, allowed, ours, jose: joseAlone, joseAlone });
    }
  }
  return out;
}

async function evaluateJwe(file: WycheproofFile): Promise<Evaluated[]> {
  const out: Evaluated[] = [];
  for (const group of file.testGroups) {
    const key = group.private;
    assert.ok(key?.alg, `group ${group.comment} has a private key with alg`);
    // A key whose alg is a content encryption algorithm is a direct ("dir") key (RFC 7518 §4.5).
    const direct = CONTENT_ALGORITHMS.has(key.alg);
    const keyManagement = direct ? "dir" : key.alg;
    for (const test of group.tests) {
      const token = test.jwe ?? "";
      const allowed = `${keyManagement}/${test.enc}`;
      if (isJsonSerialization(token)) {
        out.push({ group, test, token, allowed, skipped: "JSON serialization" });
        continue;
      }
      const decrypt = async () => {
        const { plaintext } = await compactDecrypt(token, structuredClone(key), {
          keyManagementAlgorithms: [keyManagement],
          contentEncryptionAlgorithms: [test.enc ?? (direct ? key.alg! : "A256GCM")],
        });
        if (test.pt !== undefined && Buffer.from(plaintext).toString("hex") !== test.pt) {
          throw Object.assign(new Error("wrong plaintext"), { code: "WRONG_PLAINTEXT" });
        }
      };
      const ours = ourChecks(token, 5);
      const joseAlone = await refusalOf(decrypt);
      out.push({ group, test, token, allowed, ours, jose: joseAlone, joseAlone });
    }
  }
  return out;
}

function refused(e: Evaluated): boolean {
  return e.ours !== ACCEPTED || e.jose !== ACCEPTED;
}

/** Tallies per result and per reason ("ours:CODE", "jose:CODE", "accepted", "skipped: …"). */
function tally(results: readonly Evaluated[]): string[] {
  const counts = new Map<string, number>();
  for (const e of results) {
    const reason = e.skipped
      ? `skipped: ${e.skipped}`
      : e.ours !== ACCEPTED
        ? `refused by our part checks (${e.ours})`
        : e.jose !== ACCEPTED
          ? `refused by jose (${e.jose})`
          : "accepted";
    const k = `${e.test.result} → ${reason}`;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return [...counts.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `${n} ${k}`);
}

describe("Wycheproof JWS (json_web_signature_test.json)", () => {
  let file: WycheproofFile;
  let results: Evaluated[];
  const byId = () => new Map(results.map((e) => [e.test.tcId, e]));

  before(async () => {
    file = JSON.parse(readFileSync(`${VECTORS}/json_web_signature_test.json`, "utf8"));
    results = await evaluateJws(file);
  });

  it("reads every case of the file", (t) => {
    assert.equal(results.length, file.numberOfTests);
    for (const line of tally(results)) t.diagnostic(line);
  });

  it("refuses every invalid case (our part checks, then jose with the group's allow-list)", () => {
    const accepted = results.filter(
      (e) =>
        e.test.result === "invalid" &&
        !e.skipped &&
        !refused(e) &&
        !JWS_IDENTICAL_TO_VALID.has(e.test.tcId),
    );
    assert.deepEqual(
      accepted.map((e) => `${e.test.tcId} ${e.test.comment}`),
      [],
    );
  });

  it("the two 'invalid' cases we accept are byte-identical to a valid case", () => {
    const ids = byId();
    for (const [invalidId, validId] of JWS_IDENTICAL_TO_VALID) {
      const bad = ids.get(invalidId)!;
      const good = ids.get(validId)!;
      assert.equal(bad.test.result, "invalid");
      assert.equal(good.test.result, "valid");
      assert.equal(bad.token, good.token, `tcId ${invalidId} is the same token as ${validId}`);
    }
  });

  it("accepts every valid case, except the listed defective vectors", (t) => {
    const ids = byId();
    const notAccepted = results.filter(
      (e) =>
        e.test.result === "valid" &&
        refused(e) &&
        !JWS_VALID_NOT_BASE64URL.has(e.test.tcId) &&
        !JWS_KEY_ALG_MISMATCH.has(e.test.tcId),
    );
    assert.deepEqual(
      notAccepted.map((e) => `${e.test.tcId} ${e.test.comment} ${e.ours ?? e.jose}`),
      [],
    );
    for (const id of JWS_VALID_NOT_BASE64URL) {
      const e = ids.get(id)!;
      assert.match(e.token, /[?]/);
      assert.equal(e.ours, "ENVELOPE_MALFORMED", `tcId ${id} refused by our part checks`);
    }
    for (const id of JWS_KEY_ALG_MISMATCH) {
      const e = ids.get(id)!;
      const tokenAlg = decodeHeader(e.token.split(".")[0]!).alg;
      assert.notEqual(tokenAlg, e.allowed, `tcId ${id}: key alg ${e.allowed}, token ${tokenAlg}`);
      assert.equal(e.jose, "ERR_JOSE_ALG_NOT_ALLOWED");
    }
    const ps256 = results.filter((e) => e.test.result === "valid" && e.allowed === "PS256");
    t.diagnostic(
      `mlax's own family, PS256: ${ps256.filter((e) => !refused(e)).length} valid accepted, ` +
        `refused: ${ps256
          .filter(refused)
          .map((e) => `tcId ${e.test.tcId} (token ${decodeHeader(e.token.split(".")[0]!).alg})`)
          .join(", ")}`,
    );
    assert.ok(ps256.filter((e) => !refused(e)).length >= 6);
    t.diagnostic(
      `deviations: tcId ${[...JWS_VALID_NOT_BASE64URL].join(", ")} refused by our base64url check; ` +
        `tcId ${[...JWS_KEY_ALG_MISMATCH].join(", ")} refused by the key's allow-list`,
    );
  });

  it("our part checks refuse what jose alone accepts (THREATS.md)", (t) => {
    const joseAloneAccepts = results.filter(
      (e) => e.test.result === "invalid" && !e.skipped && e.joseAlone === ACCEPTED,
    );
    t.diagnostic(
      `jose alone (with the allow-list) accepts ${joseAloneAccepts.length} invalid cases: ` +
        joseAloneAccepts.map((e) => `${e.test.tcId} ${e.test.comment}`).join(", "),
    );
    for (const e of joseAloneAccepts) {
      if (JWS_IDENTICAL_TO_VALID.has(e.test.tcId)) continue;
      assert.equal(e.ours, "ENVELOPE_MALFORMED", `tcId ${e.test.tcId} ${e.test.comment}`);
    }
    const caughtByUs = joseAloneAccepts.filter((e) => e.ours !== ACCEPTED);
    t.diagnostic(`of those, our part checks refuse ${caughtByUs.length}; the rest are defective`);
    // Whitespace inside the signature, header and payload, and a non-canonical payload.
    for (const id of [360, 365, 368, 375]) {
      assert.equal(byId().get(id)?.ours, "ENVELOPE_MALFORMED", `tcId ${id}`);
    }
    assert.ok(joseAloneAccepts.length > 0, "jose alone still accepts malformed base64");
  });

  it("the mlax message profile refuses every one of them (no typ, no x5c)", () => {
    for (const e of results) {
      assert.throws(
        () => parseJwsHeader(e.token, MESSAGE_TYP),
        (error: unknown) => /^ENVELOPE_/.test(codeOf(error)),
      );
    }
  });
});

describe("Wycheproof JWE (json_web_encryption_test.json)", () => {
  let file: WycheproofFile;
  let results: Evaluated[];

  before(async () => {
    file = JSON.parse(readFileSync(`${VECTORS}/json_web_encryption_test.json`, "utf8"));
    results = await evaluateJwe(file);
  });

  it("reads every case of the file", (t) => {
    assert.equal(results.length, file.numberOfTests);
    for (const line of tally(results)) t.diagnostic(line);
    assert.equal(results.filter((e) => e.skipped).length, 1, "one JSON serialization, skipped");
  });

  it("refuses every invalid case (our part checks, then jose with the group's allow-list)", () => {
    const accepted = results.filter(
      (e) => e.test.result === "invalid" && !e.skipped && !refused(e),
    );
    assert.deepEqual(
      accepted.map((e) => `${e.test.tcId} ${e.test.comment}`),
      [],
    );
  });

  it("accepts every valid case with the plaintext expected, except RSA1_5 (not in jose 6)", (t) => {
    const valid = results.filter((e) => e.test.result === "valid");
    const rsa15 = valid.filter((e) => e.allowed.startsWith("RSA1_5/"));
    for (const e of rsa15) assert.equal(e.jose, "ERR_JOSE_NOT_SUPPORTED", `tcId ${e.test.tcId}`);
    const notAccepted = valid.filter((e) => refused(e) && !e.allowed.startsWith("RSA1_5/"));
    assert.deepEqual(
      notAccepted.map((e) => `${e.test.tcId} ${e.test.comment} ${e.ours ?? e.jose}`),
      [],
    );
    const ours = valid.filter((e) => e.allowed === "RSA-OAEP-256/A256GCM");
    assert.ok(ours.length >= 1 && ours.every((e) => !refused(e)));
    t.diagnostic(
      `${rsa15.length} valid RSA1_5 cases refused by jose 6 (ERR_JOSE_NOT_SUPPORTED; outside mlax's profile); ` +
        `mlax's own RSA-OAEP-256/A256GCM: ${ours.length} valid, all accepted`,
    );
  });

  it("jose alone accepts no invalid JWE; our part checks still refuse the malformed ones", (t) => {
    const joseAloneAccepts = results.filter(
      (e) => e.test.result === "invalid" && !e.skipped && e.joseAlone === ACCEPTED,
    );
    assert.deepEqual(
      joseAloneAccepts.map((e) => e.test.tcId),
      [],
    );
    const oursRefuse = results.filter((e) => e.test.result === "invalid" && e.ours !== ACCEPTED);
    t.diagnostic(`our part checks alone refuse ${oursRefuse.length} invalid JWE cases`);
    // Missing parts and separators (tcId 8, 9, 12, 15, 18, 20, 21): refused before jose runs.
    for (const id of [9, 12, 15, 18, 21]) {
      assert.equal(results.find((e) => e.test.tcId === id)?.ours, "ENVELOPE_MALFORMED");
    }
  });

  it("the mlax envelope profile refuses every one of them (alg, enc, typ, x5t#S256)", () => {
    const recipient = { thumbprint: "A".repeat(43), modulusBytes: 256 };
    for (const e of results.filter((r) => !r.skipped && r.ours === ACCEPTED)) {
      assert.throws(
        () => checkEnvelopeParts(e.token.split("."), recipient),
        (error: unknown) => codeOf(error) === "ENVELOPE_HEADER_INVALID",
        `tcId ${e.test.tcId}`,
      );
    }
  });
});
