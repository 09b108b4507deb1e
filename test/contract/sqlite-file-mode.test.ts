import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { activeCampaign, harness } from '../support/fixtures.ts';

const root = mkdtempSync(join(tmpdir(), 'vs-file-mode-'));
after(() => rmSync(root, { recursive: true, force: true }));

const mode = (path: string) => statSync(path).mode & 0o777;

test('a new SQLite database, its WAL and shared memory are readable by their owner only, in a directory of its own', async () => {
  const dir = join(root, 'fresh', 'data');
  const path = join(dir, 'vouchsafe.db');
  const h = await harness({}, new SqliteStore({ path }));
  await activeCampaign(h);
  assert.equal(mode(dir), 0o700);
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    assert.ok(existsSync(file), file);
    assert.equal(mode(file), 0o600, file);
  }
  await h.engine.close();
  await h.store.close();
});

test('an existing database keeps the mode its owner gave it', async () => {
  const path = join(root, 'kept.db');
  writeFileSync(path, '');
  chmodSync(path, 0o640);
  const store = new SqliteStore({ path });
  await store.migrate();
  assert.equal(mode(path), 0o640);
  await store.close();
});
