/**
 * One problem+json handler per HTTP surface: framework failures caused by the client are 4xx with
 * our codes (never 500), and an error's details never overwrite the problem's own members.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import express from "express";
import multer from "multer";
import request from "supertest";
import { InputError, MlaxError } from "../../src/errors.ts";
import { problemHandler, routeNotFound } from "../../src/http/problem.ts";
import { silentLogger } from "../../src/log.ts";

function app() {
  const a = express();
  a.post("/json", express.json({ limit: 1024 }), (_req, res) => void res.json({ ok: true }));
  a.post(
    "/multipart",
    multer({ limits: { fields: 2, files: 0, parts: 2 } }).none(),
    (_req, res) => void res.json({ ok: true }),
  );
  a.get("/details", () => {
    throw new InputError("INPUT_INVALID", "bad body", {
      details: { type: "request", status: 200, issues: [] },
    });
  });
  a.get("/boom", () => {
    throw new Error("secret internal detail");
  });
  a.get("/internal-coded", () => {
    throw new MlaxError("STORE_FAILED", "disk path /var/secret", {
      details: { path: "/var/secret" },
    });
  });
  a.use(routeNotFound);
  a.use(problemHandler(silentLogger()));
  return a;
}

describe("problem+json", () => {
  it("maps body-parser failures to 4xx codes", async () => {
    const bad = await request(app())
      .post("/json")
      .set("content-type", "application/json")
      .send("{nope");
    assert.equal(bad.status, 400);
    assert.equal(bad.body.code, "INPUT_INVALID");
    const charset = await request(app())
      .post("/json")
      .set("content-type", "application/json; charset=latin1")
      .send("{}");
    assert.equal(charset.status, 400);
    assert.equal(charset.body.code, "INPUT_INVALID");
    const big = await request(app())
      .post("/json")
      .send({ x: "y".repeat(5000) });
    assert.equal(big.status, 413);
    assert.equal(big.body.code, "INPUT_TOO_LARGE");
  });

  it("maps a truncated or malformed multipart body to MULTIPART_INVALID", async () => {
    const truncated = await request(app())
      .post("/multipart")
      .set("content-type", "multipart/form-data; boundary=XYZ")
      .send('--XYZ\r\nContent-Disposition: form-data; name="a"\r\n\r\nvalue');
    assert.equal(truncated.status, 400);
    assert.equal(truncated.body.code, "MULTIPART_INVALID");
    const tooMany = await request(app())
      .post("/multipart")
      .field("a", "1")
      .field("b", "2")
      .field("c", "3");
    assert.equal(tooMany.status, 400);
    assert.equal(tooMany.body.code, "MULTIPART_INVALID");
  });

  it("keeps its own members whatever the details say, and hides 500s", async () => {
    const r = await request(app()).get("/details");
    assert.equal(r.status, 400);
    assert.match(r.headers["content-type"] ?? "", /^application\/problem\+json/);
    assert.equal(r.body.type, "urn:mlax:error:INPUT_INVALID");
    assert.equal(r.body.status, 400);
    assert.equal(r.body.code, "INPUT_INVALID");
    for (const path of ["/boom", "/internal-coded"]) {
      const e = await request(app()).get(path);
      assert.equal(e.status, 500);
      assert.equal(e.body.detail, undefined);
      assert.doesNotMatch(e.text, /secret/);
    }
    const missing = await request(app()).get("/nowhere");
    assert.equal(missing.body.code, "ROUTE_NOT_FOUND");
  });
});
