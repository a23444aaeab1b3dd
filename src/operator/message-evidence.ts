/**
 * `GET /api/v1/messages/:id/evidence`: the mlax-evidence/1 bundle of a message and its receipt
 * (DESIGN.md "Evidence and audit"), for a message we sent (the peer's receipt) or received (the
 * receipt we issued). The bundle is verified against the current network view before it is
 * answered: the node never hands out evidence that does not hold.
 */
import type { X509Certificate } from "node:crypto";
import {
  createEvidenceBundle,
  type EvidenceBundle,
  verifyEvidenceBundle,
} from "../envelope/evidence.ts";
import { parseJwsHeader } from "../envelope/jws.ts";
import { LIMITS } from "../envelope/limits.ts";
import { RECEIPT_TYP } from "../envelope/receipt.ts";
import { MESSAGE_JWS_TYP } from "../envelope/verify-message.ts";
import { HttpError } from "../errors.ts";
import type { NodeContext } from "../node/context.ts";
import type { GetMessageOptions } from "../store/index.ts";

function signerCertificate(token: string, typ: string, maxChars: number): X509Certificate {
  return parseJwsHeader(token, typ, maxChars).x5c[0] as X509Certificate;
}

export async function messageEvidence(
  ctx: NodeContext,
  id: string,
  options: GetMessageOptions = {},
): Promise<EvidenceBundle> {
  const detail = ctx.store.getMessage(id, options);
  if (detail === undefined) throw new HttpError("NOT_FOUND", `no message ${id}`);
  if (detail.receipt === undefined) {
    throw new HttpError(
      "NOT_FOUND",
      `message ${id} has no receipt yet (state ${detail.state}): evidence exists once the recipient has answered`,
      { details: { state: detail.state } },
    );
  }
  const bundle = createEvidenceBundle({
    message: detail.jws,
    receipt: detail.receipt.jws,
    chain: [
      signerCertificate(detail.jws, MESSAGE_JWS_TYP, LIMITS.maxJwsChars),
      signerCertificate(detail.receipt.jws, RECEIPT_TYP, LIMITS.maxReceiptChars),
      ctx.ca,
    ],
  });
  await verifyEvidenceBundle(bundle, { trust: ctx.network().trust });
  return bundle;
}
