/** pino logger: JSON lines, pretty on a TTY. Message ids go in the `msgId` field of each line. */
import { type Logger, pino } from "pino";

export type { Logger };

export function createLogger(
  options: { level?: string; name?: string; pretty?: boolean } = {},
): Logger {
  const pretty = options.pretty ?? process.stdout.isTTY === true;
  return pino({
    name: options.name,
    level: options.level ?? process.env.MLAX_LOG_LEVEL ?? "info",
    ...(pretty ? { transport: { target: "pino-pretty", options: { colorize: true } } } : {}),
  });
}

/** A logger that writes nothing, for tests. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
