import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { overlappingSnapshots } from '../../src/store/contract/snapshot-contract.ts';
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
