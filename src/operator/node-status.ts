/**
 * `GET /api/v1/status` (`mlax status`): who this node is, which directory it trusts, how its
 * outbox and inbox stand, and whether its audit chain holds. Failed deliveries, a broken audit
 * chain and a directory past its nextUpdate are listed in `warnings`, so they are never silent
 * (DESIGN.md "Delivery").
 *
 * The Store has no count query; states are counted by paging `listMessages`, up to COUNT_CAP per
 * state (a state at the cap is listed in `capped`: "at least this many").
 */
import type { NodeContext } from "../node/context.ts";
import type { AuditChainResult, ListMessagesQuery, MessageSummary } from "../store/index.ts";
import { INBOX_STATES, OUTBOX_STATES } from "./api-schemas.ts";

export const COUNT_CAP = 1000;
const PAGE = 200;
const RECENT_FAILURES = 5;

export interface StateCounts<S extends string> {
  readonly counts: Readonly<Record<S, number>>;
  /** States whose count reached COUNT_CAP (the real count may be higher). */
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

/** Pages through one listing, up to COUNT_CAP rows; returns the count and the first rows. */
function countListing(
  ctx: NodeContext,
  query: ListMessagesQuery,
): { count: number; first: MessageSummary[] } {
  let count = 0;
  let first: MessageSummary[] = [];
  let cursor: string | undefined;
  do {
    const page = ctx.store.listMessages({ ...query, limit: PAGE, cursor } as ListMessagesQuery);
    if (count === 0) first = [...page.items];
    count += page.items.length;
    cursor = page.nextCursor;
  } while (cursor !== undefined && count < COUNT_CAP);
  return { count: Math.min(count, COUNT_CAP), first };
}

function countStates<S extends string>(
  ctx: NodeContext,
  box: "inbox" | "outbox",
  states: readonly S[],
): StateCounts<S> & { firstOf: (s: S) => MessageSummary[] } {
  const counts = {} as Record<S, number>;
  const firsts = new Map<S, MessageSummary[]>();
  const capped: S[] = [];
  for (const state of states) {
    const { count, first } = countListing(ctx, { box, state } as ListMessagesQuery);
    counts[state] = count;
    firsts.set(state, first);
    if (count >= COUNT_CAP) capped.push(state);
  }
  return { counts, capped, firstOf: (s) => firsts.get(s) ?? [] };
}

export function nodeStatus(ctx: NodeContext): NodeStatus {
  const now = ctx.now();
  const { directory } = ctx.network();
  const stale = directory.stale || Date.parse(directory.nextUpdate) <= now.getTime();

  const outbox = countStates(ctx, "outbox", OUTBOX_STATES);
  const recentFailures = outbox
    .firstOf("failed")
    .slice(0, RECENT_FAILURES)
    .map((m): FailedDelivery => {
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
