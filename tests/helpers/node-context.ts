/**
 * A real NodeContext for tests, without files of keys or a running server: the fixture PKI, a
 * directory signed by the fixture's directory signer and loaded like a node loads it
 * (loadDirectory → directoryTrust), the authority's fixture keys, and a real SQLite store in a
 * temporary folder, all under one settable clock (FIXED_NOW by default).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { certsLayout } from "../../src/cli/files.ts";
import { signDirectory } from "../../src/directory/build-directory.ts";
import { directoryTrust } from "../../src/directory/directory-trust.ts";
import { createDirectoryContent } from "../../src/directory/edit-directory.ts";
import { defaultAuthorityProfile } from "../../src/directory/known-authorities.ts";
import { loadDirectory } from "../../src/directory/load-directory.ts";
import type { AuthorityEntry } from "../../src/directory/schema.ts";
import { silentLogger } from "../../src/log.ts";
import { parseNodeConfig } from "../../src/node/config.ts";
import type { NodeContext } from "../../src/node/context.ts";
import type { AuthorityKeys, NetworkTrust } from "../../src/node/load-identity.ts";
import { certificateSha256 } from "../../src/pki/fingerprint.ts";
import { openStore, type Store } from "../../src/store/index.ts";
import { makeTestPki, type TestKey, type TestPki } from "./pki-fixture.ts";

export interface TestClock {
  now(): Date;
  set(at: Date): void;
  advance(ms: number): void;
}

export function testClock(start: Date): TestClock {
  let t = start.getTime();
  return {
    now: () => new Date(t),
    set: (at) => {
      t = at.getTime();
    },
    advance: (ms) => {
      t += ms;
    },
  };
}

function listed(key: TestKey) {
  return {
    role: key.role as "sign" | "enc" | "tls",
    sha256: certificateSha256(key.certificate),
    der: key.certificate.raw.toString("base64"),
  };
}

/** A directory entry for a fixture authority (default profile languages, endpoints 8443+i). */
export function testAuthorityEntry(pki: TestPki, id: string, port: number): AuthorityEntry {
  const a = pki.authorities[id];
  if (!a) throw new Error(`${id} is not in the test PKI`);
  const profile = defaultAuthorityProfile(id);
  return {
    id,
    name: profile.name,
    country: id.slice(0, 2),
    endpoint: `https://127.0.0.1:${port}`,
    languages: [...profile.languages],
    competences: [...profile.competences],
    certificates: [listed(a.sign), listed(a.enc), listed(a.tls)],
  };
}

/** The network view every fixture authority shares: a signed, loaded directory (serial 1). */
export async function testNetworkTrust(
  pki: TestPki,
  options: { now?: Date; certsDir?: string; entries?: readonly AuthorityEntry[] } = {},
): Promise<NetworkTrust> {
  const now = options.now ?? pki.now;
  const entries =
    options.entries ??
    Object.keys(pki.authorities).map((id, i) => testAuthorityEntry(pki, id, 8443 + i));
  const content = createDirectoryContent("mlax test network", entries, { now, validityDays: 30 });
  const jws = await signDirectory(content, { signer: pki.directorySigner, ca: pki.ca.certificate });
  const directory = await loadDirectory(jws, { ca: pki.ca.certificate, now });
  return {
    layout: certsLayout(options.certsDir ?? join(tmpdir(), "mlax-test-certs-unused")),
    ca: pki.ca.certificate,
    directory,
    trust: directoryTrust(directory, { ca: pki.ca.certificate }),
  };
}

export interface TestNode {
  readonly ctx: NodeContext;
  readonly pki: TestPki;
  readonly store: Store;
  readonly clock: TestClock;
  readonly dataDir: string;
  readonly storePath: string;
  /** How many times `ctx.kickOutbox()` was called. */
  kicks(): number;
  /** Replaces the network view (a newer directory). */
  setNetwork(network: NetworkTrust): void;
  /** Closes the store and removes the temporary folder. */
  close(): void;
}

export interface MakeTestNodeOptions {
  /** Reuse a fixture (key generation is the slow part); one is made otherwise. */
  readonly pki?: TestPki;
  /** Default ES-MJ. */
  readonly authorityId?: string;
  /** Default: the fixture's clock. */
  readonly now?: Date;
  /** Reuse a network view (e.g. shared by several test nodes). */
  readonly network?: NetworkTrust;
}

export async function makeTestNode(options: MakeTestNodeOptions = {}): Promise<TestNode> {
  const pki = options.pki ?? makeTestPki();
  const authorityId = options.authorityId ?? "ES-MJ";
  const authority = pki.authorities[authorityId];
  if (!authority) throw new Error(`${authorityId} is not in the test PKI`);
  const clock = testClock(options.now ?? pki.now);
  const dataDir = mkdtempSync(join(tmpdir(), "mlax-node-"));
  const storePath = join(dataDir, "store.sqlite");
  let network = options.network ?? (await testNetworkTrust(pki, { now: clock.now() }));
  const store = openStore(storePath, { now: clock.now });
  store.raiseDirectorySerial(network.directory.serial);
  let kicks = 0;
  const keys: AuthorityKeys = { sign: authority.sign, enc: authority.enc, tls: authority.tls };
  const ctx: NodeContext = {
    config: parseNodeConfig({ authorityId, certsDir: network.layout.root, dataDir }),
    authorityId,
    keys,
    ca: pki.ca.certificate,
    network: () => network,
    store,
    log: silentLogger(),
    now: clock.now,
    kickOutbox: () => {
      kicks += 1;
    },
  };
  return {
    ctx,
    pki,
    store,
    clock,
    dataDir,
    storePath,
    kicks: () => kicks,
    setNetwork: (next) => {
      network = next;
    },
    close: () => {
      store.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
