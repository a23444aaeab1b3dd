/**
 * Bearer-token authentication for the operator API. Tokens are made by `mlax token create`; the
 * store keeps only their SHA-256. Every route answers 401 without a valid token.
 */
import type { RequestHandler } from "express";
import { HttpError } from "../errors.ts";

const BEARER = /^Bearer ([A-Za-z0-9_-]{16,256})$/;

export function requireToken(verify: (secret: string) => string | undefined): RequestHandler {
  return (req, res, next) => {
    const header = req.get("authorization");
    if (!header) {
      res.set("WWW-Authenticate", 'Bearer realm="mlax"');
      next(new HttpError("AUTH_REQUIRED", "send Authorization: Bearer <token>"));
      return;
    }
    const m = BEARER.exec(header);
    const tokenId = m?.[1] ? verify(m[1]) : undefined;
    if (!tokenId) {
      res.set("WWW-Authenticate", 'Bearer realm="mlax", error="invalid_token"');
      next(new HttpError("AUTH_INVALID", "the bearer token is unknown or revoked"));
      return;
    }
    res.locals.tokenId = tokenId;
    next();
  };
}
