/** The node's SQLite store: open it with `openStore`; the contract is `Store`. */
export { AUDIT_GENESIS_HASH, AUDIT_KINDS, type AuditKind, auditRowHash } from "./audit-hash.ts";
export {
  BLOB_NAME_PATTERN,
  type BlobStore,
  type IncomingFile,
  openBlobStore,
  type WrittenBlob,
  type WrittenFile,
} from "./blob-store.ts";
export { canonicalJson } from "./canonical-json.ts";
export { MAX_PAGE } from "./listing.ts";
export { LATEST_SCHEMA_VERSION, MIGRATIONS, type Migration } from "./migrations.ts";
export { openStore } from "./open-store.ts";
export { MAX_CLAIM } from "./outbox.ts";
export type * from "./store-types.ts";
export { TOKEN_PREFIX } from "./tokens.ts";
