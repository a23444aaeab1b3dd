/**
 * The peer HTTP API (DESIGN.md wire protocol v1), served over mutual TLS by server.ts:
 *   POST /peer/v1/envelopes   multipart/form-data: field `envelope` = JWE compact (exactly one),
 *                             files `attachment` (0..20, in manifest order) = the STREAM
 *                             ciphertext of each manifest entry (attachments.ts); part file names
 *                             and content types are ignored
 *   GET  /peer/v1/health      liveness, no data
 * The TLS client is identified before the body is read; the body is capped by Content-Length
 * before parsing; every multer limit is set (its defaults are unlimited) and the parts of one
 * request are capped in total. Parts go to <dataDir>/incoming/ under random names and are removed
 * before the answer, whatever it is (accepted ones are first moved into blobs/). Errors are
 * problem+json with stable codes: MULTIPART_INVALID (malformed, unexpected field or file, too many
 * parts), INPUT_TOO_LARGE (413: body, envelope, a file or all files over their cap).
 */
import express, { type Express } from "express";
import multer from "multer";
import { LIMITS } from "../envelope/limits.ts";
import { HttpError } from "../errors.ts";
import { problemHandler, routeNotFound } from "../http/problem.ts";
import {
  ATTACHMENT_LIMITS,
  type AttachmentLimits,
  ciphertextSize,
  maxCiphertextTotal,
  STALE_TEMP_MS,
} from "./attachments.ts";
import type { IdentifyClient } from "./client-identity.ts";
import { type IncomingPart, incomingStorage } from "./incoming-storage.ts";
import { type ReceiveContext, receiveEnvelope } from "./receive-envelope.ts";

export interface PeerAppOptions {
  readonly context: ReceiveContext;
  readonly identifyClient: IdentifyClient;
  /** Attachment caps (default ATTACHMENT_LIMITS; tests lower them). */
  readonly limits?: AttachmentLimits;
}

/** multer limits for a set of attachment caps: one `envelope` field and the `attachment` files. */
export function peerMultipartLimits(limits: AttachmentLimits) {
  return {
    fieldNameSize: 32,
    fieldSize: LIMITS.maxEnvelopeChars,
    fields: 1,
    files: limits.maxFiles,
    fileSize: ciphertextSize(limits.maxFileBytes),
    parts: 1 + limits.maxFiles,
    headerPairs: 20,
  } as const;
}

export const PEER_MULTIPART_LIMITS = peerMultipartLimits(ATTACHMENT_LIMITS);

/** Multipart framing allowance per part (boundary and part headers) in the Content-Length cap. */
const PART_OVERHEAD_BYTES = 16 * 1024;

export function createPeerApp(options: PeerAppOptions): Express {
  const { context } = options;
  const limits = options.limits ?? ATTACHMENT_LIMITS;
  const maxParts = maxCiphertextTotal(limits);
  const maxBody = LIMITS.maxEnvelopeChars + maxParts + PART_OVERHEAD_BYTES * (1 + limits.maxFiles);
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  const upload = multer({
    storage: incomingStorage(context.blobs, maxParts),
    // multer drops a file part whose name reduces to nothing ("..", "a/") unless paths are kept;
    // part names mean nothing here (parts are stored under random names), but no part may vanish.
    preservePath: true,
    limits: { ...peerMultipartLimits(limits) },
  }).array("attachment", limits.maxFiles);

  // Parts a crash left behind (no request lasts this long: server.ts requestTimeout).
  context.blobs.sweep(STALE_TEMP_MS).catch((err: unknown) => {
    context.log.warn({ err }, "could not sweep stale incoming attachment files");
  });

  app.get("/peer/v1/health", (_req, res) => {
    res.json({ ok: true, authority: context.self.authorityId });
  });

  app.post(
    "/peer/v1/envelopes",
    (req, _res, next) => {
      // Identify the TLS client before reading the body: no identity, no parsing.
      try {
        req.res!.locals.clientAuthority = options.identifyClient(req);
        next();
      } catch (error) {
        next(error);
      }
    },
    (req, _res, next) => {
      const length = Number(req.get("content-length") ?? "0");
      if (length > maxBody) {
        next(new HttpError("INPUT_TOO_LARGE", `body of ${length} bytes exceeds the envelope cap`));
        return;
      }
      if (!req.is("multipart/form-data")) {
        next(
          new HttpError(
            "MULTIPART_INVALID",
            "expected multipart/form-data with an `envelope` field and `attachment` files",
          ),
        );
        return;
      }
      next();
    },
    upload,
    async (req, res, next) => {
      const parts = (req.files as IncomingPart[] | undefined) ?? [];
      try {
        const envelope = (req.body as Record<string, unknown> | undefined)?.envelope;
        if (typeof envelope !== "string") {
          throw new HttpError("MULTIPART_INVALID", "the `envelope` field is missing");
        }
        const result = await receiveEnvelope(context, {
          envelope,
          clientAuthority: res.locals.clientAuthority as string,
          attachments: parts.map((p) => ({ path: p.path, size: p.size, sha256: p.sha256 })),
        });
        await discardParts(context, parts);
        res.status(200).json({ receipt: result.receipt });
      } catch (error) {
        await discardParts(context, parts);
        next(error);
      }
    },
  );

  app.use(routeNotFound);
  app.use(problemHandler(context.log));
  return app;
}

/** Removes what is left of the request's parts in incoming/ (accepted ones were moved away). */
async function discardParts(context: ReceiveContext, parts: readonly IncomingPart[]) {
  await Promise.all(
    parts.map((p) =>
      context.blobs.discard(p.path).catch((err: unknown) => {
        context.log.error({ err }, "could not remove an incoming attachment file");
      }),
    ),
  );
}
