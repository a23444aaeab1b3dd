/**
 * HTTP client for a node's operator API (src/operator/app.ts), used by `mlax send`, `inbox`,
 * `outbox`, `show`, `evidence`, `attachment` and `status`. A problem+json answer becomes an
 * MlaxError with the node's `code`, so the CLI prints `error CODE: …` as if the failure were local;
 * a node that cannot be reached is PEER_UNREACHABLE. Attachments are streamed both ways: uploaded
 * as file-backed Blobs (`fs.openAsBlob`) in a multipart body, downloaded straight into a temporary
 * file next to the destination, renamed into place only once complete and checked.
 */
import { createHash, randomBytes } from "node:crypto";
import { openAsBlob } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
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

/** A local file to attach to a message. */
export interface AttachFile {
  readonly path: string;
  /** The part's file name (the manifest name, after the node sanitises it). Default: basename. */
  readonly name?: string;
  /** Default application/octet-stream. */
  readonly mediaType?: string;
}

export interface SavedAttachment {
  readonly path: string;
  readonly size: number;
  /** SHA-256 hex of the bytes written (the plaintext). */
  readonly sha256: string;
  readonly mediaType: string;
}

export interface OperatorClient {
  readonly baseUrl: string;
  /** JSON without attachments; multipart/form-data (`message` + `attachment` files) with them. */
  sendMessage(
    input: SendMessageInput,
    attachments?: readonly AttachFile[],
  ): Promise<QueuedMessage & { location?: string }>;
  listMessages(query: ListMessagesQuery): Promise<MessagePage>;
  getMessage(id: string, options?: GetMessageOptions): Promise<MessageView>;
  evidence(id: string, options?: GetMessageOptions): Promise<EvidenceBundle>;
  /**
   * Downloads attachment `index` into `dest` (mode 0600, written to a temporary file then
   * renamed; nothing is left at `dest` if the download fails). `expectedSize` sets the deadline.
   */
  saveAttachment(
    id: string,
    index: number,
    dest: string,
    options?: GetMessageOptions & {
      readonly expectedSize?: number;
      readonly expectedSha256?: string;
    },
  ): Promise<SavedAttachment>;
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

/** Time allowed per byte of an attachment upload or download on top of the timeout (1 MiB/s). */
const MIN_TRANSFER_BYTES_PER_MS = (1024 * 1024) / 1000;

export function createOperatorClient(options: OperatorClientOptions): OperatorClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? DEFAULT_CLIENT_TIMEOUT_MS;
  const deadline = (bytes: number) =>
    AbortSignal.timeout(timeoutMs + Math.ceil(bytes / MIN_TRANSFER_BYTES_PER_MS));

