/**
 * The peer HTTP API (DESIGN.md wire protocol v1), served over mutual TLS by server.ts:
 *   POST /peer/v1/envelopes   multipart/form-data, field `envelope` = JWE compact
 *   GET  /peer/v1/health      liveness, no data
 * Every limit of multer is set (its defaults are unlimited); errors are problem+json.
 */
import express, { type Express } from "express";
import multer from "multer";
import { LIMITS } from "../envelope/limits.ts";
import { HttpError } from "../errors.ts";
import { problemHandler, routeNotFound } from "../http/problem.ts";
import type { IdentifyClient } from "./client-identity.ts";
import { type ReceiveContext, receiveEnvelope } from "./receive-envelope.ts";

export interface PeerAppOptions {
  readonly context: ReceiveContext;
  readonly identifyClient: IdentifyClient;
}

/** multer limits: one text field of at most one envelope, no files yet (attachments: later). */
export const PEER_MULTIPART_LIMITS = {
  fieldNameSize: 32,
  fieldSize: LIMITS.maxEnvelopeChars,
  fields: 1,
  files: 0,
  fileSize: 0,
  parts: 1,
  headerPairs: 20,
} as const;

export function createPeerApp(options: PeerAppOptions): Express {
  const { context } = options;
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  const upload = multer({ storage: multer.memoryStorage(), limits: { ...PEER_MULTIPART_LIMITS } });

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
      if (length > LIMITS.maxEnvelopeChars + 64 * 1024) {
        next(new HttpError("INPUT_TOO_LARGE", `body of ${length} bytes exceeds the envelope cap`));
        return;
      }
      if (!req.is("multipart/form-data")) {
        next(
          new HttpError(
            "MULTIPART_INVALID",
            "expected multipart/form-data with an `envelope` field",
          ),
        );
        return;
      }
      next();
    },
    upload.none(),
    async (req, res, next) => {
      try {
        const envelope = (req.body as Record<string, unknown> | undefined)?.envelope;
        if (typeof envelope !== "string") {
          throw new HttpError("MULTIPART_INVALID", "the `envelope` field is missing");
        }
        const result = await receiveEnvelope(context, {
          envelope,
          clientAuthority: res.locals.clientAuthority as string,
        });
        res.status(200).json({ receipt: result.receipt });
      } catch (error) {
        next(error);
      }
    },
  );

  app.use(routeNotFound);
  app.use(problemHandler(context.log));
  return app;
}
