/**
 * One error hierarchy for all of mlax. Every failure has a stable `code` (documented in
 * docs/PROTOCOL.md, checked by tests/unit/errors.test.ts) and an HTTP `status`. Callers branch on
 * `code`, never on message text.
 */

interface CodeInfo {
  readonly status: number;
  readonly title: string;
}

function codes<T extends Record<string, CodeInfo>>(table: T): T {
  return table;
}

export const ERROR_CODES = codes({
  // --- generic input / configuration ---
  INPUT_INVALID: { status: 400, title: "The input does not match its schema" },
  INPUT_TOO_LARGE: { status: 413, title: "The input exceeds its size cap" },
  FILE_UNREADABLE: { status: 400, title: "A file could not be read" },
  CONFIG_INVALID: { status: 500, title: "The node configuration is invalid" },
  INTERNAL: { status: 500, title: "Internal error" },

  // --- pki: certificates and keys ---
  CERT_MALFORMED: { status: 400, title: "The certificate cannot be parsed" },
  CERT_EXPIRED: { status: 403, title: "The certificate has expired" },
  CERT_NOT_YET_VALID: { status: 403, title: "The certificate is not yet valid" },
  CERT_REVOKED: { status: 403, title: "The certificate is revoked in the directory" },
  CERT_UNTRUSTED: {
    status: 403,
    title: "The certificate was not issued by the network CA (bad issuer or signature)",
  },
  CERT_NOT_CA: { status: 403, title: "An issuing certificate is not a CA" },
  CERT_PATH_LENGTH: { status: 403, title: "A path length constraint is exceeded" },
  CERT_KEY_USAGE: {
    status: 403,
    title: "The certificate's key usage or extended key usage does not allow this role",
  },
  CERT_CRITICAL_EXTENSION: {
    status: 403,
    title: "The certificate carries an unknown critical extension",
  },
  CERT_SUBJECT_MISMATCH: {
    status: 403,
    title: "The certificate subject does not name the expected authority",
  },
  CERT_WEAK_KEY: {
    status: 403,
    title: "The certificate key is not an RSA key of 2048 bits or more",
  },
  CERT_CHAIN_INVALID: { status: 403, title: "No valid certification path" },
  KEY_MISSING: { status: 500, title: "A private key file is missing or unreadable" },
  KEY_MISMATCH: { status: 500, title: "A private key does not match its certificate" },

  // --- directory ---
  DIRECTORY_MALFORMED: { status: 400, title: "The directory is not a valid mlax directory" },
  DIRECTORY_SIGNATURE_INVALID: {
    status: 403,
    title: "The directory signature or its signer certificate does not verify",
  },
  DIRECTORY_ROLLBACK: {
    status: 409,
    title: "The directory serial is lower than one already accepted",
  },
  DIRECTORY_EXPIRED: { status: 403, title: "The directory is past its nextUpdate" },
  AUTHORITY_UNKNOWN: { status: 404, title: "The authority is not in the directory" },
  AUTHORITY_EXISTS: { status: 409, title: "The authority is already in the directory" },

  // --- envelope: before the sender is authenticated ---
  ENVELOPE_MALFORMED: {
    status: 400,
    title: "A compact serialization part is malformed (characters, count or length)",
  },
  ENVELOPE_TOO_LARGE: { status: 413, title: "The envelope exceeds its size cap" },
  ENVELOPE_HEADER_INVALID: {
    status: 400,
    title: "A protected header is not allowed (alg, enc, typ, zip, crit or unexpected members)",
  },
  ENVELOPE_NOT_FOR_ME: {
    status: 400,
    title: "The envelope is encrypted to another key (x5t#S256 is not our enc certificate)",
  },
  ENVELOPE_DECRYPTION_FAILED: { status: 400, title: "The envelope does not decrypt" },
  ENVELOPE_SIGNATURE_INVALID: { status: 403, title: "The inner signature does not verify" },
  ENVELOPE_REJECTED: {
    status: 400,
    title: "The envelope cannot be opened or authenticated (uniform answer to peers)",
  },
  SIGNER_UNKNOWN: {
    status: 403,
    title: "The signing certificate is not pinned in the directory",
  },
  SIGNER_KEY_ROLE: {
    status: 403,
    title: "The message is signed with a key whose role is not sign (enc, tls, …)",
  },
  SIGNER_MISMATCH: {
    status: 403,
    title: "The signed `from` is not the authority of the signing certificate",
  },

  // --- message: authentic, but refused (these are rejected-receipt reasons) ---
  MESSAGE_INVALID: { status: 422, title: "The signed payload is not a valid mlax message" },
  MESSAGE_WRONG_RECIPIENT: { status: 422, title: "The message is addressed to another authority" },
  MESSAGE_EXPIRED: { status: 422, title: "The message is past its expiresAt" },
  MESSAGE_FROM_FUTURE: {
    status: 422,
    title: "The message createdAt is in the future beyond the allowed clock skew",
  },
  MESSAGE_ATTACHMENT_INVALID: {
    status: 422,
    title: "An attachment does not match the signed manifest",
  },
  THREAD_INVALID: { status: 422, title: "The message is not allowed at this point of its thread" },
  LANGUAGE_NOT_ACCEPTED: {
    status: 422,
    title: "The request is not in a language the recipient accepts (UNTOC 18(14))",
  },

  // --- receipts and evidence ---
  RECEIPT_MALFORMED: { status: 400, title: "The receipt is not a valid mlax receipt" },
  RECEIPT_SIGNATURE_INVALID: { status: 403, title: "The receipt signature does not verify" },
  RECEIPT_MISMATCH: {
    status: 422,
    title: "The receipt does not match the message (id, digest, from or to)",
  },
  RECEIPT_REJECTED: { status: 422, title: "The receiver answered a rejected receipt" },
  BUNDLE_MALFORMED: { status: 400, title: "The evidence bundle is malformed" },
  AUDIT_CHAIN_BROKEN: {
    status: 422,
    title: "The audit log hash chain or a checkpoint does not hold",
  },

  // --- peer API ---
  PEER_CLIENT_MISMATCH: {
    status: 403,
    title: "The TLS client certificate's authority is not the message signer",
  },
  PEER_CLIENT_CERT_REQUIRED: { status: 401, title: "A valid TLS client certificate is required" },
  DUPLICATE_CONFLICT: {
    status: 409,
    title: "A message with this id and another signed payload was already received",
  },
  MULTIPART_INVALID: { status: 400, title: "The multipart body is malformed or over its limits" },

  // --- operator API ---
  AUTH_REQUIRED: { status: 401, title: "A bearer token is required" },
  AUTH_INVALID: { status: 401, title: "The bearer token is not valid" },
  NOT_FOUND: { status: 404, title: "Not found" },
  ROUTE_NOT_FOUND: { status: 404, title: "No such route" },

  // --- delivery and store ---
  PEER_UNREACHABLE: { status: 502, title: "The peer node could not be reached" },
  PEER_ERROR: { status: 502, title: "The peer node answered with an error" },
  DELIVERY_EXPIRED: {
    status: 504,
    title: "The message could not be delivered before its expiresAt",
  },
  STORE_FAILED: { status: 500, title: "The store could not complete the operation" },
  STORE_CORRUPT: { status: 500, title: "The store failed its integrity check" },
});

