import assert from "node:assert/strict";
import type { X509Certificate } from "node:crypto";
import { before, describe, it } from "node:test";
import { anchorTrust } from "../../src/directory/anchor-trust.ts";
import { signDirectory } from "../../src/directory/build-directory.ts";
import { directoryTrust } from "../../src/directory/directory-trust.ts";
import {
  addAuthority,
  createDirectoryContent,
  revokeAuthority,
  revokeSerial,
} from "../../src/directory/edit-directory.ts";
import { loadDirectory } from "../../src/directory/load-directory.ts";
import {
  type AuthorityEntry,
  DIRECTORY_TYP,
  type DirectoryContent,
} from "../../src/directory/schema.ts";
import { signJws, verifyJws } from "../../src/envelope/jws.ts";
import { certificateSha256, normalizeSerial } from "../../src/pki/fingerprint.ts";
import { FIXED_NOW, makeTestPki, type TestKey, type TestPki } from "../helpers/pki-fixture.ts";

const DAY = 86_400_000;
const encoder = new TextEncoder();

function listed(key: TestKey) {
  return {
    role: key.role as "sign" | "enc" | "tls",
    sha256: certificateSha256(key.certificate),
    der: key.certificate.raw.toString("base64"),
  };
}

function entryFor(pki: TestPki, id: string, port: number): AuthorityEntry {
  const a = pki.authorities[id]!;
  return {
    id,
    name: `${id} central authority`,
    country: id.slice(0, 2),
    endpoint: `https://127.0.0.1:${port}`,
    languages: ["es", "en"],
    competences: ["mla", "extradition"],
    certificates: [listed(a.sign), listed(a.enc), listed(a.tls)],
  };
}

/** Rejects with a coded error; returns it for further checks. */
async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<Error> {
  let caught: unknown;
  await promise.then(
    () => assert.fail(`expected ${code}, got success`),
    (e) => {
      caught = e;
    },
  );
  assert.equal((caught as { code?: string }).code, code, String(caught));
  return caught as Error;
}

function throwsWithCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: { code?: string }) => e.code === code);
}

