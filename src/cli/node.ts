/**
 * `mlax node start`: runs one authority node in the foreground until SIGINT/SIGTERM (SIGHUP reloads
 * certs/directory.jws). Flags or a JSON config file (validated with zod, see src/node/config.ts).
 */
import type { Command } from "commander";
import { z } from "zod";
import { type NodeConfigInput, parseNodeConfig, readNodeConfigFile } from "../node/config.ts";
import { createNode } from "../node/node.ts";
import { type CliIo, parseInput } from "./output.ts";

const portText = z
  .string()
  .regex(/^[0-9]{1,5}$/, "a port number")
  .transform(Number)
  .pipe(z.number().int().min(0).max(65_535));

const startOptions = z.object({
  config: z.string().optional(),
  certs: z.string().optional(),
  as: z.string().optional(),
  data: z.string().optional(),
  peerHost: z.string().optional(),
  peerPort: portText.optional(),
  apiHost: z.string().optional(),
  apiPort: portText.optional(),
  logLevel: z.string().optional(),
  pollMs: z
    .string()
    .regex(/^[0-9]+$/)
    .transform(Number)
    .optional(),
});

async function startCommand(io: CliIo, raw: unknown): Promise<void> {
  const o = parseInput(startOptions, raw);
  const file = (o.config ? readNodeConfigFile(o.config) : {}) as Partial<NodeConfigInput>;
  const config = parseNodeConfig({
    ...file,
    ...(o.as ? { authorityId: o.as } : {}),
    ...(o.certs ? { certsDir: o.certs } : {}),
    ...(o.data ? { dataDir: o.data } : {}),
    peer: {
      ...(file.peer ?? {}),
      ...(o.peerHost ? { host: o.peerHost } : {}),
      ...(o.peerPort !== undefined ? { port: o.peerPort } : {}),
    },
    api: {
      ...(file.api ?? {}),
      ...(o.apiHost ? { host: o.apiHost } : {}),
      ...(o.apiPort !== undefined ? { port: o.apiPort } : {}),
    },
    ...(o.pollMs !== undefined ? { delivery: { ...(file.delivery ?? {}), pollMs: o.pollMs } } : {}),
    ...(o.logLevel ? { logLevel: o.logLevel } : {}),
  });
  const node = await createNode(config, { now: () => io.now() });
  // Handlers first: a signal that arrives right after the "started" line must stop the node.
  let stopping: Promise<void> | undefined;
  const stopped = new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      if (stopping) return;
      node.context.log.info({ signal }, "stopping");
      stopping = node.stop().then(resolve, (error) => {
        node.context.log.error({ err: error }, "stop failed");
        resolve();
      });
    };
    process.once("SIGINT", () => stop("SIGINT"));
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.on("SIGHUP", () => {
      node.reloadDirectory().catch(() => undefined);
    });
  });
  await node.start();
  await stopped;
}

export function registerNodeCommands(program: Command, io: CliIo): void {
  const node = program.command("node").description("run an authority node");
  node
    .command("start")
    .description("start a node: peer API (mutual TLS), operator API (loopback) and outbox worker")
    .option("--config <file>", "JSON config file (flags override it)")
    .option("--certs <dir>", "certs folder made by `mlax pki init`")
    .option("--as <id>", "the authority this node acts for, e.g. ES-MJ")
    .option("--data <dir>", "data folder (store.sqlite), created mode 0700")
    .option("--peer-host <host>", "peer API address (default 127.0.0.1)")
    .option("--peer-port <n>", "peer API port (default: the port of our endpoint in the directory)")
    .option("--api-host <host>", "operator API address (default 127.0.0.1)")
    .option("--api-port <n>", "operator API port (default: peer port + 100)")
    .option("--poll-ms <n>", "outbox poll interval in milliseconds (default 1000)")
    .option("--log-level <level>", "fatal, error, warn, info, debug, trace or silent")
    .action((raw: unknown) => startCommand(io, raw));
}
