/**
 * The `mlax` command line (scripts/mlax.mjs runs it). One commander program; each command group
 * registers itself from its own file (`registerXCommands(program, io)`), and every failure goes
 * through output.ts: `error CODE: message` on stderr, exit 1, or 2 for usage errors.
 */
import { readFileSync } from "node:fs";
import { Command } from "commander";
import { registerAuditCommands } from "./audit.ts";
import { registerDirectoryCommands } from "./directory.ts";
import { registerEnvelopeCommands } from "./envelope.ts";
import { registerNodeCommands } from "./node.ts";
import { registerClientCommands } from "./node-client-commands.ts";
import { type CliIo, commanderErrorOutput, processIo, reportError } from "./output.ts";
import { registerPkiCommands } from "./pki.ts";
import { registerTokenCommands } from "./token.ts";

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
    return typeof pkg.version === "string" ? pkg.version : "0.0.0";
  } catch {
    return "0.0.0";
  }
}

/** The program with every command group registered; nothing is parsed yet. */
export function createProgram(io: CliIo = processIo): Command {
  const program = new Command("mlax")
    .description(
      "signed, encrypted exchange of international cooperation requests between central authorities",
    )
    .version(packageVersion(), "-V, --version")
    // Set before any subcommand exists: commander copies these settings into each of them.
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: commanderErrorOutput,
    })
    .showHelpAfterError("(add --help for usage)");
  registerPkiCommands(program, io);
  registerDirectoryCommands(program, io);
  registerEnvelopeCommands(program, io);
  registerClientCommands(program, io);
  registerTokenCommands(program, io);
  registerNodeCommands(program, io);
  registerAuditCommands(program, io);
  return program;
}

/** Runs the CLI on `argv` (process.argv form: node, script, …args) and returns the exit code. */
export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  try {
    await createProgram(io).parseAsync([...argv], { from: "node" });
    return 0;
  } catch (error) {
    return reportError(io, error);
  }
}
