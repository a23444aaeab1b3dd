/**
 * Brings a store to LATEST_SCHEMA_VERSION: each pending migration runs in its own immediate
 * transaction with `PRAGMA user_version = version` (the version commits with the schema). A store
 * written by a newer mlax is refused rather than half-understood.
 */
import type Database from "better-sqlite3";
import { StoreError } from "../errors.ts";
import { MIGRATIONS, type Migration } from "./migrations.ts";

function schemaVersion(db: Database.Database): number {
  return db.pragma("user_version", { simple: true }) as number;
}

function refuseNewer(version: number, latest: number): StoreError {
  return new StoreError(
    "STORE_FAILED",
    `The store has schema version ${version}, newer than this mlax knows (${latest}): ` +
      "upgrade mlax or open a store made by this version",
    { details: { schemaVersion: version, supportedVersion: latest } },
  );
}

/** Returns the schema version after migrating. */
export function migrate(
  db: Database.Database,
  migrations: readonly Migration[] = MIGRATIONS,
): number {
  const latest = migrations.reduce((max, m) => Math.max(max, m.version), 0);
  const initial = schemaVersion(db);
  if (initial > latest) throw refuseNewer(initial, latest);
  const pending = [...migrations]
    .filter((m) => m.version > initial)
    .sort((a, b) => a.version - b.version);
  for (const migration of pending) {
    db.transaction(() => {
      // Another process may have migrated while we waited for the write lock.
      const current = schemaVersion(db);
      if (current > latest) throw refuseNewer(current, latest);
      if (current >= migration.version) return;
      db.exec(migration.up);
      db.pragma(`user_version = ${migration.version}`);
    }).immediate();
  }
  return schemaVersion(db);
}
