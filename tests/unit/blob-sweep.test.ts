/**
 * Crash leftovers in a node's data folder are collected: committed blobs that no attachment row
 * references (a crash between rename and commit), once older than the sweep age — and nothing else.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, describe, it } from "node:test";
import { openBlobStore, openStore } from "../../src/store/index.ts";

describe("orphan blob sweep", () => {
  const dir = mkdtempSync(join(tmpdir(), "mlax-sweep-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("removes old unreferenced blobs only", async () => {
    const blobs = openBlobStore(dir);
    const store = openStore(join(dir, "store.sqlite"));
    try {
      const kept = await blobs.write(Readable.from([Buffer.from("referenced")]));
      const orphan = await blobs.write(Readable.from([Buffer.from("orphan")]));
      const young = await blobs.write(Readable.from([Buffer.from("young orphan")]));
      const hourAgo = new Date(Date.now() - 2 * 3_600_000);
      for (const b of [kept, orphan]) utimesSync(blobs.path(b.name), hourAgo, hourAgo);
      assert.equal(store.isBlobReferenced(orphan.name), false);
      const referenced = new Set([kept.name]);
      const removed = await blobs.sweepOrphans(
        (n) => referenced.has(n) || store.isBlobReferenced(n),
        3_600_000,
      );
      assert.equal(removed, 1);
      assert.ok(existsSync(blobs.path(kept.name)), "referenced blob kept");
      assert.ok(!existsSync(blobs.path(orphan.name)), "old orphan removed");
      assert.ok(
        existsSync(blobs.path(young.name)),
        "a blob younger than the sweep age may still be committing",
      );
    } finally {
      store.close();
    }
  });
});
