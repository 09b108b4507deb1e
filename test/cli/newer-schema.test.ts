import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { Engine } from '../../src/engine/engine.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { spec } from '../support/fixtures.ts';
import { runCli } from '../support/node-process.ts';
import { createTestDatabase, pg_unavailable_message } from '../support/pg.ts';

/**
 * A store a newer release migrated relies on what its migrations added (a counter an older build
 * would not keep): an older build refuses it, to write (serve, migrate) and to read (verify), and
 * leaves it as it was; going back means restoring a backup taken before the upgrade.
 */
const future = '999_from_a_newer_release';
const refused = new RegExp(
  `^vouchsafe: the store was migrated by a newer vouchsafe \\(1 migration this version does not know: ${future}\\); run that version or a newer one\\n$`,
);
const commands = [
  ['migrate'],
  ['serve', '--port', '0'],
  ['verify'],
  ['campaigns', 'list'],
  ['keys', 'create', '--name', 'k', '--scope', 'read'],
];
const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('a store migrated by a newer release, on SQLite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vouchsafe-newer-schema-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'vouchsafe.db');

  test('every command refuses it, naming the migrations it does not know, and leaves it byte for byte', async () => {
    const store = new SqliteStore({ path });
    const engine = await Engine.open(store);
    await engine.createCampaign(spec(), { actor: 'key_test' });
    await engine.close();
    await store.close();
    const db = new Database(path);
    db.prepare('INSERT INTO migrations_applied (id, applied_at_ms) VALUES (?, ?)').run(future, Date.now());
    db.close();
    const before = sha256(path);
    for (const args of commands) {
      const run = await runCli(args, { VOUCHSAFE_DATA_DIR: dir, LOG_LEVEL: 'warn' }, { timeout_ms: 60_000 });
      assert.equal(run.code, 1, `${args.join(' ')}: ${run.out}`);
      assert.match(run.out, refused, args.join(' '));
      assert.equal(sha256(path), before, `${args.join(' ')} changed the store`);
    }
    assert.throws(() => new SqliteStore({ path }), /migrated by a newer vouchsafe/);
  });
});

const pgDb = await createTestDatabase();
after(() => pgDb?.drop());

describe('a store migrated by a newer release, on PostgreSQL', () => {
  if (!pgDb) {
    test.skip(pg_unavailable_message);
    return;
  }
  const base = pgDb;

  test('every command refuses it and the database keeps its schema as it was', async () => {
    const store = new PostgresStore({ url: base.url });
    await store.migrate();
    const engine = await Engine.open(store);
    await engine.createCampaign(spec(), { actor: 'key_test' });
    await engine.close();
    await store.close();
    const client = new pg.Client({ connectionString: base.url });
    await client.connect();
    const applied = async () =>
      (await client.query<{ id: string }>('SELECT id FROM migrations_applied ORDER BY id')).rows.map((r) => r.id);
    try {
      await client.query('INSERT INTO migrations_applied (id, applied_at_ms) VALUES ($1, $2)', [future, Date.now()]);
      const before = await applied();
      for (const args of commands) {
        const run = await runCli(args, { DATABASE_URL: base.url, LOG_LEVEL: 'warn' }, { timeout_ms: 60_000 });
        assert.equal(run.code, 1, `${args.join(' ')}: ${run.out}`);
        assert.match(run.out, refused, args.join(' '));
      }
      assert.deepEqual(await applied(), before);
      const keys = await client.query('SELECT count(*)::int AS n FROM api_keys');
      assert.equal(keys.rows[0]?.n, 0, 'no key was made');
    } finally {
      await client.end();
    }
  });
});
