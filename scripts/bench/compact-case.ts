/**
 * Benchmark 5: our compact part checks (`splitCompact`: type, size cap, exact part count and a
 * canonical base64url round trip of every part, THREATS.md) against jose's
 * `decodeProtectedHeader`, which only splits and decodes the header, on the same sealed envelope.
 * The ratio prices the security check against the cheapest thing a receiver could do instead.
 */
import { decodeProtectedHeader } from "jose";
import { splitCompact } from "../../src/envelope/compact.ts";
import { LIMITS } from "../../src/envelope/limits.ts";
import type { BenchCase } from "./envelope-cases.ts";

/** Results are kept here so that no call can be optimised away. */
let sink: unknown;

export function makeCompactCase(envelope: string): BenchCase & { readonly chars: number } {
  const check = {
    parts: 5,
    maxChars: LIMITS.maxEnvelopeChars,
    maxHeaderChars: LIMITS.maxHeaderChars,
  } as const;
  return {
    name: "compact-checks",
    subjectLabel: `splitCompact() on a ${envelope.length}-character JWE envelope`,
    baselineLabel: "jose.decodeProtectedHeader() on the same envelope",
    chars: envelope.length,
    subject: () => {
      sink = splitCompact(envelope, check);
    },
    baseline: () => {
      sink = decodeProtectedHeader(envelope);
    },
  };
}

/** Read once at the end so the sink is observably used. */
export const compactSinkUsed = (): boolean => sink !== undefined;
