/**
 * Small durable facts about this node, such as the highest directory serial accepted (the
 * directory rollback check of the DESIGN.md trust model).
 */
import { InputError } from "../errors.ts";
import type { StoreContext } from "./store-context.ts";
import { guard } from "./store-errors.ts";

export const DIRECTORY_SERIAL_KEY = "directory.serial";

export function createNodeState(ctx: StoreContext) {
  const { db } = ctx;
  const getStmt = db.prepare<[string], { value: string }>(
    "SELECT value FROM node_state WHERE key = ?",
  );
  const setStmt = db.prepare(
    `INSERT INTO node_state (key, value, updated_at) VALUES (?, ?, ?)
     ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
  );

  function checkKey(key: string): void {
    if (key.length === 0 || key.length > 200) {
      throw new InputError("INPUT_INVALID", "The state key must be 1 to 200 characters");
    }
  }

  function getState(key: string): string | undefined {
    checkKey(key);
    return guard("read node state", () => getStmt.get(key)?.value);
  }

  function setState(key: string, value: string): void {
    checkKey(key);
    guard("write node state", () => setStmt.run(key, value, ctx.now().toISOString()));
  }

  function directorySerial(): number | undefined {
    const value = getState(DIRECTORY_SERIAL_KEY);
    return value === undefined ? undefined : Number(value);
  }

  function raiseDirectorySerial(serial: number): boolean {
    if (!Number.isSafeInteger(serial) || serial < 0) {
      throw new InputError("INPUT_INVALID", "The directory serial must be a non-negative integer");
    }
    return guard("record the directory serial", () =>
      db
        .transaction(() => {
          const current = getStmt.get(DIRECTORY_SERIAL_KEY)?.value;
          if (current !== undefined && serial < Number(current)) return false;
          setStmt.run(DIRECTORY_SERIAL_KEY, String(serial), ctx.now().toISOString());
          return true;
        })
        .immediate(),
    );
  }

  return { getState, setState, directorySerial, raiseDirectorySerial };
}
