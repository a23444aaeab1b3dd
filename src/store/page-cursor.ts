/**
 * Opaque keyset cursors for message listings: base64url JSON of the last seq seen, bound to the box
 * and state filter it was issued for, so a cursor cannot be replayed against another listing.
 */
import { InputError } from "../errors.ts";

export interface PageCursor {
  readonly box: string;
  readonly state: string | null;
  /** The seq of the last item returned; the next page starts below it. */
  readonly seq: number;
}

export function encodeCursor(cursor: PageCursor): string {
  const json = JSON.stringify({ v: 1, b: cursor.box, s: cursor.state, k: cursor.seq });
  return Buffer.from(json, "utf8").toString("base64url");
}

export function decodeCursor(text: string, expected: Omit<PageCursor, "seq">): number {
  const invalid = () => new InputError("INPUT_INVALID", "The cursor is not valid for this listing");
  if (text.length > 200 || !/^[A-Za-z0-9_-]+$/.test(text)) throw invalid();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(text, "base64url").toString("utf8"));
  } catch {
    throw invalid();
  }
  if (typeof parsed !== "object" || parsed === null) throw invalid();
  const { v, b, s, k } = parsed as Record<string, unknown>;
  if (v !== 1 || b !== expected.box || s !== expected.state) throw invalid();
  if (typeof k !== "number" || !Number.isSafeInteger(k) || k < 1) throw invalid();
  return k;
}
