/**
 * Signed audit checkpoints (DESIGN.md, "Evidence and audit"): a node periodically signs the head of
 * its hash-chained audit log with its sign key, so that an exported log can be checked offline
 * against the network CA. A PS256 JWS with `typ: "mlax-audit-checkpoint+jws"` and
 * `x5c: [sign cert, CA]` over `{v:1, type:"audit-checkpoint", authority, seq, hash, at}`.
 */
import type { X509Certificate } from "node:crypto";
import { z } from "zod";
import { EvidenceError, InputError } from "../errors.ts";
import { parseJwsHeader, signJws, verifyJws } from "./jws.ts";
import { authorityIdSchema, SHA256_HEX_PATTERN } from "./message.ts";
import type { LocalKey, PinnedCertificate, TrustView } from "./trust.ts";

export const AUDIT_CHECKPOINT_TYP = "mlax-audit-checkpoint+jws";
/** Two certificates and a 100-byte payload fit in a few kB; the cap is checked before parsing. */
export const MAX_AUDIT_CHECKPOINT_CHARS = 64 * 1024;

export const auditCheckpointPayloadSchema = z.strictObject({
  v: z.literal(1),
  type: z.literal("audit-checkpoint"),
  /** The authority whose log this is: the authority of the signing key. */
  authority: authorityIdSchema,
  /** The audit row this checkpoint pins (the head when it was signed). */
  seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  /** That row's chain hash (src/store/audit-hash.ts). */
  hash: z.string().regex(SHA256_HEX_PATTERN),
  /** When it was signed; the sign certificate must be valid then. */
  at: z.iso.datetime({ offset: false, precision: 3 }),
});

export type AuditCheckpointPayload = z.infer<typeof auditCheckpointPayloadSchema>;

/** The head of an audit log, as the store hands it to the signer. */
export interface AuditHeadLike {
  readonly seq: number;
  readonly hash: string;
}

const encoder = new TextEncoder();

/** Signs one checkpoint over `head`, at `at`, with the authority's sign key. */
export async function signAuditCheckpoint(input: {
  readonly head: AuditHeadLike;
  readonly at: Date;
  readonly signer: LocalKey;
  /** Certificates after the signer's in `x5c` (the network CA). */
  readonly chain?: readonly X509Certificate[];
}): Promise<string> {
  const parsed = auditCheckpointPayloadSchema.safeParse({
    v: 1,
    type: "audit-checkpoint",
    authority: input.signer.authorityId,
    seq: input.head.seq,
    hash: input.head.hash,
    at: input.at.toISOString(),
  });
  if (!parsed.success) {
    throw new InputError("INPUT_INVALID", "the checkpoint does not match its schema", {
      details: { issues: parsed.error.issues },
    });
  }
  return signJws(encoder.encode(JSON.stringify(parsed.data)), {
    typ: AUDIT_CHECKPOINT_TYP,
    key: input.signer,
    chain: input.chain,
  });
}

/**
 * The `sign(head)` callback `Store.checkpointAudit` expects, for the node's periodic checkpoints
 * (every N minutes and on stop) and `mlax audit export --checkpoint`. `now` is read at each call.
 */
export function createCheckpointSigner(
  signKey: LocalKey,
  chain: readonly X509Certificate[],
  authorityId: string,
  now: () => Date,
): (head: AuditHeadLike) => Promise<string> {
  if (signKey.authorityId !== authorityId) {
    throw new InputError(
      "INPUT_INVALID",
      `the sign key belongs to ${signKey.authorityId}, not ${authorityId}`,
    );
  }
  return (head) => signAuditCheckpoint({ head, at: now(), signer: signKey, chain });
}

export interface VerifiedAuditCheckpoint {
  readonly payload: AuditCheckpointPayload;
  readonly signer: PinnedCertificate;
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function parsePayload(bytes: Uint8Array): AuditCheckpointPayload {
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(bytes));
  } catch (cause) {
    throw new EvidenceError("ENVELOPE_MALFORMED", "the checkpoint payload is not UTF-8 JSON", {
      cause,
    });
  }
  const parsed = auditCheckpointPayloadSchema.safeParse(value);
  if (!parsed.success) {
    throw new EvidenceError("ENVELOPE_MALFORMED", "the checkpoint does not match its schema", {
      details: { issues: parsed.error.issues.slice(0, 10) },
    });
  }
  return parsed.data;
}

/**
 * Verifies a checkpoint JWS: header and size, the signer resolved through `trust` with role sign
 * (key separation: an enc or tls key never signs), its certificate valid at the signed `at`, and
 * `authority` = the signer's authority = `expect.authority`. Throws ENVELOPE_MALFORMED /
 * ENVELOPE_HEADER_INVALID, SIGNER_UNKNOWN / CERT_*, SIGNER_KEY_ROLE, ENVELOPE_SIGNATURE_INVALID,
 * SIGNER_MISMATCH. The caller matches `seq` and `hash` against the chain.
 */
export async function verifyAuditCheckpoint(
  token: unknown,
  options: { readonly trust: TrustView; readonly expect?: { readonly authority?: string } },
): Promise<VerifiedAuditCheckpoint> {
  const { parts } = parseJwsHeader(token, AUDIT_CHECKPOINT_TYP, MAX_AUDIT_CHECKPOINT_CHARS);
  // The claimed `at` is read before the signature is checked only to name the instant at which
  // the signer certificate must be valid; it can only add a condition, never lift one.
  const claimed = parsePayload(Buffer.from(parts[1] ?? "", "base64url"));
  const verified = await verifyJws(token, {
    typ: AUDIT_CHECKPOINT_TYP,
    trust: options.trust,
    role: "sign",
    at: [new Date(claimed.at)],
    maxChars: MAX_AUDIT_CHECKPOINT_CHARS,
  });
  const payload = parsePayload(verified.payload);
  const signer = verified.signer;
  if (payload.authority !== signer.authorityId) {
    throw new EvidenceError(
      "SIGNER_MISMATCH",
      `the checkpoint names ${payload.authority} but is signed by ${signer.authorityId}`,
    );
  }
  const expected = options.expect?.authority;
  if (expected !== undefined && payload.authority !== expected) {
    throw new EvidenceError(
      "SIGNER_MISMATCH",
      `the checkpoint is signed by ${payload.authority}, not by ${expected} whose log this is`,
    );
  }
  return { payload, signer };
}
