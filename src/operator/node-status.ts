/**
 * `GET /api/v1/status` (`mlax status`): who this node is, which directory it trusts, how its
 * outbox and inbox stand, and whether its audit chain holds. Failed deliveries, a broken audit
 * chain and a directory past its nextUpdate are listed in `warnings`, so they are never silent
 * (DESIGN.md "Delivery").
 *
 * States are counted exactly by the store (`countMessages`); `capped` stays empty and is kept
 * for clients that read it.
 */
import type { NodeContext } from "../node/context.ts";
import type { AuditChainResult } from "../store/index.ts";
import { INBOX_STATES, OUTBOX_STATES } from "./api-schemas.ts";

const _PAGE = 200;
const RECENT_FAILURES = 5;

export interface StateCounts<S extends string> {
  readonly counts: Readonly<Record<S, number>>;
  /** Always empty now that counts are exact; kept for API compatibility. */
  readonly capped: readonly S[];
}

export interface FailedDelivery {
  readonly id: string;
  readonly to: string;
  readonly type: string;
  readonly queuedAt: string;
  readonly lastErrorCode: string | null;
  readonly lastError: string | null;
}

export interface NodeStatus {
  readonly authorityId: string;
  readonly time: string;
  readonly directory: {
    readonly network: string;
    readonly serial: number;
    readonly issuedAt: string;
    readonly nextUpdate: string;
    /** Past nextUpdate: refresh the directory (`mlax directory …`). */
    readonly stale: boolean;
  };
  readonly outbox: StateCounts<(typeof OUTBOX_STATES)[number]> & {
    readonly recentFailures: readonly FailedDelivery[];
  };
  readonly inbox: StateCounts<(typeof INBOX_STATES)[number]>;
  readonly audit: AuditChainResult & {
    readonly lastCheckpoint?: { readonly seq: number; readonly createdAt: string };
  };
  readonly lastSecurityEvent?: { readonly id: number; readonly at: string; readonly kind: string };
  readonly store: { readonly schemaVersion: number };
  readonly warnings: readonly string[];
}

function countStates<S extends string>(
  ctx: NodeContext,
  box: "inbox" | "outbox",
  states: readonly S[],
): StateCounts<S> {
  const found = ctx.store.countMessages(box);
  const counts = {} as Record<S, number>;
  for (const state of states) counts[state] = found[state] ?? 0;
  return { counts, capped: [] };
}

export function nodeStatus(ctx: NodeContext): NodeStatus {
  const now = ctx.now();
  const { directory } = ctx.network();
  const stale = directory.stale || Date.parse(directory.nextUpdate) <= now.getTime();

  const outbox = countStates(ctx, "outbox", OUTBOX_STATES);
  const recentFailures = ctx.store
    .listMessages({ box: "outbox", state: "failed", limit: RECENT_FAILURES })
    .items.map((m): FailedDelivery => {
      const delivery = ctx.store.getMessage(m.id, { box: "outbox" })?.delivery;
      return {
        id: m.id,
        to: m.to,
        type: m.type,
        queuedAt: m.storedAt,
        lastErrorCode: delivery?.lastErrorCode ?? null,
        lastError: delivery?.lastError ?? null,
      };
    });
  const inbox = countStates(ctx, "inbox", INBOX_STATES);

  const chain = ctx.store.verifyAuditChain();
  const checkpoint = ctx.store.listAuditCheckpoints().at(-1);
  const event = ctx.store.listSecurityEvents({ limit: 1 })[0];

  const warnings: string[] = [];
  const failed = outbox.counts.failed;
  if (failed > 0) {
    warnings.push(
      `${failed}${outbox.capped.includes("failed") ? "+" : ""} outbound message(s) failed delivery (mlax outbox --state failed)`,
    );
  }
  if (!chain.ok) {
    warnings.push(`the audit chain is broken at seq ${chain.brokenAt} (${chain.reason})`);
  }
  if (stale) {
    warnings.push(
      `the directory (serial ${directory.serial}) is past its nextUpdate ${directory.nextUpdate}`,
    );
  }

  return {
    authorityId: ctx.authorityId,
    time: now.toISOString(),
    directory: {
      network: directory.network,
      serial: directory.serial,
      issuedAt: directory.issuedAt,
      nextUpdate: directory.nextUpdate,
      stale,
    },
    outbox: { counts: outbox.counts, capped: outbox.capped, recentFailures },
    inbox: { counts: inbox.counts, capped: inbox.capped },
    audit: {
      ...chain,
      ...(checkpoint
        ? { lastCheckpoint: { seq: checkpoint.seq, createdAt: checkpoint.createdAt } }
        : {}),
    },
    ...(event ? { lastSecurityEvent: { id: event.id, at: event.at, kind: event.kind } } : {}),
    store: { schemaVersion: ctx.store.pragmas().schemaVersion },
    warnings,
  };
}
