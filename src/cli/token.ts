/**
 * `mlax token create|list|revoke --data <node data dir>`: operator API bearer tokens, managed
 * directly in the node's store file (it may be running: SQLite WAL lets both open it). The secret
 * is printed once; the store keeps only its SHA-256.
 */

import { join } from "node:path";
import type { Command } from "commander";
import { z } from "zod";
import { HttpError } from "../errors.ts";
import { STORE_FILE } from "../node/node.ts";
import { openStore, type Store } from "../store/index.ts";
import { ensurePrivateDir, pathExists } from "./files.ts";
import {
  type CliIo,
  formatTable,
  parseInput,
  printJson,
  printLine,
  printWarning,
} from "./output.ts";

/** The store file inside a node's data folder (the path `mlax node start` opens). */
/** The store file inside a node data folder (the node opens the same path). */
export const STORE_FILE_NAME = STORE_FILE;

export function storePathFor(dataDir: string): string {
  return join(dataDir, STORE_FILE_NAME);
}

const dataOption = z.object({ data: z.string().min(1), json: z.boolean().optional() });
const createSchema = dataOption.extend({
  label: z
    .string()
    .min(1)
    .max(100)
    .regex(/^[^\p{Cc}]+$/u, "printable text"),
});
const tokenId = z.string().regex(/^tok_[0-9a-f]{16}$/, "a token id like tok_0123456789abcdef");

async function withStore<T>(
  io: CliIo,
  dataDir: string,
  create: boolean,
  fn: (store: Store, path: string) => T,
): Promise<T> {
  const path = storePathFor(dataDir);
  if (!(await pathExists(path))) {
    if (!create) {
      throw new HttpError("NOT_FOUND", `no node store at ${path} (check --data)`);
    }
    await ensurePrivateDir(dataDir);
    printWarning(
      io,
      `no store at ${path} yet: created it (a node started with this data dir uses it)`,
    );
  }
  const store = openStore(path);
  try {
    return fn(store, path);
  } finally {
    store.close();
  }
}

async function createCommand(io: CliIo, raw: unknown): Promise<void> {
  const o = parseInput(createSchema, raw);
  const created = await withStore(io, o.data, true, (store, path) => ({
    ...store.createToken(o.label),
    label: o.label.trim(),
    store: path,
  }));
  if (o.json) {
    printJson(io, created);
    return;
  }
  printLine(io, `created token ${created.id} (${created.label}) in ${created.store}`);
  printLine(io, "its secret is shown only this once; keep it like a password:");
  printLine(io, created.secret);
}

async function listCommand(io: CliIo, raw: unknown): Promise<void> {
  const o = parseInput(dataOption, raw);
  const tokens = await withStore(io, o.data, false, (store) => store.listTokens());
  if (o.json) {
    printJson(io, tokens);
    return;
  }
  if (tokens.length === 0) {
    printLine(io, "no tokens (make one with `mlax token create`)");
    return;
  }
  const rows = tokens.map((t) => [
    t.id,
    t.revokedAt ? "revoked" : "active",
    t.createdAt,
    t.lastUsedAt ?? "never",
    t.label.replace(/\p{Cc}/gu, "?"),
  ]);
  printLine(io, formatTable(["ID", "STATE", "CREATED", "LAST USED", "LABEL"], rows));
}

async function revokeCommand(io: CliIo, id: string, raw: unknown): Promise<void> {
  const o = parseInput(dataOption, raw);
  parseInput(tokenId, id);
  const revoked = await withStore(io, o.data, false, (store) => store.revokeToken(id));
  if (!revoked) throw new HttpError("NOT_FOUND", `no active token ${id}`);
  if (o.json) printJson(io, { id, revoked: true });
  else printLine(io, `revoked ${id}`);
}

export function registerTokenCommands(program: Command, io: CliIo): void {
  const token = program
    .command("token")
    .description("operator API bearer tokens, kept in the node's store");

  token
    .command("create")
    .description("make a token and print its secret once")
    .requiredOption("--data <dir>", "the node's data folder (holds store.sqlite)")
    .option("--label <label>", "who or what uses the token", "operator")
    .option("--json", "print JSON")
    .action((raw: unknown) => createCommand(io, raw));

  token
    .command("list")
    .description("list tokens (never their secrets)")
    .requiredOption("--data <dir>", "the node's data folder (holds store.sqlite)")
    .option("--json", "print JSON")
    .action((raw: unknown) => listCommand(io, raw));

  token
    .command("revoke")
    .description("revoke a token: the node refuses it from the next request on")
    .argument("<id>", "token id (tok_…)")
    .requiredOption("--data <dir>", "the node's data folder (holds store.sqlite)")
    .option("--json", "print JSON")
    .action((id: string, raw: unknown) => revokeCommand(io, id, raw));
}
