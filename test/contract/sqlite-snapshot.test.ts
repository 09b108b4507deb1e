import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { apartSnapshot, overlappingSnapshots } from '../../src/store/contract/snapshot-contract.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';

const dir = mkdtempSync(join(tmpdir(), 'vs-sqlite-snapshot-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('overlapping readSnapshot calls share one snapshot until the last one ends, whichever ends first', async () => {
  const path = join(dir, 'v.db');
  const store = new SqliteStore({ path });
  const writer = new SqliteStore({ path });
  try {
    await overlappingSnapshots(store, writer);
  } finally {
    await Promise.all([store.close(), writer.close()]);
  }
});

test('readSnapshotApart reads through a connection of its own while the store commits; :memory: reads in place', async () => {
  const store = new SqliteStore({ path: join(dir, 'apart.db') });
  try {
    await apartSnapshot(store);
  } finally {
    await store.close();
  }
  const memory = new SqliteStore({ path: ':memory:' });
  assert.deepEqual(await memory.readSnapshotApart(async (reader, apart) => ({ same: reader === memory, apart })), {
    same: true,
    apart: false,
  });
  await memory.close();
});
