/**
 * The multer storage engine of the peer API (attachments.ts, step 3): each `attachment` part is
 * written to <dataDir>/incoming/<random>.part (mode 0600; the part's file name is never looked at),
 * hashed as it is written, and the parts of one request are capped in total. multer calls
 * `_removeFile` for every stored part when the request fails; the route removes them otherwise.
 */
import type { Request } from "express";
import type { StorageEngine } from "multer";
import type { BlobStore } from "../store/index.ts";
import { type ByteBudget, byteBudget, type ReceivedPart } from "./attachments.ts";

/** What multer puts in `req.files` for each part (its own fields + ours). */
export type IncomingPart = Express.Multer.File & ReceivedPart;

export function incomingStorage(blobs: BlobStore, maxTotalBytes: number): StorageEngine {
  const budgets = new WeakMap<Request, ByteBudget>();
  const budgetOf = (req: Request): ByteBudget => {
    let budget = budgets.get(req);
    if (!budget) {
      budget = byteBudget(maxTotalBytes, "the attachment parts");
      budgets.set(req, budget);
    }
    return budget;
  };
  return {
    _handleFile(req, file, callback) {
      blobs.writeIncoming(file.stream, [budgetOf(req).meter()]).then(
        (written) => callback(null, written),
        (error) => callback(error),
      );
    },
    _removeFile(_req, file, callback) {
      blobs.discard(file.path).then(
        () => callback(null),
        (error) => callback(error as Error),
      );
    },
  };
}
