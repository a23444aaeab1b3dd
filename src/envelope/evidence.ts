/**
 * Evidence bundles (DESIGN.md, "Evidence and audit"): a self-contained JSON file with a signed
 * message, the receiver's signed receipt and the certificates, verifiable offline against the
 * network CA. A bundle holds the signed plaintext of the message: it is as confidential as the
 * request itself.
 */
import { X509Certificate } from "node:crypto";
import { z } from "zod";
import { EvidenceError, isMlaxError } from "../errors.ts";
import { parseJwsHeader } from "./jws.ts";
import { LIMITS } from "./limits.ts";
import type { Message } from "./message.ts";
import { RECEIPT_TYP, type Receipt, verifyReceipt } from "./receipt.ts";
import type { PinnedCertificate, TrustView } from "./trust.ts";
import { MESSAGE_JWS_TYP, verifyMessageJws } from "./verify-message.ts";

export const EVIDENCE_FORMAT = "mlax-evidence/1";

const PEM_PATTERN =
  /^-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----\r?\n?$/;

export const evidenceBundleSchema = z.strictObject({
  format: z.literal(EVIDENCE_FORMAT),
  message: z.string().min(1).max(LIMITS.maxJwsChars),
  receipt: z.string().min(1).max(LIMITS.maxReceiptChars),
  chain: z
    .array(
      z
        .string()
        .max(16 * 1024)
        .regex(PEM_PATTERN),
    )
    .max(8),
});

export type EvidenceBundle = z.infer<typeof evidenceBundleSchema>;

/** Builds a bundle; the chain lists the message signer, the receipt signer and the CA, as PEM. */
export function createEvidenceBundle(input: {
  message: string;
  receipt: string;
  chain: readonly X509Certificate[];
}): EvidenceBundle {
  const seen = new Set<string>();
  const chain: string[] = [];
  for (const cert of input.chain) {
    if (seen.has(cert.fingerprint256)) continue;
    seen.add(cert.fingerprint256);
    chain.push(cert.toString());
  }
  return evidenceBundleSchema.parse({
    format: EVIDENCE_FORMAT,
    message: input.message,
    receipt: input.receipt,
    chain,
  });
}

export function parseEvidenceBundle(value: unknown): EvidenceBundle {
  const parsed = evidenceBundleSchema.safeParse(value);
  if (!parsed.success) {
    throw new EvidenceError("BUNDLE_MALFORMED", "not an mlax-evidence/1 bundle", {
      details: { issues: parsed.error.issues.slice(0, 10) },
    });
  }
  for (const pem of parsed.data.chain) {
    try {
      new X509Certificate(pem);
    } catch (cause) {
      throw new EvidenceError(
        "BUNDLE_MALFORMED",
        "the bundle chain holds an unparseable certificate",
        {
          cause,
        },
      );
    }
  }
  return parsed.data;
}

export interface VerifiedEvidence {
  readonly message: Message;
  readonly messageSha256: string;
  readonly messageSigner: PinnedCertificate;
  readonly receipt: Receipt;
  readonly receiptSigner: PinnedCertificate;
}

/**
 * Verifies a bundle: the message signature (signer = `from`, valid at createdAt), the receipt
 * signature (signer = the message's `to`, valid at receivedAt), and that the receipt names this
 * message by id and by the SHA-256 of its JWS compact string.
 */
export async function verifyEvidenceBundle(
  value: unknown,
  options: { trust: TrustView },
): Promise<VerifiedEvidence> {
  const bundle = parseEvidenceBundle(value);
  const verified = await verifyMessageJws(bundle.message, { trust: options.trust });
  // The chain is a convenience copy: each certificate must be one the signed x5c headers carry,
  // and the two signers must be in it, so nothing in the file goes unchecked.
  const signed = new Set(
    [
      ...parseJwsHeader(bundle.message, MESSAGE_JWS_TYP).x5c,
      ...parseJwsHeader(bundle.receipt, RECEIPT_TYP, LIMITS.maxReceiptChars, "RECEIPT_MALFORMED")
        .x5c,
    ].map((c) => c.fingerprint256),
  );
  const chain = bundle.chain.map((pem) => new X509Certificate(pem).fingerprint256);
  if (!chain.every((fp) => signed.has(fp))) {
    throw new EvidenceError(
      "BUNDLE_MALFORMED",
      "the bundle chain holds a certificate no signature carries",
    );
  }
  try {
    const { receipt, signer } = await verifyReceipt(bundle.receipt, {
      trust: options.trust,
      expect: {
        messageId: verified.message.id,
        messageSha256: verified.messageSha256,
        from: verified.message.to,
        to: verified.message.from,
      },
    });
    for (const who of [verified.signer, signer]) {
      if (!chain.includes(who.certificate.fingerprint256)) {
        throw new EvidenceError(
          "BUNDLE_MALFORMED",
          `the bundle chain lacks the certificate of ${who.authorityId}`,
        );
      }
    }
    return {
      message: verified.message,
      messageSha256: verified.messageSha256,
      messageSigner: verified.signer,
      receipt,
      receiptSigner: signer,
    };
  } catch (cause) {
    if (isMlaxError(cause)) throw cause;
    throw new EvidenceError("RECEIPT_MALFORMED", "the receipt cannot be verified", { cause });
  }
}
