/**
 * The outbound client pins the server: a node that answers on another authority's endpoint with a
 * valid certificate from the same CA is refused at the handshake.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { createPeerClient } from "../../src/delivery/peer-client.ts";
import { certificateSha256 } from "../../src/pki/fingerprint.ts";
import { makeTestPki, type TestPki } from "../helpers/pki-fixture.ts";

describe("peer client", () => {
  let pki: TestPki;
  let server: Server;
  let url: string;

  before(async () => {
    pki = makeTestPki({ now: new Date() });
    const es = pki.authorities["ES-MJ"]!;
    server = createServer(
      {
        ca: pki.ca.certPem,
        cert: es.tls.certPem,
        key: es.tls.privateKeyPem,
        requestCert: true,
        rejectUnauthorized: true,
      },
      (_req, res) => {
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ receipt: "r" }));
      },
    );
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(() => new Promise<void>((r) => server.close(() => r())));

  const clientWithPins = (pins: Record<string, string[]>) => {
    const co = pki.authorities["CO-FGN"]!;
    return createPeerClient({
      ca: pki.ca.certPem,
      certPem: co.tls.certPem,
      keyPem: co.tls.privateKeyPem,
      serverPins: (id) => pins[id] ?? [],
    });
  };

  it("talks to the server whose tls certificate is pinned for the recipient", async () => {
    const client = clientWithPins({
      "ES-MJ": [certificateSha256(pki.authorities["ES-MJ"]!.tls.certificate)],
    });
    try {
      const r = await client.postEnvelope("ES-MJ", url, "x.y.z.w.v");
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, { receipt: "r" });
    } finally {
      await client.close();
    }
  });

  it("refuses a server with a valid certificate of another authority", async () => {
    const client = clientWithPins({
      "IT-MG": [certificateSha256(pki.authorities["IT-MG"]!.tls.certificate)],
    });
    try {
      await assert.rejects(
        client.postEnvelope("IT-MG", url, "x.y.z.w.v"),
        (e: { code?: string; message?: string }) => {
          assert.equal(e.code, "PEER_UNREACHABLE");
          assert.match(e.message ?? "", /not a tls certificate pinned for IT-MG/);
          return true;
        },
      );
    } finally {
      await client.close();
    }
  });
});
