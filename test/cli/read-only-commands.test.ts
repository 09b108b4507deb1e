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
 * verify, audit digest, campaigns list and keys list only read: they leave the store as it is,
 * its schema included, so they run on an older store without upgrading it under servers of that
 * version, and on a database that takes no writes (a hot standby, a read-only role).
 */
const reading = [['verify'], ['audit', 'digest'], ['campaigns', 'list'], ['keys', 'list']];

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('the reading commands on SQLite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vouchsafe-read-only-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'vouchsafe.db');
  const env = { VOUCHSAFE_DATA_DIR: dir, LOG_LEVEL: 'warn' };

  test('refuse a store older than this build and leave it byte for byte as it was; migrate upgrades it', async () => {
    const store = new SqliteStore({ path });
    const engine = await Engine.open(store);
    await engine.createCampaign(spec(), { actor: 'key_test' });
    await engine.close();
    await store.close();
    // The store as the release before migration 130 left it.
    const db = new Database(path);
    db.exec('ALTER TABLE api_keys DROP COLUMN created_by');
    db.exec('ALTER TABLE api_keys DROP COLUMN replaces');
    db.exec("DELETE FROM migrations_applied WHERE id = '130_api_key_lineage'");
    db.close();
    const before = sha256(path);
    for (const args of reading) {
      const run = await runCli(args, env);
      assert.equal(run.code, 1, `${args.join(' ')}: ${run.out}`);
      assert.match(
        run.out,
        /^vouchsafe: the store is older than this vouchsafe \(1 migration not applied: 130_api_key_lineage\); .*run vouchsafe migrate first\n$/,
      );
      assert.equal(sha256(path), before, `${args.join(' ')} changed the store`);
    }
    const migrate = await runCli(['migrate'], env);
    assert.equal(migrate.code, 0, migrate.out);
    const verify = await runCli(['verify'], env);
    assert.equal(verify.code, 0, verify.out);
    assert.match(verify.out, /^OK: 1 campaigns/);
  });
});

const pgDb = await createTestDatabase();
after(() => pgDb?.drop());

describe('the reading commands on PostgreSQL', () => {
  if (!pgDb) {
    test.skip(pg_unavailable_message);
    return;
  }
  const base = pgDb;

  test('run on a database that takes no writes (a hot standby, a read-only role)', async () => {
    const store = new PostgresStore({ url: base.url });
    await store.migrate();
    const engine = await Engine.open(store);
    await engine.createCampaign(spec(), { actor: 'key_test' });
    await engine.close();
    await store.close();
    const name = new URL(base.url).pathname.slice(1);
    const client = new pg.Client({ connectionString: base.url });
    await client.connect();
    try {
      await client.query(`ALTER DATABASE ${name} SET default_transaction_read_only = on`);
    } finally {
      await client.end();
    }
    for (const args of reading) {
      const run = await runCli(args, { DATABASE_URL: base.url, LOG_LEVEL: 'warn' });
      assert.equal(run.code, 0, `${args.join(' ')}: ${run.out}`);
    }
    const verify = await runCli(['verify'], { DATABASE_URL: base.url });
    assert.match(verify.out, /^OK: 1 campaigns, 0 coupons, 0 redemptions/);
  });
});
