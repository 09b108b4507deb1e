import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { verifyStore } from '../../src/engine/verify.ts';
import type { Store } from '../../src/store/port.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { copyTestDatabase, type TestDatabase } from './pg.ts';

/**
 * Tampering tests for verify: a store built once (the baseline), copied per case, edited with SQL as a
 * buggy release or a database writer would, then verified.
 */

export type VerifyReport = Awaited<ReturnType<typeof verifyStore>>;

/** The report fails, and one of its lines (as the CLI prints them) says `says`. */
export function assertCaught(report: VerifyReport, says: string): void {
  assert.equal(report.ok, false);
  const lines = report.violations.map((v) => `invariant ${v.invariant} ${v.campaign_id ?? 'platform'}: ${v.detail}`);
  assert.ok(
    lines.some((l) => l.includes(says)),
    `verify must say "${says}":\n${lines.join('\n')}`,
  );
}

/** verifyStore over `store` in one snapshot, then the store closed. */
async function verifyThenClose(store: Store): Promise<VerifyReport> {
  try {
    return await store.readSnapshot(() => verifyStore(store));
  } finally {
    await store.close();
  }
}

/** A copy of the SQLite store in `baseline` (its WAL too) made in `dir`, each statement run on it once (each changes one row). */
export function tamperedSqliteCopy(baseline: string, dir: string, sql: readonly string[]): string {
  mkdirSync(dir, { recursive: true });
  const src = join(baseline, 'vouchsafe.db');
  copyFileSync(src, join(dir, 'vouchsafe.db'));
  if (existsSync(`${src}-wal`)) copyFileSync(`${src}-wal`, join(dir, 'vouchsafe.db-wal'));
  const db = new Database(join(dir, 'vouchsafe.db'));
  try {
    for (const s of sql) assert.equal(db.prepare(s).run().changes, 1, s);
  } finally {
    db.close();
  }
  return dir;
}

/** verifyStore over the SQLite store in `dir`. */
export function verifySqlite(dir: string): Promise<VerifyReport> {
  return verifyThenClose(new SqliteStore({ path: join(dir, 'vouchsafe.db') }));
}

/** On a copy of `base`, each statement run once (each changes one row), then verified: the report. */
export async function verifyTamperedPostgres(base: TestDatabase, sql: readonly string[]): Promise<VerifyReport> {
  const copy = await copyTestDatabase(base);
  try {
    const client = new pg.Client({ connectionString: copy.url });
    await client.connect();
    try {
      for (const s of sql) assert.equal((await client.query(s)).rowCount, 1, s);
    } finally {
      await client.end();
    }
    return await verifyThenClose(new PostgresStore({ url: copy.url }));
  } finally {
    await copy.drop();
  }
}
