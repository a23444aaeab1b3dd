import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { ERROR_CODES, MlaxError, PkiError, toMlaxError } from "../../src/errors.ts";

test("every error code is documented in docs/PROTOCOL.md", () => {
  const doc = readFileSync(new URL("../../docs/PROTOCOL.md", import.meta.url), "utf8");
  const missing = Object.keys(ERROR_CODES).filter((code) => !doc.includes(`\`${code}\``));
  assert.deepEqual(missing, []);
});

test("codes carry their catalogue status and survive toJSON", () => {
  const e = new PkiError("CERT_EXPIRED", "expired at X", { details: { serial: "AB" } });
  assert.equal(e.status, 403);
  assert.equal(e.name, "PkiError");
  assert.ok(e instanceof MlaxError);
  assert.deepEqual(e.toJSON(), { code: "CERT_EXPIRED", message: "expired at X", serial: "AB" });
});

test("toMlaxError keeps MlaxErrors and wraps anything else as INTERNAL", () => {
  const e = new PkiError("CERT_REVOKED");
  assert.equal(toMlaxError(e), e);
  const wrapped = toMlaxError(new TypeError("boom"));
  assert.equal(wrapped.code, "INTERNAL");
  assert.equal(wrapped.status, 500);
  assert.ok(wrapped.cause instanceof TypeError);
});
