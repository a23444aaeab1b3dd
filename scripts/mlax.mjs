#!/usr/bin/env node
// The `mlax` command (package.json `bin`). Node 20 cannot strip types, so tsx's loader is
// registered first and the TypeScript CLI is imported after it.
import { register } from "tsx/esm/api";

// `mlax … | head` closes stdout early: that is not an error of ours.
process.stdout.on("error", (error) => {
  if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw error;
});

register();
const { main } = await import("../src/cli/main.ts");
process.exitCode = await main(process.argv);