describe("signed directory", () => {
  let pki: TestPki;
  let other: TestPki;
  /** A sign certificate for ES-MJ from another CA. */
  let foreignSign: TestKey;
  let content: DirectoryContent;
  let jws: string;
  const sign = (c: DirectoryContent) =>
    signDirectory(c, { signer: pki.directorySigner, ca: pki.ca.certificate });
  const load = (
    token: string,
    options: { now?: Date; minSerial?: number; allowStale?: boolean } = {},
  ) => loadDirectory(token, { ca: pki.ca.certificate, now: FIXED_NOW, ...options });

  before(async () => {
    pki = makeTestPki();
    other = makeTestPki({ ids: [], caName: "another CA" });
    foreignSign = other.issue("ES-MJ", "sign");
    content = createDirectoryContent(
      "test network",
      ["ES-MJ", "CO-FGN", "IT-MG"].map((id, i) => entryFor(pki, id, 8443 + i)),
      { now: FIXED_NOW, validityDays: 30 },
    );
    jws = await sign(content);
  });

  describe("sign and load", () => {
    it("round-trips and exposes a frozen directory", async () => {
      const d = await load(jws);
      assert.equal(d.serial, 1);
      assert.equal(d.network, "test network");
      assert.equal(d.stale, false);
      assert.deepEqual(
        d.authorities.map((a) => a.id),
        ["ES-MJ", "CO-FGN", "IT-MG"],
      );
      const es = d.authority("ES-MJ");
      assert.equal(es.endpoint, "https://127.0.0.1:8443");
      assert.deepEqual(
        es.certificates.map((c) => c.role),
        ["sign", "enc", "tls"],
      );
      const sha = certificateSha256(pki.authorities["ES-MJ"]!.sign.certificate);
      assert.equal(d.pinned(sha)?.authorityId, "ES-MJ");
      assert.ok(Object.isFrozen(d));
      assert.ok(Object.isFrozen(d.content.authorities[0]));
      assert.throws(() => (d.revokedSerials as Set<string>).add("01"), TypeError);
      throwsWithCode(() => d.authority("FR-MJ"), "AUTHORITY_UNKNOWN");
      assert.equal(d.findAuthority("FR-MJ"), undefined);
    });

    it("refuses a tampered payload", async () => {
      const [h, p, s] = jws.split(".");
      const payload = JSON.parse(Buffer.from(p!, "base64url").toString("utf8"));
      payload.authorities[0].endpoint = "https://evil.example:443";
      const forged = [h, Buffer.from(JSON.stringify(payload)).toString("base64url"), s].join(".");
      await rejectsWithCode(load(forged), "DIRECTORY_SIGNATURE_INVALID");
    });

    it("refuses a directory signed with an authority's sign key (key separation)", async () => {
      const token = await signJws(encoder.encode(JSON.stringify(content)), {
        typ: DIRECTORY_TYP,
        key: pki.authorities["ES-MJ"]!.sign,
        chain: [pki.ca.certificate],
      });
      const e = await rejectsWithCode(load(token), "DIRECTORY_SIGNATURE_INVALID");
      assert.equal((e.cause as { code?: string }).code, "SIGNER_KEY_ROLE");
    });

    it("refuses a directory signed by another CA's directory signer", async () => {
      const token = await signJws(encoder.encode(JSON.stringify(content)), {
        typ: DIRECTORY_TYP,
        key: other.directorySigner,
        chain: [pki.ca.certificate],
      });
      const e = await rejectsWithCode(load(token), "DIRECTORY_SIGNATURE_INVALID");
      assert.equal((e.cause as { code?: string }).code, "CERT_UNTRUSTED");
    });

    it("refuses a wrong typ or a non-JWS", async () => {
      const token = await signJws(encoder.encode(JSON.stringify(content)), {
        typ: "mlax-message+jws",
        key: pki.directorySigner,
        chain: [pki.ca.certificate],
      });
      await rejectsWithCode(load(token), "DIRECTORY_MALFORMED");
      await rejectsWithCode(load("not a jws"), "DIRECTORY_MALFORMED");
      await rejectsWithCode(load(`${jws} `), "DIRECTORY_MALFORMED");
    });

    it("refuses a lower serial (rollback) and accepts the same or a higher one", async () => {
      const e = await rejectsWithCode(load(jws, { minSerial: 2 }), "DIRECTORY_ROLLBACK");
      assert.equal((e as unknown as { details: { serial: number } }).details.serial, 1);
      assert.equal((await load(jws, { minSerial: 1 })).serial, 1);
    });

    it("refuses a directory past its nextUpdate unless stale ones are allowed", async () => {
      const after = new Date(Date.parse(content.nextUpdate) + 1);
      await rejectsWithCode(load(jws, { now: after }), "DIRECTORY_EXPIRED");
      const stale = await load(jws, { now: after, allowStale: true });
      assert.equal(stale.stale, true);
    });

    it("refuses a directory issued in the future", async () => {
      const future = {
        ...content,
        issuedAt: new Date(FIXED_NOW.getTime() + 3_600_000).toISOString(),
      };
      await rejectsWithCode(load(await sign(future)), "DIRECTORY_MALFORMED");
    });

    it("refuses a sha256 pin that does not match the der", async () => {
      const entry = entryFor(pki, "ES-MJ", 8443);
      entry.certificates[0] = { ...entry.certificates[0]!, sha256: "ab".repeat(32) };
      await rejectsWithCode(
        load(await sign({ ...content, authorities: [entry] })),
        "DIRECTORY_MALFORMED",
      );
    });

    it("refuses a listed certificate under another authority, role or CA", async () => {
      const es = pki.authorities["ES-MJ"]!;
      const wrongCn = {
        ...entryFor(pki, "CO-FGN", 8444),
        certificates: entryFor(pki, "ES-MJ", 0).certificates,
      };
      await rejectsWithCode(
        load(await sign({ ...content, authorities: [wrongCn] })),
        "DIRECTORY_MALFORMED",
      );

      const swapped = entryFor(pki, "ES-MJ", 8443);
      swapped.certificates = [
        { ...listed(es.enc), role: "sign" },
        { ...listed(es.sign), role: "enc" },
        listed(es.tls),
      ];
      await rejectsWithCode(
        load(await sign({ ...content, authorities: [swapped] })),
        "DIRECTORY_MALFORMED",
      );

      const foreign = entryFor(pki, "ES-MJ", 8443);
      foreign.certificates[0] = listed(foreignSign);
      await rejectsWithCode(
        load(await sign({ ...content, authorities: [foreign] })),
        "DIRECTORY_MALFORMED",
      );
    });

    it("refuses content outside the schema", async () => {
      const badContents: unknown[] = [
        { ...content, extra: 1 },
        { ...content, serial: 0 },
        { ...content, authorities: [entryFor(pki, "ES-MJ", 1), entryFor(pki, "ES-MJ", 2)] },
        {
          ...content,
          authorities: [{ ...entryFor(pki, "ES-MJ", 1), endpoint: "http://127.0.0.1:1" }],
        },
        { ...content, authorities: [{ ...entryFor(pki, "ES-MJ", 1), country: "FR" }] },
        { ...content, authorities: [{ ...entryFor(pki, "ES-MJ", 1), competences: ["tax"] }] },
        { ...content, authorities: Array.from({ length: 501 }, () => entryFor(pki, "ES-MJ", 1)) },
      ];
      for (const bad of badContents) {
        const token = await signJws(encoder.encode(JSON.stringify(bad)), {
          typ: DIRECTORY_TYP,
          key: pki.directorySigner,
          chain: [pki.ca.certificate],
        });
        await rejectsWithCode(load(token), "DIRECTORY_MALFORMED");
        await rejectsWithCode(sign(bad as DirectoryContent), "DIRECTORY_MALFORMED");
      }
    });
  });

  describe("directoryTrust", () => {
    it("resolves a pinned signer and verifies a message JWS with it", async () => {
      const d = await load(jws);
      const trust = directoryTrust(d, { ca: pki.ca.certificate });
      const es = pki.authorities["ES-MJ"]!;
      const pin = trust.resolveSigner([es.sign.certificate], [FIXED_NOW]);
      assert.equal(pin.authorityId, "ES-MJ");
      assert.equal(pin.role, "sign");
      const token = await signJws(encoder.encode("{}"), { typ: "mlax-message+jws", key: es.sign });
      const verified = await verifyJws(token, {
        typ: "mlax-message+jws",
        trust,
        at: [FIXED_NOW],
        role: "sign",
      });
      assert.equal(verified.signer.authorityId, "ES-MJ");
      const byEnc = await signJws(encoder.encode("{}"), { typ: "mlax-message+jws", key: es.enc });
      await rejectsWithCode(
        verifyJws(byEnc, { typ: "mlax-message+jws", trust, at: [FIXED_NOW], role: "sign" }),
        "SIGNER_KEY_ROLE",
      );
    });

    it("refuses an unpinned certificate of our CA (SIGNER_UNKNOWN) and one of another CA (CERT_UNTRUSTED)", async () => {
      const trust = directoryTrust(await load(jws), { ca: pki.ca.certificate });
      const unpinned = pki.issue("ES-MJ", "sign");
      throwsWithCode(
        () => trust.resolveSigner([unpinned.certificate], [FIXED_NOW]),
        "SIGNER_UNKNOWN",
      );
      throwsWithCode(
        () => trust.resolveSigner([foreignSign.certificate], [FIXED_NOW]),
        "CERT_UNTRUSTED",
      );
      throwsWithCode(() => trust.resolveSigner([], [FIXED_NOW]), "SIGNER_UNKNOWN");
    });

    it("refuses a revoked certificate and one expired at a given instant", async () => {
      const { content: revoked } = revokeAuthority(content, "CO-FGN", {
        now: FIXED_NOW,
        reason: "key compromise",
      });
      const d = await load(await sign(revoked));
      const trust = directoryTrust(d, { ca: pki.ca.certificate });
      const co = pki.authorities["CO-FGN"]!;
      throwsWithCode(() => trust.resolveSigner([co.sign.certificate], [FIXED_NOW]), "CERT_REVOKED");
      throwsWithCode(() => trust.encryptionCertificate("CO-FGN", FIXED_NOW), "CERT_REVOKED");
      const es = pki.authorities["ES-MJ"]!;
      const late = new Date(Date.parse(es.sign.certificate.validTo) + DAY);
      throwsWithCode(
        () => trust.resolveSigner([es.sign.certificate], [FIXED_NOW, late]),
        "CERT_EXPIRED",
      );
    });

    it("chooses the newest usable enc certificate", async () => {
      const es = pki.authorities["ES-MJ"]!;
      const newer = pki.issue("ES-MJ", "enc", { now: new Date(FIXED_NOW.getTime() + DAY) });
      const entry = entryFor(pki, "ES-MJ", 8443);
      entry.certificates.push(listed(newer));
      const c = { ...content, authorities: [entry] };
      const trust = directoryTrust(await load(await sign(c)), { ca: pki.ca.certificate });
      const sha = (x: X509Certificate) => certificateSha256(x);
      // Before the newer one is valid, the older one; after, the newer one.
      assert.equal(trust.encryptionCertificate("ES-MJ", FIXED_NOW).sha256, sha(es.enc.certificate));
      const later = new Date(FIXED_NOW.getTime() + 2 * DAY);
      assert.equal(trust.encryptionCertificate("ES-MJ", later).sha256, sha(newer.certificate));
      // Newer one revoked: back to the older one.
      const { content: revoked } = revokeSerial(c, newer.serial, { now: FIXED_NOW });
      const trust2 = directoryTrust(await load(await sign(revoked)), { ca: pki.ca.certificate });
      assert.equal(trust2.encryptionCertificate("ES-MJ", later).sha256, sha(es.enc.certificate));
      throwsWithCode(() => trust2.encryptionCertificate("FR-MJ", later), "AUTHORITY_UNKNOWN");
    });
  });

  describe("anchorTrust", () => {
    it("resolves a certificate of the CA by its role and CN, and nothing else", () => {
      const trust = anchorTrust({ ca: pki.ca.certificate });
      const es = pki.authorities["ES-MJ"]!;
      const pin = trust.resolveSigner([es.sign.certificate], [FIXED_NOW]);
      assert.equal(pin.authorityId, "ES-MJ");
      assert.equal(pin.role, "sign");
      assert.equal(trust.resolveSigner([es.enc.certificate], [FIXED_NOW]).role, "enc");
      throwsWithCode(
        () => trust.resolveSigner([foreignSign.certificate], [FIXED_NOW]),
        "CERT_UNTRUSTED",
      );
      throwsWithCode(() => trust.encryptionCertificate("ES-MJ", FIXED_NOW), "AUTHORITY_UNKNOWN");
      const revoked = anchorTrust({
        ca: pki.ca.certificate,
        revokedSerials: new Set([normalizeSerial(es.sign.certificate.serialNumber)]),
      });
      throwsWithCode(
        () => revoked.resolveSigner([es.sign.certificate], [FIXED_NOW]),
        "CERT_REVOKED",
      );
    });
  });

  describe("editions", () => {
    it("adds an authority with serial + 1 and refuses a duplicate", async () => {
      const later = new Date(FIXED_NOW.getTime() + 60_000);
      const base = { ...content, authorities: content.authorities.slice(0, 2) };
      const next = addAuthority(base, entryFor(pki, "IT-MG", 8445), {
        now: later,
        validityDays: 7,
      });
      assert.equal(next.serial, 2);
      assert.equal(next.issuedAt, later.toISOString());
      assert.equal(next.nextUpdate, new Date(later.getTime() + 7 * DAY).toISOString());
      assert.equal(
        (await load(await sign(next), { now: later, minSerial: 1 })).authorities.length,
        3,
      );
      throwsWithCode(
        () => addAuthority(next, entryFor(pki, "IT-MG", 8445), { now: later }),
        "AUTHORITY_EXISTS",
      );
      throwsWithCode(
        () =>
          addAuthority(base, { ...entryFor(pki, "IT-MG", 8445), languages: [] }, { now: later }),
        "INPUT_INVALID",
      );
    });

    it("revokes every certificate of an authority, or one serial, once", () => {
      const es = pki.authorities["ES-MJ"]!;
      const { content: next, revoked } = revokeAuthority(content, "ES-MJ", { now: FIXED_NOW });
      assert.equal(next.serial, 2);
      assert.deepEqual(
        revoked.map((r) => r.serial).sort(),
        [es.sign, es.enc, es.tls].map((k) => normalizeSerial(k.certificate.serialNumber)).sort(),
      );
      throwsWithCode(() => revokeAuthority(next, "ES-MJ", { now: FIXED_NOW }), "INPUT_INVALID");
      throwsWithCode(
        () => revokeAuthority(content, "FR-MJ", { now: FIXED_NOW }),
        "AUTHORITY_UNKNOWN",
      );
      const one = revokeSerial(content, `00:${es.tls.serial}`, { now: FIXED_NOW, reason: "lost" });
      assert.deepEqual(
        one.revoked.map((r) => [r.serial, r.reason]),
        [[es.tls.serial, "lost"]],
      );
      throwsWithCode(() => revokeSerial(content, "xyz", { now: FIXED_NOW }), "INPUT_INVALID");
    });
  });
});
