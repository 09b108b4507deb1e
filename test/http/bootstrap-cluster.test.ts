import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { ensureAdminKey } from '../../src/http/bootstrap-key.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { pgTables } from '../../src/store/postgres/schema.ts';
import { createTestDatabase, pg_unavailable_message } from '../support/pg.ts';

const db = await createTestDatabase();
after(() => db?.drop());

const nodes = 3;

/**
 * A node's store whose first countApiKeys answers only once every node has asked: each node's
 * bootstrap then sees an empty store, as nodes started together on a new database do.
 */
function startingTogether(url: string, n: number): PostgresStore[] {
  let waiting: Array<() => void> = [];
  const arrived = () =>
    new Promise<void>((go) => {
      waiting.push(go);
      if (waiting.length < n) return;
      for (const w of waiting) w();
      waiting = [];
    });
  return Array.from({ length: n }, () => {
    const store = new PostgresStore({ url });
    const count = store.countApiKeys.bind(store);
    let first = true;
    store.countApiKeys = async () => {
      const k = await count();
      if (first) {
        first = false;
        await arrived();
      }
      return k;
    };
    return store;
  });
}

async function emptied(url: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(`TRUNCATE ${pgTables.join(', ')} RESTART IDENTITY`);
  } finally {
    await c.end();
  }
}

describe('bootstrap admin key: nodes starting together on one new PostgreSQL', () => {
  if (!db) {
    test.skip(pg_unavailable_message);
    return;
  }
  const url = db.url;
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const dataDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'vs-bootstrap-'));
    dirs.push(d);
    return d;
  };

  for (const admin_key of ['vs_test_admin_key_for_bootstrap_race_01', undefined]) {
    const what = admin_key === undefined ? 'a random key' : 'VOUCHSAFE_ADMIN_KEY';
    test(`${what}: every node starts, and exactly one makes the key`, async () => {
      const setup = new PostgresStore({ url });
      await setup.migrate();
      await setup.close();
      await emptied(url);
      const stores = startingTogether(url, nodes);
      try {
        const printed: string[] = [];
        const results = await Promise.allSettled(
          stores.map((store) =>
            ensureAdminKey({ store, data_dir: dataDir(), admin_key, print: (l) => printed.push(l) }),
          ),
        );
        const failed = results.filter((r) => r.status === 'rejected').map((r) => String(r.reason));
        assert.deepEqual(failed, [], 'no node may fail to start');
        const made = results.filter((r) => r.status === 'fulfilled' && r.value.created);
        assert.equal(made.length, 1, 'one node makes the key');
        assert.equal(await stores[0]?.countApiKeys(), 1);
        assert.equal(printed.length, admin_key === undefined ? 1 : 0);
        const chain = await stores[0]?.auditChain('platform');
        assert.deepEqual(
          chain?.map((e) => e.action),
          ['api_key.created'],
        );
      } finally {
        await Promise.all(stores.map((s) => s.close()));
      }
    });
  }
});
