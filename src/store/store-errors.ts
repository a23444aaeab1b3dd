/**
 * Maps SQLite failures to StoreError (STORE_FAILED, or STORE_CORRUPT for a damaged or foreign
 * file). The message says what the store was doing, never the SQL: the driver error stays in
 * `cause` for logs.
 */
import { MlaxError, StoreError } from "../errors.ts";

const CORRUPT_CODES = new Set(["SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_CORRUPT_INDEX"]);

function sqliteCode(e: unknown): string | undefined {
  if (typeof e !== "object" || e === null || !("code" in e)) return undefined;
  const code = (e as { code: unknown }).code;
  return typeof code === "string" && code.startsWith("SQLITE_") ? code : undefined;
}

export function toStoreError(e: unknown, doing: string): MlaxError {
  if (e instanceof MlaxError) return e;
  const code = sqliteCode(e);
  if (code !== undefined && CORRUPT_CODES.has(code)) {
    return new StoreError("STORE_CORRUPT", `The store is damaged or not an mlax store (${doing})`, {
      cause: e,
      details: { sqlite: code },
    });
  }
  return new StoreError("STORE_FAILED", `The store could not ${doing}`, {
    cause: e,
    details: code === undefined ? undefined : { sqlite: code },
  });
}

/** Runs `fn`, turning anything but an MlaxError into a StoreError about `doing`. */
export function guard<T>(doing: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw toStoreError(e, doing);
  }
}
