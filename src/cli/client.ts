/**
 * HTTP client for a node's operator API (src/operator/app.ts), used by `mlax send`, `inbox`,
 * `outbox`, `show`, `evidence` and `status`. A problem+json answer becomes an MlaxError with the
 * node's `code`, so the CLI prints `error CODE: …` as if the failure were local; a node that
 * cannot be reached is PEER_UNREACHABLE.
 */
import type { EvidenceBundle } from "../envelope/evidence.ts";
import { ERROR_CODES, type ErrorCode, HttpError, type MlaxError } from "../errors.ts";
import type { QueuedMessage, SendMessageInput } from "../node/send-message.ts";
import type { MessageView } from "../operator/message-view.ts";
import type { NodeStatus } from "../operator/node-status.ts";
import type {
  GetMessageOptions,
  ListMessagesQuery,
  MessagePage,
  SecurityEvent,
} from "../store/index.ts";

export const DEFAULT_NODE_URL = "http://127.0.0.1:8543";
export const DEFAULT_CLIENT_TIMEOUT_MS = 30_000;
const API = "/api/v1";

export interface OperatorClientOptions {
  /** The node's operator API, e.g. http://127.0.0.1:8543. */
  readonly baseUrl: string;
  /** A bearer token from `mlax token create`. */
  readonly token: string;
  readonly timeoutMs?: number;
  /** Replaces the global fetch (tests). */
  readonly fetch?: typeof fetch;
}

export interface SecurityEventPage {
  readonly items: readonly SecurityEvent[];
  readonly nextBeforeId?: number;
}

export interface OperatorClient {
  readonly baseUrl: string;
  sendMessage(input: SendMessageInput): Promise<QueuedMessage & { location?: string }>;
  listMessages(query: ListMessagesQuery): Promise<MessagePage>;
  getMessage(id: string, options?: GetMessageOptions): Promise<MessageView>;
  evidence(id: string, options?: GetMessageOptions): Promise<EvidenceBundle>;
  status(): Promise<NodeStatus>;
  securityEvents(options?: { limit?: number; beforeId?: number }): Promise<SecurityEventPage>;
}

function isKnownCode(code: unknown): code is ErrorCode {
  return typeof code === "string" && Object.hasOwn(ERROR_CODES, code);
}

function printable(text: string, max = 500): string {
  const clean = text.replace(/\p{Cc}/gu, " ");
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}

/** Turns a problem+json answer into the MlaxError it stands for. */
export function problemToError(status: number, body: unknown): MlaxError {
  const p = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
  let detail = typeof p.detail === "string" ? p.detail : typeof p.title === "string" ? p.title : "";
  // zod issues (INPUT_INVALID) name the field that is wrong: show the first few.
  if (Array.isArray(p.issues) && p.issues.length > 0) {
    const issues = p.issues
      .slice(0, 5)
      .map((i: { path?: unknown; message?: unknown }) =>
        typeof i?.path === "string" && i.path
          ? `${i.path}: ${String(i.message)}`
          : String(i?.message),
      );
    detail = `${detail}: ${issues.join("; ")}`;
  }
  const details = { httpStatus: status };
  if (isKnownCode(p.code)) {
    return new HttpError(p.code, printable(detail || ERROR_CODES[p.code].title), { details });
  }
  const code = typeof p.code === "string" ? printable(p.code, 64) : `HTTP_${status}`;
  return new HttpError(
    "PEER_ERROR",
    printable(`the node answered ${status} ${code}${detail ? `: ${detail}` : ""}`),
    {
      details: { ...details, code },
    },
  );
}

function unreachable(baseUrl: string, cause: unknown): MlaxError {
  const e = cause as { name?: string; cause?: { code?: string; message?: string } };
  const reason =
    e?.name === "TimeoutError" || e?.name === "AbortError"
      ? "timed out"
      : (e?.cause?.code ?? e?.cause?.message ?? (cause as Error)?.message ?? "unreachable");
  return new HttpError(
    "PEER_UNREACHABLE",
    `cannot reach the node at ${baseUrl}: ${reason} (is \`mlax node start\` running? set --node or MLAX_NODE)`,
    { cause },
  );
}

export function createOperatorClient(options: OperatorClientOptions): OperatorClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? DEFAULT_CLIENT_TIMEOUT_MS;

  async function call<T>(
    method: "GET" | "POST",
    path: string,
    query: Record<string, string | number | undefined> = {},
    body?: unknown,
  ): Promise<{ value: T; response: Response }> {
    const url = new URL(`${API}${path}`, `${baseUrl}/`);
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined) url.searchParams.set(k, String(v));
    }
    let response: Response;
    try {
      response = await doFetch(url, {
        method,
        headers: {
          authorization: `Bearer ${options.token}`,
          accept: "application/json, application/problem+json",
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        redirect: "error",
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (cause) {
      throw unreachable(baseUrl, cause);
    }
    let text: string;
    try {
      text = await response.text();
    } catch (cause) {
      throw unreachable(baseUrl, cause);
    }
    let parsed: unknown;
    try {
      parsed = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!response.ok) throw problemToError(response.status, parsed);
    if (parsed === undefined) {
      throw new HttpError(
        "PEER_ERROR",
        `the node answered ${response.status} without a JSON body (is ${baseUrl} an mlax operator API?)`,
      );
    }
    return { value: parsed as T, response };
  }

  const id = (value: string) => encodeURIComponent(value);

  return {
    baseUrl,
    async sendMessage(input) {
      const { value, response } = await call<QueuedMessage>("POST", "/messages", {}, input);
      const location = response.headers.get("location");
      return location ? { ...value, location } : value;
    },
    async listMessages(query) {
      return (
        await call<MessagePage>("GET", "/messages", {
          box: query.box,
          state: query.state,
          limit: query.limit,
          cursor: query.cursor,
        })
      ).value;
    },
    async getMessage(messageId, o = {}) {
      return (await call<MessageView>("GET", `/messages/${id(messageId)}`, { ...o })).value;
    },
    async evidence(messageId, o = {}) {
      return (await call<EvidenceBundle>("GET", `/messages/${id(messageId)}/evidence`, { ...o }))
        .value;
    },
    async status() {
      return (await call<NodeStatus>("GET", "/status")).value;
    },
    async securityEvents(o = {}) {
      return (await call<SecurityEventPage>("GET", "/security-events", { ...o })).value;
    },
  };
}
