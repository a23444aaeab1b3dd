/**
 * `GET /api/v1/messages/:id/attachments/:index` (src/peer/attachments.ts, step 5): the plaintext
 * of one attachment, decrypted from its blob with the key inside the stored signed message and
 * checked against the signed manifest while it streams. The size is known (the manifest), so the
 * answer has a Content-Length; a blob that does not authenticate is STORE_CORRUPT (500) when found
 * before the first byte, else it cuts the response short, which a client sees as a failed
 * download, never as a complete file. The media type is the manifest's
 * (schema-restricted `type/subtype`), with nosniff, a sandboxing CSP and an `attachment`
 * disposition: a browser never renders it in the console's origin.
 */
import type { FileHandle } from "node:fs/promises";
import { open } from "node:fs/promises";
import type { Response } from "express";
import { createDecryptStream } from "../envelope/attachment-stream.ts";
import { messageSchema } from "../envelope/message.ts";
import { HttpError, isMlaxError, StoreError } from "../errors.ts";
import type { NodeContext } from "../node/context.ts";
import type { BlobStore, GetMessageOptions } from "../store/index.ts";
import { contentDisposition } from "./attachment-name.ts";

/** The attachmentKey inside a stored (already verified or self-signed) message JWS. */
function attachmentKeyOf(jws: string): string | undefined {
  try {
    const payload = JSON.parse(Buffer.from(jws.split(".")[1] ?? "", "base64url").toString("utf8"));
    const parsed = messageSchema.safeParse(payload);
    return parsed.success ? parsed.data.attachmentKey : undefined;
  } catch {
    return undefined;
  }
}

export async function sendAttachment(
  ctx: NodeContext,
  blobs: BlobStore,
  res: Response,
  target: { readonly id: string; readonly index: number; readonly options: GetMessageOptions },
): Promise<void> {
  const { id, index, options } = target;
  const record = ctx.store.getAttachment(id, index, options);
  if (record === undefined) {
    const known = ctx.store.getMessage(id, options) !== undefined;
    throw new HttpError(
      "NOT_FOUND",
      known ? `message ${id} has no attachment ${index}` : `no message ${id}`,
    );
  }
  if (record.blob === undefined) {
    throw new HttpError(
      "NOT_FOUND",
      `attachment ${index} of message ${id} was not kept (the message was rejected)`,
    );
  }
  const key = attachmentKeyOf(record.jws);
  if (key === undefined) {
    throw new StoreError("STORE_FAILED", `message ${id} has attachments but no attachmentKey`);
  }
  let handle: FileHandle;
  try {
    handle = await open(blobs.path(record.blob.blobName), "r");
  } catch (cause) {
    throw new StoreError("STORE_FAILED", `the blob of attachment ${index} of ${id} is missing`, {
      cause,
    });
  }
  const { manifest } = record;
  const source = handle.createReadStream();
  const plaintext = createDecryptStream(key, index, {
    expect: { size: manifest.size, sha256: manifest.sha256 },
  });
  source.on("error", (error) => plaintext.destroy(error));
  source.pipe(plaintext);
  // Headers go with the first authenticated record: a blob that fails before it gets a problem
  // answer; one that fails later cuts the response short (its Content-Length is never reached).
  const start = () => {
    if (res.headersSent) return;
    res.status(200).set({
      "Content-Type": manifest.mediaType,
      "Content-Length": String(manifest.size),
      "Content-Disposition": contentDisposition(manifest.name, index),
      "X-Content-Type-Options": "nosniff",
      "Content-Security-Policy": "default-src 'none'; sandbox",
    });
    res.flushHeaders();
  };
  try {
    for await (const chunk of plaintext) {
      if (res.destroyed) break;
      start();
      if (!res.write(chunk)) await drainedOrClosed(res);
    }
    if (!res.destroyed) {
      start();
      res.end();
    }
  } catch (error) {
    const invalid = isMlaxError(error) && error.code === "MESSAGE_ATTACHMENT_INVALID";
    if (!res.headersSent) {
      throw invalid
        ? new StoreError(
            "STORE_CORRUPT",
            `the blob of attachment ${index} of ${id} does not match its manifest`,
            { cause: error },
          )
        : error;
    }
    const line = { err: error, msgId: id, attachmentIndex: index };
    if (invalid) {
      ctx.log.error(line, "attachment blob does not match its manifest entry: response cut short");
    } else {
      ctx.log.info(line, "attachment download ended early");
    }
    res.destroy();
  } finally {
    source.destroy();
    await handle.close().catch(() => undefined);
  }
}

/** Waits until the response can take more, or is gone (a client that left never drains). */
function drainedOrClosed(res: Response): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}
