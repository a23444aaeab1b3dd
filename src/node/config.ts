/**
 * Node configuration in steps (STYLE.md 7): read (flags or a JSON file) → validate with zod →
 * freeze. Keys, certificates and the directory are checked afterwards by load-identity.ts, so a
 * node that cannot work refuses to start with a message that says what to fix.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { z } from "zod";
import { ConfigError } from "../errors.ts";
import { AUTHORITY_ID_PATTERN } from "../pki/roles.ts";

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost)$/;
const port = z.number().int().min(0).max(65_535);
const host = z.string().min(1).max(255);

export const nodeConfigSchema = z.strictObject({
  /** The authority this node acts for, e.g. ES-MJ. */
  authorityId: z.string().regex(AUTHORITY_ID_PATTERN, "authority id like ES-MJ"),
  /** The certs folder made by `mlax pki init` (ca/, directory.jws, authorities/<ID>/). */
  certsDir: z.string().min(1),
  /** The node's own data folder: store.sqlite, blobs. Created mode 0700. */
  dataDir: z.string().min(1),
  peer: z
    .strictObject({
      host: host.default("127.0.0.1"),
      /** Defaults to the port of this authority's endpoint in the directory. */
      port: port.optional(),
    })
    .default({ host: "127.0.0.1" }),
  api: z
    .strictObject({
      host: host.default("127.0.0.1"),
      /** Defaults to the peer port + 100. */
      port: port.optional(),
      /**
       * The operator API speaks plain HTTP with bearer tokens: it listens on loopback only, unless
       * this is set explicitly (behind a TLS-terminating proxy on the same host, say).
       */
      allowNonLoopback: z.boolean().default(false),
    })
    .refine((api) => api.allowNonLoopback || LOOPBACK.test(api.host), {
      message:
        "the operator API must listen on loopback (127.0.0.1, ::1, localhost) unless api.allowNonLoopback is true",
      path: ["host"],
    })
    .default({ host: "127.0.0.1", allowNonLoopback: false }),
  delivery: z
    .strictObject({
      pollMs: z.number().int().min(10).max(60_000).default(1_000),
      baseBackoffMs: z.number().int().min(10).max(600_000).default(1_000),
      maxBackoffMs: z.number().int().min(10).max(86_400_000).default(300_000),
      concurrency: z.number().int().min(1).max(64).default(4),
      requestTimeoutMs: z.number().int().min(100).max(600_000).default(30_000),
    })
    .default({
      pollMs: 1_000,
      baseBackoffMs: 1_000,
      maxBackoffMs: 300_000,
      concurrency: 4,
      requestTimeoutMs: 30_000,
    }),
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
});

export type NodeConfigInput = z.input<typeof nodeConfigSchema>;
export type NodeConfig = Readonly<z.output<typeof nodeConfigSchema>>;

export function parseNodeConfig(input: unknown): NodeConfig {
  const parsed = nodeConfigSchema.safeParse(input);
  if (!parsed.success) {
    const what = parsed.error.issues
      .slice(0, 10)
      .map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`)
      .join("; ");
    throw new ConfigError("CONFIG_INVALID", `invalid node configuration: ${what}`);
  }
  const config = parsed.data;
  return Object.freeze({
    ...config,
    certsDir: resolve(config.certsDir),
    dataDir: resolve(config.dataDir),
  });
}

export function readNodeConfigFile(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch (cause) {
    throw new ConfigError(
      "CONFIG_INVALID",
      `cannot read config file ${path}: ${(cause as Error).message}`,
      {
        cause,
      },
    );
  }
}
