/**
 * `POST /api/v1/messages` as multipart/form-data (src/peer/attachments.ts, step 1): one field
 * `message` (the JSON the JSON route takes) and 0..20 files `attachment`. One fresh attachment key
 * per request; each file, as it arrives (its position = its manifest index), streams through the
 * message's byte budget, a plaintext digest and the STREAM cipher into a new blob, so nothing is
 * held in memory. Every multer limit is set. On any failure before the message is queued the blobs
 * of the request are removed (multer does it for its own errors, `discard` for later ones).
 */
import type { Request, RequestHandler } from "express";
import multer, { type StorageEngine } from "multer";
import {
  createDigestStream,
  createEncryptStream,
  generateAttachmentKey,
} from "../envelope/attachment-stream.ts";
import { HttpError, InputError } from "../errors.ts";
import type { OutgoingAttachments } from "../node/send-message.ts";
import { type AttachmentLimits, type ByteBudget, byteBudget } from "../peer/attachments.ts";
import type { BlobStore, WrittenBlob } from "../store/index.ts";
import { attachmentDisplayName, attachmentMediaType } from "./attachment-name.ts";

/** Multipart framing allowance per part (boundary and part headers) in the Content-Length cap. */
const PART_OVERHEAD_BYTES = 16 * 1024;

interface UploadState {
  readonly key: string;
  readonly budget: ByteBudget;
  next: number;
}

/** What the storage engine adds to each multer file. */
interface EncryptedInfo {
  readonly index: number;
  readonly blob: WrittenBlob;
  readonly plainSize: number;
  readonly plainSha256: string;
}

type UploadedFile = Express.Multer.File & EncryptedInfo;

export interface AttachmentUpload {
  /** Parses the multipart body (the route calls it only for multipart/form-data). */
  readonly receive: readonly RequestHandler[];
  /** The `message` field and the encrypted attachments of a received request. */
  take(req: Request): { readonly message: unknown; readonly attachments: OutgoingAttachments };
  /** Removes the blobs of a request whose message was not queued. */
  discard(req: Request): Promise<void>;
}

export function attachmentUpload(
  blobs: BlobStore,
  limits: AttachmentLimits,
  maxMessageJsonBytes: number,
): AttachmentUpload {
  const states = new WeakMap<Request, UploadState>();
  const maxBody =
    maxMessageJsonBytes + limits.maxMessageBytes + PART_OVERHEAD_BYTES * (1 + limits.maxFiles);

  const storage: StorageEngine = {
    _handleFile(req, file, callback) {
      const state = states.get(req);
      if (!state) {
        callback(new HttpError("INTERNAL", "attachment upload state missing"));
        return;
      }
      const index = state.next++;
      const digest = createDigestStream();
      blobs
        .write(file.stream, [state.budget.meter(), digest, createEncryptStream(state.key, index)])
        .then(
          (blob) => {
            const plain = digest.result();
            const info: EncryptedInfo = {
              index,
              blob,
              plainSize: plain.size,
              plainSha256: plain.sha256,
            };
            callback(null, info as unknown as Partial<Express.Multer.File>);
          },
          (error) => callback(error),
        );
    },
    _removeFile(_req, file, callback) {
      blobs.remove((file as UploadedFile).blob.name).then(
        () => callback(null),
        (error) => callback(error as Error),
      );
    },
  };

  const upload = multer({
    storage,
    // Keep the raw name so that no file vanishes ("..", "a/" reduce to nothing otherwise); it is
    // only ever a display name, reduced by attachment-name.ts, never a path.
    preservePath: true,
    // Browsers and fetch send file names as raw UTF-8 (busboy's default reads them as latin1).
    defParamCharset: "utf8",
    limits: {
      fieldNameSize: 32,
      fieldSize: maxMessageJsonBytes,
      fields: 1,
      files: limits.maxFiles,
      fileSize: limits.maxFileBytes,
      parts: 1 + limits.maxFiles,
      headerPairs: 20,
    },
  }).array("attachment", limits.maxFiles);

  const start: RequestHandler = (req, _res, next) => {
    const length = Number(req.get("content-length") ?? "0");
    if (length > maxBody) {
      next(new HttpError("INPUT_TOO_LARGE", `body of ${length} bytes exceeds the message cap`));
      return;
    }
    states.set(req, {
      key: generateAttachmentKey(),
      budget: byteBudget(limits.maxMessageBytes, "the attachments of one message"),
      next: 0,
    });
    next();
  };

  const filesOf = (req: Request): UploadedFile[] =>
    [...((req.files as UploadedFile[] | undefined) ?? [])].sort((a, b) => a.index - b.index);

  return {
    receive: [start, upload],
    take(req) {
      const state = states.get(req);
      const raw = (req.body as Record<string, unknown> | undefined)?.message;
      if (!state || typeof raw !== "string") {
        throw new HttpError(
          "MULTIPART_INVALID",
          "the `message` field (the message JSON) is missing",
        );
      }
      let message: unknown;
      try {
        message = JSON.parse(raw);
      } catch (cause) {
        throw new InputError("INPUT_INVALID", "the `message` field is not JSON", { cause });
      }
      const items = filesOf(req).map((f) => ({
        manifest: {
          name: attachmentDisplayName(f.originalname, f.index),
          mediaType: attachmentMediaType(f.mimetype),
          size: f.plainSize,
          sha256: f.plainSha256,
        },
        blob: { blobName: f.blob.name, ciphertextSha256: f.blob.sha256, size: f.blob.size },
      }));
      return { message, attachments: { key: state.key, items } };
    },
    async discard(req) {
      await Promise.all(filesOf(req).map((f) => blobs.remove(f.blob.name).catch(() => undefined)));
    },
  };
}
