/**
 * The cached validator gives the same verdict (same code) as validateCertificate for every
 * combination of certificate, role, instant and revocation — including after a cached success.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isMlaxError } from "../../src/errors.ts";
import { createCachedValidator } from "../../src/pki/cached-validator.ts";
import type { Role } from "../../src/pki/roles.ts";
import { validateCertificate } from "../../src/pki/validate-certificate.ts";
import { makeTestPki } from "../helpers/pki-fixture.ts";

const codeOf = (f: () => void): string => {
  try {
    f();
    return "ok";
  } catch (e) {
    return isMlaxError(e) ? e.code : `non-mlax: ${String(e)}`;
  }
};

describe("cached certificate validator", () => {
  it("agrees with validateCertificate on every case", () => {
    const pki = makeTestPki({ ids: ["ES-MJ"], days: 30 });
    const other = makeTestPki({ ids: ["ES-MJ"], days: 30, caName: "another CA" });
    const es = pki.authorities["ES-MJ"]!;
    const later = pki.issue("ES-MJ", "sign", {
      now: new Date(pki.now.getTime() + 10 * 86_400_000),
    });
    const certs = [es.sign, es.enc, es.tls, later, other.authorities["ES-MJ"]!.sign];
    const roles: Role[] = ["sign", "enc", "tls"];
    const day = 86_400_000;
    const instants = [-40, -1, 0, 5, 15, 29, 31, 45, 100].map(
      (d) => new Date(pki.now.getTime() + d * day),
    );
    const revocations = [new Set<string>(), new Set([es.sign.serial])];
    const validate = createCachedValidator(pki.ca.certificate);
    let compared = 0;
    const codes = new Set<string>();
    // Two passes: the second runs entirely on cached static results.
    for (let pass = 0; pass < 2; pass++) {
      for (const key of certs) {
        for (const role of roles) {
          for (const cn of ["ES-MJ", "CO-FGN"]) {
            for (const at of instants) {
              for (const revokedSerials of revocations) {
                const options = { role, at, revokedSerials, expectedCommonName: cn };
                const expected = codeOf(() =>
                  validateCertificate(key.certificate, { ca: pki.ca.certificate, ...options }),
                );
                const actual = codeOf(() => validate(key.certificate, options));
                assert.equal(
                  actual,
                  expected,
                  `${key.role} as ${role} CN=${cn} at ${at.toISOString()}`,
                );
                codes.add(actual);
                compared++;
              }
            }
          }
        }
      }
    }
    assert.ok(compared > 1000);
    for (const code of [
      "ok",
      "CERT_EXPIRED",
      "CERT_NOT_YET_VALID",
      "CERT_REVOKED",
      "CERT_KEY_USAGE",
      "CERT_UNTRUSTED",
      "CERT_SUBJECT_MISMATCH",
    ]) {
      assert.ok(codes.has(code), `covered ${code}`);
    }
  });
});
