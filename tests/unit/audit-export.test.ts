/**
 * Offline verification of an exported audit log (DESIGN.md, "Evidence and audit"): a real store's
 * hash chain with checkpoints signed by the authority's sign key, exported as mlax-audit/1 and
 * checked against the network CA; every kind of tampering is refused with its code.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { anchorTrust } from "../../src/directory/anchor-trust.ts";
import {
  AUDIT_CHECKPOINT_TYP,
  createCheckpointSigner,
  signAuditCheckpoint,
  verifyAuditCheckpoint,
} from "../../src/envelope/audit-checkpoint.ts";
import {
  type AuditExport,
  createAuditExport,
  verifyAuditExport,
} from "../../src/envelope/audit-export.ts";
import { sha256Hex } from "../../src/envelope/digest.ts";
import { signJws } from "../../src/envelope/jws.ts";
import { newMessage } from "../../src/envelope/new-message.ts";
import type { LocalKey, TrustView } from "../../src/envelope/trust.ts";
import { MESSAGE_JWS_TYP } from "../../src/envelope/verify-message.ts";
import { AUDIT_GENESIS_HASH, auditRowHash, openStore, type Store } from "../../src/store/index.ts";
import { FIXED_NOW, makeTestPki, pinnedTrust, type TestPki } from "../helpers/pki-fixture.ts";

const codeOf =
  (code: string, details: Record<string, unknown> = {}) =>
  (e: unknown) => {
    const err = e as { code?: string; details?: Record<string, unknown> };
    assert.equal(err.code, code, String(e));
    for (const [k, v] of Object.entries(details)) assert.equal(err.details?.[k], v, k);
    return true;
  };

const clone = (value: AuditExport): AuditExport => structuredClone(value);

describe("audit export (mlax-audit/1)", () => {
  let dir: string;
  let pki: TestPki;
  let trust: TrustView;
  let store: Store;
  let base: AuditExport;
  let es: LocalKey;
  let chain: TestPki["ca"]["certificate"][];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "mlax-audit-export-"));
    pki = makeTestPki({ ids: ["ES-MJ", "CO-FGN"] });
    trust = anchorTrust({ ca: pki.ca.certificate });
    const authority = pki.authorities["ES-MJ"]!;
    es = authority.sign;
    chain = [pki.ca.certificate];
    let tick = 0;
    const clock = () => new Date(FIXED_NOW.getTime() + 1000 * tick++);
    store = openStore(join(dir, "store.sqlite"), { now: clock });

    // seq 1: an outbound message queued; seq 2..4: security events.
    const message = newMessage({
      type: "request",
      from: "ES-MJ",
      to: "CO-FGN",
      body: { kind: "mla" },
      now: FIXED_NOW,
    });
    const jws = await signJws(new TextEncoder().encode(JSON.stringify(message)), {
      typ: MESSAGE_JWS_TYP,
      key: es,
      chain,
    });
    store.enqueueOutbound({
      message,
      jws,
      payloadSha256: sha256Hex(jws),
      envelope: "a.b.c.d.e",
      urgent: false,
      priority: 0,
    });
    for (let i = 0; i < 3; i++) {
      store.recordSecurityEvent({
        kind: "client_mismatch",
        peerAuthority: "CO-FGN",
        detail: { i, note: "tls client is not the signer" },
      });
    }
    const checkpoint = await store.checkpointAudit(
      createCheckpointSigner(es, chain, "ES-MJ", clock),
    );
    assert.equal(checkpoint?.seq, 4);
    // seq 5..6: after the checkpoint, chained but not yet signed.
    for (let i = 3; i < 5; i++) {
      store.recordSecurityEvent({ kind: "envelope_rejected", detail: { i } });
    }
    assert.deepEqual(store.verifyAuditChain(), {
      ok: true,
      count: 6,
      head: store.auditHead(),
    });
    base = createAuditExport({
      authority: "ES-MJ",
      exportedAt: clock(),
      entries: store.readAuditLog(),
      checkpoints: store.listAuditCheckpoints(),
    });
  });

  after(() => {
    store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("verifies a real store's log against the network CA and warns about unsigned entries", async () => {
    const v = await verifyAuditExport(JSON.parse(JSON.stringify(base)), { trust });
    assert.equal(v.authority, "ES-MJ");
    assert.equal(v.entries, 6);
    assert.deepEqual(v.head, { seq: 6, hash: base.entries[5]?.hash });
    assert.deepEqual(v.kinds, { queued: 1, security: 5 });
    assert.equal(v.checkpointsVerified, 1);
    assert.equal(v.lastCheckpoint?.seq, 4);
    assert.equal(v.lastCheckpoint?.signerSha256, sha256Hex(es.certificate.raw));
    assert.equal(v.headCovered, false);
    assert.equal(v.unsignedEntries, 2);
    assert.equal(v.warnings.length, 1);
    // The same export under the directory-style pinning view.
    const pinned = await verifyAuditExport(base, { trust: pinnedTrust(pki) });
    assert.equal(pinned.checkpointsVerified, 1);
  });

  it("a checkpoint over the head covers it: no warning", async () => {
    const head = base.entries.at(-1)!;
    const exported = clone(base);
    exported.checkpoints.push({
      seq: head.seq,
      hash: head.hash,
      signatureJws: await signAuditCheckpoint({ head, at: FIXED_NOW, signer: es, chain }),
      createdAt: FIXED_NOW.toISOString(),
    });
    const v = await verifyAuditExport(exported, { trust });
    assert.equal(v.checkpointsVerified, 2);
    assert.equal(v.headCovered, true);
    assert.equal(v.unsignedEntries, 0);
    assert.deepEqual(v.warnings, []);
  });

  it("an empty log verifies with nothing to cover", async () => {
    const v = await verifyAuditExport(
      createAuditExport({
        authority: "ES-MJ",
        exportedAt: FIXED_NOW,
        entries: [],
        checkpoints: [],
      }),
      { trust },
    );
    assert.equal(v.entries, 0);
    assert.equal(v.head, undefined);
    assert.equal(v.headCovered, true);
    assert.deepEqual(v.warnings, []);
  });

  it("refuses an entry whose detail was changed", async () => {
    const exported = clone(base);
    exported.entries[1]!.detail.peerAuthority = "IT-MG";
    await assert.rejects(
      verifyAuditExport(exported, { trust }),
      codeOf("AUDIT_CHAIN_BROKEN", { seq: 2, reason: "hash_mismatch" }),
    );
  });

  it("refuses a removed middle entry", async () => {
    const exported = clone(base);
    exported.entries.splice(2, 1);
    await assert.rejects(
      verifyAuditExport(exported, { trust }),
      codeOf("AUDIT_CHAIN_BROKEN", { seq: 3, reason: "seq_gap" }),
    );
  });

  it("refuses a reordered pair", async () => {
    const exported = clone(base);
    const [a, b] = [exported.entries[1]!, exported.entries[2]!];
    exported.entries[1] = b;
    exported.entries[2] = a;
    await assert.rejects(
      verifyAuditExport(exported, { trust }),
      codeOf("AUDIT_CHAIN_BROKEN", { seq: 2, reason: "seq_gap" }),
    );
    // Renumbered to hide the swap, the links break instead.
    b.seq = 2;
    a.seq = 3;
    await assert.rejects(
      verifyAuditExport(exported, { trust }),
      codeOf("AUDIT_CHAIN_BROKEN", { seq: 2, reason: "prev_hash_mismatch" }),
    );
  });

  it("refuses a rewritten prefix whose hashes were all recomputed: the checkpoint pins it", async () => {
    const exported = clone(base);
    exported.entries[0]!.detail = { rewritten: true };
    let prev = AUDIT_GENESIS_HASH;
    for (const entry of exported.entries) {
      entry.prevHash = prev;
      entry.hash = auditRowHash(prev, entry);
      prev = entry.hash;
    }
    await assert.rejects(
      verifyAuditExport(exported, { trust }),
      codeOf("AUDIT_CHAIN_BROKEN", { seq: 4, reason: "checkpoint_mismatch" }),
    );
    // Also changing the unsigned copy of the checkpoint hash: the signed hash still differs.
    exported.checkpoints[0]!.hash = exported.entries[3]!.hash;
    await assert.rejects(
      verifyAuditExport(exported, { trust }),
      codeOf("AUDIT_CHAIN_BROKEN", { seq: 4, reason: "checkpoint_mismatch" }),
    );
  });

  it("refuses a truncated log that a checkpoint reaches past", async () => {
    const exported = clone(base);
    exported.entries.length = 3;
    await assert.rejects(
      verifyAuditExport(exported, { trust }),
      codeOf("AUDIT_CHAIN_BROKEN", { seq: 4, reason: "checkpoint_beyond_head" }),
    );
  });

  it("refuses a checkpoint with one signature byte changed", async () => {
    const exported = clone(base);
    const checkpoint = exported.checkpoints[0]!;
    const [h, p, s] = checkpoint.signatureJws.split(".") as [string, string, string];
    const sig = Buffer.from(s, "base64url");
    sig[10] = (sig[10] ?? 0) ^ 0x01;
    checkpoint.signatureJws = `${h}.${p}.${sig.toString("base64url")}`;
    await assert.rejects(
      verifyAuditExport(exported, { trust }),
      codeOf("ENVELOPE_SIGNATURE_INVALID", { seq: 4 }),
    );
  });

  it("refuses a checkpoint signed by another authority's sign key", async () => {
    const co = pki.authorities["CO-FGN"]!.sign;
    const head = base.entries[3]!;
    // Naming itself: not the exporting authority.
    const exported = clone(base);
    exported.checkpoints[0]!.signatureJws = await signAuditCheckpoint({
      head,
      at: FIXED_NOW,
      signer: co,
      chain,
    });
    await assert.rejects(
      verifyAuditExport(exported, { trust }),
      codeOf("SIGNER_MISMATCH", { seq: 4 }),
    );
    // Naming ES-MJ: not the authority of the certificate that signed.
    exported.checkpoints[0]!.signatureJws = await signAuditCheckpoint({
      head,
      at: FIXED_NOW,
      signer: { ...co, authorityId: "ES-MJ" },
      chain,
    });
    await assert.rejects(
      verifyAuditExport(exported, { trust }),
      codeOf("SIGNER_MISMATCH", { seq: 4 }),
    );
  });

  it("refuses a checkpoint signed with the authority's enc key", async () => {
    const exported = clone(base);
    exported.checkpoints[0]!.signatureJws = await signAuditCheckpoint({
      head: base.entries[3]!,
      at: FIXED_NOW,
      signer: pki.authorities["ES-MJ"]!.enc,
      chain,
    });
    await assert.rejects(
      verifyAuditExport(exported, { trust }),
      codeOf("SIGNER_KEY_ROLE", { seq: 4 }),
    );
  });

  it("refuses a checkpoint whose certificate was not valid at its signed time", async () => {
    const exported = clone(base);
    exported.checkpoints[0]!.signatureJws = await signAuditCheckpoint({
      head: base.entries[3]!,
      at: new Date(FIXED_NOW.getTime() + 400 * 86_400_000),
      signer: es,
      chain,
    });
    await assert.rejects(
      verifyAuditExport(exported, { trust }),
      codeOf("CERT_EXPIRED", { seq: 4 }),
    );
  });

  it("refuses a checkpoint that signs another row than the one it sits on", async () => {
    const exported = clone(base);
    exported.checkpoints[0]!.signatureJws = await signAuditCheckpoint({
      head: base.entries[2]!,
      at: FIXED_NOW,
      signer: es,
      chain,
    });
    await assert.rejects(
      verifyAuditExport(exported, { trust }),
      codeOf("AUDIT_CHAIN_BROKEN", { seq: 4, reason: "checkpoint_mismatch" }),
    );
  });

  it("refuses checkpoints out of order", async () => {
    const exported = clone(base);
    exported.checkpoints.push({ ...exported.checkpoints[0]! });
    await assert.rejects(
      verifyAuditExport(exported, { trust }),
      codeOf("AUDIT_CHAIN_BROKEN", { seq: 4, reason: "checkpoint_order" }),
    );
  });

  it("refuses what is not an mlax-audit/1 export", async () => {
    for (const mutate of [
      (e: Record<string, unknown>) => {
        e.format = "mlax-audit/2";
      },
      (e: Record<string, unknown>) => {
        e.extra = 1;
      },
      (e: Record<string, unknown>) => {
        (e.entries as Record<string, unknown>[])[0]!.seq = "1";
      },
    ]) {
      const exported = clone(base) as unknown as Record<string, unknown>;
      mutate(exported);
      await assert.rejects(verifyAuditExport(exported, { trust }), codeOf("BUNDLE_MALFORMED"));
    }
    await assert.rejects(verifyAuditExport(null, { trust }), codeOf("BUNDLE_MALFORMED"));
  });

  it("checkpoint JWS: header typ checked, signer bound to its authority", async () => {
    const token = base.checkpoints[0]!.signatureJws;
    const header = JSON.parse(Buffer.from(token.split(".")[0]!, "base64url").toString("utf8"));
    assert.equal(header.typ, AUDIT_CHECKPOINT_TYP);
    assert.equal(header.alg, "PS256");
    assert.equal(header.x5c.length, 2);
    const v = await verifyAuditCheckpoint(token, { trust, expect: { authority: "ES-MJ" } });
    assert.deepEqual(
      { ...v.payload, at: undefined },
      {
        v: 1,
        type: "audit-checkpoint",
        authority: "ES-MJ",
        seq: 4,
        hash: base.entries[3]!.hash,
        at: undefined,
      },
    );
    assert.throws(
      () => createCheckpointSigner(es, chain, "CO-FGN", () => FIXED_NOW),
      codeOf("INPUT_INVALID"),
    );
  });
});
