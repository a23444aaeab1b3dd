/**
 * What the HTTP surfaces and the worker of one node share (STYLE.md 8: one composition root,
 * overrides for tests). Built by node.ts; tests can build one by hand.
 */
import type { X509Certificate } from "node:crypto";
import type { Logger } from "../log.ts";
import type { ReceiveContext } from "../peer/receive-envelope.ts";
import type { BlobStore, Store } from "../store/index.ts";
import type { NodeConfig } from "./config.ts";
import type { AuthorityKeys, NetworkTrust } from "./load-identity.ts";

export interface NodeContext {
  readonly config: NodeConfig;
  readonly authorityId: string;
  readonly keys: AuthorityKeys;
  readonly ca: X509Certificate;
  /** The current network view (directory + trust); replaced when a newer directory is loaded. */
  network(): NetworkTrust;
  readonly store: Store;
  readonly log: Logger;
  now(): Date;
  /** Wakes the outbox worker (a message was queued). */
  kickOutbox(): void;
}

/** What the peer API needs of a node (src/peer/receive-envelope.ts), from its context. */
export function receiveContextOf(ctx: NodeContext, blobs: BlobStore): ReceiveContext {
  return {
    self: {
      authorityId: ctx.authorityId,
      sign: ctx.keys.sign,
      enc: ctx.keys.enc,
      chain: [ctx.ca],
    },
    trust: () => ctx.network().trust,
    languages: () => ctx.network().directory.authority(ctx.authorityId).languages,
    store: ctx.store,
    blobs,
    now: ctx.now,
    log: ctx.log,
  };
}
