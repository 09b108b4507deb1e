import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { Store } from '../../src/store/port.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { createTestDatabase, pg_unavailable_message } from './pg.ts';

/** One store: how to open it, and how to set it back, with the store closed, to before a migration. */
export interface MigrationAdapter {
  open: () => Store;
  /** Undoes the migration's work and its record with raw SQL; answers what is left of the work (the `left` count). */
  forget: () => Promise<number>;
}

/** Per store: statements that undo a migration (its record included), then a `SELECT count(*) AS n` of what is left. */
export interface Rewind {
  sqlite: { undo: string[]; left: string };
  postgres: { undo: string[]; left: string };
}

/**
 * A migration run again over rows an older version left: `run` makes rows with today's code,
 * calls forget, and migrates again (SQLite as it opens, PostgreSQL with migrate()). One case per store.
 */
export function describeMigrationRerun(title: string, rewind: Rewind, run: (a: MigrationAdapter) => Promise<void>) {
  describe(title, () => {
    const root = mkdtempSync(join(tmpdir(), 'vs-migration-'));
    after(() => rmSync(root, { recursive: true, force: true }));

    test('SQLite', () => {
      const path = join(root, 'vouchsafe.db');
      return run({
        open: () => new SqliteStore({ path, synchronous: 'NORMAL' }),
        forget: async () => {
          const db = new Database(path);
          try {
            for (const sql of rewind.sqlite.undo) db.prepare(sql).run();
            return Number((db.prepare(rewind.sqlite.left).get() as { n: number }).n);
          } finally {
            db.close();
          }
        },
      });
    });

    test('PostgreSQL', async (t) => {
      const db = await createTestDatabase();
      if (!db) return t.skip(pg_unavailable_message);
      try {
        await run({
          open: () => new PostgresStore({ url: db.url }),
          forget: async () => {
            const client = new pg.Client({ connectionString: db.url });
            await client.connect();
            try {
              for (const sql of rewind.postgres.undo) await client.query(sql);
              return Number((await client.query(rewind.postgres.left)).rows[0]?.n);
            } finally {
              await client.end();
            }
          },
        });
      } finally {
        await db.drop();
      }
    });
  });
}