export type ErrorCode = keyof typeof ERROR_CODES;

export interface MlaxErrorOptions {
  cause?: unknown;
  /** Extra machine-readable fields that are safe to show (problem+json extension members). */
  details?: Record<string, unknown>;
}

export class MlaxError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message?: string, options: MlaxErrorOptions = {}) {
    super(message ?? ERROR_CODES[code].title, { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.details = options.details;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, ...(this.details ?? {}) };
  }
}

/** Bad input from a user, a file or a peer. */
export class InputError extends MlaxError {}
/** Configuration that keeps a node or a command from running. */
export class ConfigError extends MlaxError {}
/** Certificates, keys and chains. */
export class PkiError extends MlaxError {}
/** The signed directory. */
export class DirectoryError extends MlaxError {}
/** Compact parsing, decryption and signature checks of an envelope. */
export class EnvelopeError extends MlaxError {}
/**
 * The envelope is authentic but its message is refused (wrong recipient, expired, invalid for its
 * thread). Carries what is needed to answer a signed `rejected` receipt.
 */
export class MessageRefusedError extends MlaxError {
  readonly refused: unknown;
  constructor(code: ErrorCode, message: string, refused: unknown, options: MlaxErrorOptions = {}) {
    super(code, message, options);
    this.refused = refused;
  }
}
/** Receipts, evidence bundles and audit logs. */
export class EvidenceError extends MlaxError {}
/** Peer and operator HTTP surfaces. */
export class HttpError extends MlaxError {}
/** Outbox delivery. */
export class DeliveryError extends MlaxError {}
/** SQLite store. */
export class StoreError extends MlaxError {}

export function isMlaxError(e: unknown): e is MlaxError {
  return e instanceof MlaxError;
}

/** Wraps anything thrown into an MlaxError, keeping an existing one as it is. */
export function toMlaxError(e: unknown, fallback: ErrorCode = "INTERNAL"): MlaxError {
  if (e instanceof MlaxError) return e;
  return new MlaxError(fallback, e instanceof Error ? e.message : String(e), { cause: e });
}
