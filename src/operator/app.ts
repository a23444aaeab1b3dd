/**
 * The operator HTTP API (DESIGN.md architecture: bearer tokens, loopback), for `mlax send`,
 * `inbox`, `outbox`, `show`, `evidence`, `status` and later the web console:
 *   POST /api/v1/messages                 queue a message → 202 + Location; application/json, or
 *                                         multipart/form-data with field `message` (the same JSON)
 *                                         and 0..20 files `attachment` (attachment-upload.ts)
 *   GET  /api/v1/messages?box=…           inbox or outbox, newest first, keyset-paged
 *   GET  /api/v1/messages/:id             one message, its delivery state and receipt
 *   GET  /api/v1/messages/:id/evidence    the mlax-evidence/1 bundle (once there is a receipt)
 *   GET  /api/v1/messages/:id/attachments/:index   the decrypted attachment (attachment-download.ts)
 *   GET  /api/v1/status                   directory, outbox and inbox counts, audit chain
 *   GET  /api/v1/security-events          newest first
 * Every route, unknown ones included, answers 401 before anything else without a valid token
 * (so nothing is parsed for an unauthenticated caller); errors are problem+json (RFC 9457).
 */
import express, { type Express, type Request } from "express";
import { HttpError } from "../errors.ts";
import { problemHandler, routeNotFound } from "../http/problem.ts";
import type { NodeContext } from "../node/context.ts";
import { sendMessage } from "../node/send-message.ts";
import { ATTACHMENT_LIMITS, type AttachmentLimits } from "../peer/attachments.ts";
import { openBlobStore } from "../store/index.ts";
import {
  attachmentIndexSchema,
  listQuerySchema,
  messageIdSchema,
  messageQuerySchema,
  parseUrlInput,
  securityEventsQuerySchema,
} from "./api-schemas.ts";
import { sendAttachment } from "./attachment-download.ts";
import { attachmentUpload } from "./attachment-upload.ts";
import { requireToken } from "./auth.ts";
import { messageEvidence } from "./message-evidence.ts";
import { toMessageView } from "./message-view.ts";
import { nodeStatus } from "./node-status.ts";

/** JSON body cap (express's default is 100 kB; a request with its annexes in the body needs more). */
export const OPERATOR_JSON_LIMIT_BYTES = 2 * 1024 * 1024;

export const API_PREFIX = "/api/v1";

function messageId(req: Request): string {
  return parseUrlInput(messageIdSchema, req.params.id, "message id");
}

export interface OperatorAppOptions {
  /** Attachment caps (default ATTACHMENT_LIMITS; tests lower them). */
  readonly limits?: AttachmentLimits;
}

export function createOperatorApp(ctx: NodeContext, options: OperatorAppOptions = {}): Express {
  const blobs = openBlobStore(ctx.config.dataDir);
  const upload = attachmentUpload(
    blobs,
    options.limits ?? ATTACHMENT_LIMITS,
    OPERATOR_JSON_LIMIT_BYTES,
  );
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);

  // Responses carry confidential case material: never cached by anything in between.
  app.use((_req, res, next) => {
    res.set("Cache-Control", "no-store");
    next();
  });
  app.use(requireToken((secret) => ctx.store.verifyToken(secret)));
  app.use(express.json({ limit: OPERATOR_JSON_LIMIT_BYTES, strict: true }));

  app.post(
    `${API_PREFIX}/messages`,
    (req, _res, next) => {
      if (req.is("multipart/form-data")) next();
      else next("route");
    },
    ...upload.receive,
    async (req, res) => {
      try {
        const { message, attachments } = upload.take(req);
        const queued = await sendMessage(ctx, message, attachments);
        res.status(202).location(`${API_PREFIX}/messages/${queued.id}`).json(queued);
      } catch (error) {
        await upload.discard(req);
        throw error;
      }
    },
  );

  app.post(`${API_PREFIX}/messages`, async (req, res) => {
    if (!req.is("application/json")) {
      throw new HttpError(
        "INPUT_INVALID",
        "send the message as Content-Type: application/json (or multipart/form-data with attachments)",
      );
    }
    const queued = await sendMessage(ctx, req.body);
    res.status(202).location(`${API_PREFIX}/messages/${queued.id}`).json(queued);
  });

  app.get(`${API_PREFIX}/messages`, (req, res) => {
    const query = parseUrlInput(listQuerySchema, req.query, "listing query");
    const page = ctx.store.listMessages(query);
    res.json(
      page.nextCursor ? { items: page.items, nextCursor: page.nextCursor } : { items: page.items },
    );
  });

  app.get(`${API_PREFIX}/messages/:id`, (req, res) => {
    const id = messageId(req);
    const options = parseUrlInput(messageQuerySchema, req.query, "message query");
    const detail = ctx.store.getMessage(id, options);
    if (detail === undefined) throw new HttpError("NOT_FOUND", `no message ${id}`);
    res.json(toMessageView(detail));
  });

  app.get(`${API_PREFIX}/messages/:id/evidence`, async (req, res) => {
    const id = messageId(req);
    const options = parseUrlInput(messageQuerySchema, req.query, "message query");
    res.json(await messageEvidence(ctx, id, options));
  });

  app.get(`${API_PREFIX}/messages/:id/attachments/:index`, async (req, res) => {
    const id = messageId(req);
    const index = parseUrlInput(attachmentIndexSchema, req.params.index, "attachment index");
    const options = parseUrlInput(messageQuerySchema, req.query, "message query");
    await sendAttachment(ctx, blobs, res, { id, index, options });
  });

  app.get(`${API_PREFIX}/status`, (_req, res) => {
    res.json(nodeStatus(ctx));
  });

  app.get(`${API_PREFIX}/security-events`, (req, res) => {
    const query = parseUrlInput(securityEventsQuerySchema, req.query, "security events query");
    const limit = query.limit ?? 100;
    const items = ctx.store.listSecurityEvents({ limit, beforeId: query.beforeId });
    const last = items.at(-1);
    res.json(items.length === limit && last ? { items, nextBeforeId: last.id } : { items });
  });

  app.use(routeNotFound);
  app.use(problemHandler(ctx.log));
  return app;
}