  async function request(
    method: "GET" | "POST",
    path: string,
    query: Record<string, string | number | undefined>,
    init: { body?: string | FormData; contentType?: string; accept?: string; signal?: AbortSignal },
  ): Promise<Response> {
    const url = new URL(`${API}${path}`, `${baseUrl}/`);
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined) url.searchParams.set(k, String(v));
    }
    try {
      return await doFetch(url, {
        method,
        headers: {
          authorization: `Bearer ${options.token}`,
          accept: init.accept ?? "application/json, application/problem+json",
          ...(init.contentType === undefined ? {} : { "content-type": init.contentType }),
        },
        body: init.body,
        redirect: "error",
        signal: init.signal ?? AbortSignal.timeout(timeoutMs),
      });
    } catch (cause) {
      throw unreachable(baseUrl, cause);
    }
  }

  /** The node's problem for a non-2xx answer, as an MlaxError. */
  async function failOf(response: Response): Promise<MlaxError> {
    const text = await response.text().catch(() => "");
    let parsed: unknown;
    try {
      parsed = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return problemToError(response.status, parsed);
  }

  async function call<T>(
    method: "GET" | "POST",
    path: string,
    query: Record<string, string | number | undefined> = {},
    body?: unknown,
    form?: { data: FormData; bytes: number },
  ): Promise<{ value: T; response: Response }> {
    const response = await request(
      method,
      path,
      query,
      form
        ? { body: form.data, signal: deadline(form.bytes) }
        : body === undefined
          ? {}
          : { body: JSON.stringify(body), contentType: "application/json" },
    );
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

  async function saveAttachment(
    messageId: string,
    index: number,
    dest: string,
    o: GetMessageOptions & {
      readonly expectedSize?: number;
      readonly expectedSha256?: string;
    } = {},
  ): Promise<SavedAttachment> {
    const response = await request(
      "GET",
      `/messages/${encodeURIComponent(messageId)}/attachments/${index}`,
      { box: o.box, from: o.from },
      { accept: "*/*", signal: deadline(o.expectedSize ?? 0) },
    );
    if (!response.ok) throw await failOf(response);
    const tmp = join(dirname(dest), `.${randomBytes(6).toString("hex")}.tmp`);
    const hash = createHash("sha256");
    let size = 0;
    try {
      const handle = await open(tmp, "wx", 0o600);
      try {
        if (response.body) {
          for await (const chunk of response.body) {
            hash.update(chunk);
            size += chunk.byteLength;
            let offset = 0;
            while (offset < chunk.byteLength) {
              offset += (await handle.write(chunk, offset, chunk.byteLength - offset)).bytesWritten;
            }
          }
        }
        await handle.sync();
      } finally {
        await handle.close();
      }
      const declared = Number(response.headers.get("content-length") ?? size);
      if (declared !== size) {
        throw new HttpError("PEER_ERROR", `the download ended after ${size} of ${declared} bytes`);
      }
      // Checked against the signed manifest before it replaces anything at `dest`.
      const sha256 = hash.copy().digest("hex");
      if (
        (o.expectedSize !== undefined && size !== o.expectedSize) ||
        (o.expectedSha256 !== undefined && sha256 !== o.expectedSha256)
      ) {
        throw new HttpError(
          "MESSAGE_ATTACHMENT_INVALID",
          `the download does not match the signed manifest (size ${size}, sha256 ${sha256})`,
        );
      }
      await rename(tmp, dest);
    } catch (cause) {
      await rm(tmp, { force: true }).catch(() => undefined);
      if (cause instanceof HttpError) throw cause;
      const e = cause as NodeJS.ErrnoException;
      if (e?.syscall !== undefined) {
        throw new HttpError("FILE_UNREADABLE", `cannot write ${dest}: ${e.code ?? e.message}`, {
          cause,
        });
      }
      throw new HttpError(
        "PEER_ERROR",
        "the attachment download was cut short (the node could not serve it whole)",
        { cause },
      );
    }
    return {
      path: dest,
      size,
      sha256: hash.digest("hex"),
      mediaType: response.headers.get("content-type") ?? "application/octet-stream",
    };
  }

  return {
    baseUrl,
    async sendMessage(input, attachments = []) {
      let form: { data: FormData; bytes: number } | undefined;
      if (attachments.length > 0) {
        const data = new FormData();
        data.append("message", JSON.stringify(input));
        let bytes = 0;
        for (const a of attachments) {
          let blob: Blob;
          try {
            blob = await openAsBlob(a.path, { type: a.mediaType ?? "application/octet-stream" });
          } catch (cause) {
            const reason = (cause as NodeJS.ErrnoException)?.code ?? "unreadable";
            throw new HttpError("FILE_UNREADABLE", `${a.path}: ${reason}`, { cause });
          }
          bytes += blob.size;
          data.append("attachment", blob, a.name ?? basename(a.path));
        }
        form = { data, bytes };
      }
      const { value, response } = await call<QueuedMessage>(
        "POST",
        "/messages",
        {},
        form ? undefined : input,
        form,
      );
      const location = response.headers.get("location");
      return location ? { ...value, location } : value;
    },
    saveAttachment,
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
