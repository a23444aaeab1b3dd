/**
 * The peer port drops slow clients (THREATS.md: slowloris): a TCP connection that never finishes
 * the TLS handshake, and an authenticated client that drips its headers, are both cut after their
 * timeouts. Limits are shortened for the test; the production values are in PEER_SERVER_LIMITS.
 */
import assert from "node:assert/strict";
import type { Server } from "node:https";
import { type AddressInfo, connect as netConnect } from "node:net";
import { after, before, describe, it } from "node:test";
import { connect as tlsConnect } from "node:tls";
import express from "express";
import { createPeerServer, PEER_SERVER_LIMITS } from "../../src/peer/server.ts";
import { makeTestPki, type TestPki } from "../helpers/pki-fixture.ts";

describe("peer server timeouts", () => {
  let pki: TestPki;
  let server: Server;
  let port: number;

  before(async () => {
    pki = makeTestPki({ ids: ["ES-MJ", "CO-FGN"], now: new Date() });
    const es = pki.authorities["ES-MJ"]!;
    const app = express();
    app.post("/", (_req, res) => res.send("ok"));
    server = createPeerServer(
      app,
      { caPem: pki.ca.certPem, certPem: es.tls.certPem, keyPem: es.tls.privateKeyPem },
      {
        ...PEER_SERVER_LIMITS,
        handshakeTimeoutMs: 800,
        headersTimeoutMs: 800,
        timeoutCheckIntervalMs: 200,
      },
    );
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    port = (server.address() as AddressInfo).port;
  });

  after(() => new Promise<void>((r) => server.close(() => r())));

  it("production limits bound every wait", () => {
    assert.ok(PEER_SERVER_LIMITS.headersTimeoutMs <= 10_000);
    assert.ok(PEER_SERVER_LIMITS.timeoutCheckIntervalMs <= 1_000);
    assert.ok(PEER_SERVER_LIMITS.handshakeTimeoutMs <= 10_000);
  });

  it("closes a connection that never starts the TLS handshake", async () => {
    const started = Date.now();
    await new Promise<void>((resolve, reject) => {
      const socket = netConnect(port, "127.0.0.1");
      const guard = setTimeout(() => reject(new Error("still open after 5 s")), 5_000);
      socket.on("close", () => {
        clearTimeout(guard);
        resolve();
      });
      socket.on("error", () => undefined);
    });
    assert.ok(Date.now() - started < 5_000);
  });

  it("cuts an authenticated client that drips its headers", async () => {
    const co = pki.authorities["CO-FGN"]!;
    const started = Date.now();
    let drips = 0;
    await new Promise<void>((resolve, reject) => {
      const socket = tlsConnect({
        host: "127.0.0.1",
        port,
        ca: pki.ca.certPem,
        cert: co.tls.certPem,
        key: co.tls.privateKeyPem,
        servername: "localhost",
      });
      let timer: NodeJS.Timeout | undefined;
      const guard = setTimeout(() => reject(new Error("still open after 6 s")), 6_000);
      socket.on("secureConnect", () => {
        socket.write("POST / HTTP/1.1\r\nHost: localhost\r\n");
        timer = setInterval(() => {
          drips++;
          socket.write(`X-Drip-${drips}: a\r\n`);
        }, 150);
      });
      socket.on("data", () => undefined);
      socket.on("close", () => {
        clearInterval(timer);
        clearTimeout(guard);
        resolve();
      });
      socket.on("error", () => undefined);
    });
    assert.ok(drips >= 2, "the client was dripping when it was cut");
    assert.ok(Date.now() - started < 6_000);
  });
});
