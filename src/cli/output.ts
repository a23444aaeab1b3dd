/**
 * Shared CLI plumbing: where output goes, `--json` printing, tables, and the error contract.
 *
 * Exit codes: 0 success; 1 the command failed (an MlaxError: a bad signature, a missing file, …);
 * 2 usage error (unknown option, missing argument, an argument that does not validate).
 * Every failure prints one line `error CODE: message` on stderr (CODE from ERROR_CODES; usage
 * errors use INPUT_INVALID), then one `  cause CODE: message` line per coded cause. stdout carries
 * only the result (a table, or JSON with --json), so it can be piped.
 */
import { CommanderError } from "commander";
import type { z } from "zod";
import { InputError, isMlaxError, type MlaxError, toMlaxError } from "../errors.ts";

export interface CliIo {
  readonly stdout: { write(chunk: string): unknown };
  readonly stderr: { write(chunk: string): unknown };
  /** The clock of the command (tests may fix it). */
  now(): Date;
}

export const processIo: CliIo = {
  stdout: process.stdout,
  stderr: process.stderr,
  now: () => new Date(),
};

/** A command line that does not validate: exit code 2. */
export class UsageError extends InputError {
  constructor(message: string) {
    super("INPUT_INVALID", message);
  }
}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export function printJson(io: CliIo, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printLine(io: CliIo, line = ""): void {
  io.stdout.write(`${line}\n`);
}

/** A warning that does not fail the command (stderr, so --json output stays clean). */
export function printWarning(io: CliIo, message: string): void {
  io.stderr.write(`warning: ${message}\n`);
}

/** Left-aligned columns separated by two spaces, with a header row. */
export function formatTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(headers), ...rows.map(line)].join("\n");
}

/** Parses CLI input with a zod schema; the first issues become a UsageError. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const message = parsed.error.issues
    .slice(0, 3)
    .map((i) => (i.path.length > 0 ? `${i.path.join(".")}: ${i.message}` : i.message))
    .join("; ");
  throw new UsageError(message);
}

/** Strips control characters from text that came from a file before it reaches a terminal. */
export function safeText(value: string): string {
  // Control characters, and bidirectional overrides that could make a peer's text read otherwise.
  return value.replace(/[\p{Cc}\u200E\u200F\u202A-\u202E\u2066-\u2069]/gu, "?");
}

function causeChain(error: MlaxError): MlaxError[] {
  const chain: MlaxError[] = [];
  let cause: unknown = error.cause;
  while (isMlaxError(cause) && chain.length < 4) {
    chain.push(cause);
    cause = cause.cause;
  }
  return chain;
}

/**
 * Prints the error (unless commander already did) and returns the exit code. Commander's own
 * messages are rewritten to the same `error CODE: message` form by `commanderErrorOutput`.
 */
export function reportError(io: CliIo, error: unknown): number {
  if (error instanceof CommanderError) {
    return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
  }
  const e = toMlaxError(error);
  io.stderr.write(`error ${e.code}: ${safeText(e.message)}\n`);
  for (const cause of causeChain(e)) {
    io.stderr.write(`  cause ${cause.code}: ${safeText(cause.message)}\n`);
  }
  return error instanceof UsageError ? EXIT_USAGE : EXIT_FAILURE;
}

/** Commander `outputError` hook: `error: unknown option` → `error INPUT_INVALID: unknown option`. */
export function commanderErrorOutput(message: string, write: (s: string) => void): void {
  write(message.replace(/^error: /, "error INPUT_INVALID: "));
}
