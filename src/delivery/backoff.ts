/**
 * Retry policy (DESIGN.md, "Delivery"): capped exponential backoff with jitter, until the
 * message's expiresAt. Attempt n (1-based) waits base·2^(n−1), capped at max, then scaled by a
 * random factor in [0.5, 1) ("equal jitter") so that many nodes retrying after one outage spread out.
 */
export interface BackoffPolicy {
  readonly baseMs: number;
  readonly maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 1_000, maxMs: 5 * 60_000 };

export function retryDelayMs(
  attempts: number,
  policy: BackoffPolicy = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(30, Math.max(0, attempts - 1)));
  return Math.round(exp * (0.5 + random() * 0.5));
}
