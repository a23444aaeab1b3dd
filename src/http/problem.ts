/**
 * RFC 9457 problem+json for every HTTP surface: one handler per app turns any error into
 * `{type, title, status, detail, code}`. 500s hide their detail (the log keeps it).
 */
import type { ErrorRequestHandler, RequestHandler, Response } from "express";
import type { Logger } from "pino";
import { ERROR_CODES, type ErrorCode, MlaxError, toMlaxError } from "../errors.ts";

export const PROBLEM_CONTENT_TYPE = "application/problem+json";

export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail?: string;
  readonly code: ErrorCode;
  readonly [extension: string]: unknown;
}

export function problemType(code: ErrorCode): string {
  return `urn:mlax:error:${code}`;
}

export function toProblem(error: MlaxError): Problem {
  const hide = error.status >= 500;
  // Extension members first: a detail named `type` or `status` never overwrites the problem's own.
  return {
    ...(hide ? {} : { ...(error.details ?? {}), detail: error.message }),
    type: problemType(error.code),
    title: ERROR_CODES[error.code].title,
    status: error.status,
    code: error.code,
  };
}

export function sendProblem(res: Response, error: MlaxError): void {
  res
    .status(error.status)
    .type(PROBLEM_CONTENT_TYPE)
    .send(JSON.stringify(toProblem(error)));
}

/** busboy's messages for a multipart body it cannot parse (it throws plain Errors). */
const MULTIPART_BROKEN =
  /unexpected end of (form|multipart)|malformed part header|boundary not found|multipart: |malformed urlencoded/i;

/** Maps body-parser, busboy and multer failures to our codes before the generic fallback. */
function fromFrameworkError(err: unknown): MlaxError {
  if (err instanceof MlaxError) return err;
  const e = err as {
    type?: string;
    code?: string;
    status?: number;
    statusCode?: number;
    message?: string;
  };
  const status = typeof e?.status === "number" ? e.status : e?.statusCode;
  if (
    e?.type === "entity.too.large" ||
    status === 413 ||
    e?.code === "LIMIT_FILE_SIZE" ||
    e?.code === "LIMIT_FIELD_VALUE"
  ) {
    return new MlaxError("INPUT_TOO_LARGE", e.message ?? "body too large", { cause: err });
  }
  if (
    (typeof e?.code === "string" && e.code.startsWith("LIMIT_")) ||
    (err as Error)?.name === "MulterError"
  ) {
    return new MlaxError("MULTIPART_INVALID", `${e.code}: ${e.message ?? ""}`.trim(), {
      cause: err,
    });
  }
  if (typeof e?.message === "string" && MULTIPART_BROKEN.test(e.message)) {
    return new MlaxError("MULTIPART_INVALID", e.message, { cause: err });
  }
  if (e?.type === "entity.parse.failed") {
    return new MlaxError("INPUT_INVALID", "the body is not valid JSON", { cause: err });
  }
  // Any other client error the body parsers raise (unsupported charset or encoding, an aborted
  // or short request): the client's fault, never a 500.
  if (typeof status === "number" && status >= 400 && status < 500) {
    return new MlaxError("INPUT_INVALID", e.message ?? "the request body cannot be read", {
      cause: err,
    });
  }
  return toMlaxError(err);
}

export function problemHandler(log: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const error = fromFrameworkError(err);
    const line = { code: error.code, method: req.method, path: req.path, err };
    if (error.status >= 500) log.error(line, "request failed");
    else log.info(line, "request refused");
    if (res.headersSent) {
      res.destroy();
      return;
    }
    sendProblem(res, error);
  };
}

export const routeNotFound: RequestHandler = (req, _res, next) => {
  next(new MlaxError("ROUTE_NOT_FOUND", `no route for ${req.method} ${req.path}`));
};
