import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Build } from '../../src/store/contract/builders.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';

const dir = mkdtempSync(join(tmpdir(), 'vs-sqlite-snapshot-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('overlapping readSnapshot calls share one snapshot until the last one ends, whichever ends first', async () => {
  const path = join(dir, 'v.db');
  const store = new SqliteStore({ path });
  const writer = new SqliteStore({ path });
  try {
    const ids = await store.campaignIds();
    const b = new Build();
    let endFirst = () => {};
    const first = store.readSnapshot(async () => {
      const seen = await store.campaignIds();
      await new Promise<void>((resolve) => {
        endFirst = resolve;
      });
      return seen;
    });
    const second = store.readSnapshot(async () => {
      const before = await store.campaignIds();
      endFirst();
      await first;
      const { campaign, audit } = b.campaign();
      await writer.insertCampaign(campaign, audit, [], null);
      const after = await store.campaignIds();
      const nested = await store.readSnapshot(() => store.campaignIds());
      const after_nested = await store.campaignIds();
      return { before, after, nested, after_nested };
    });
    const seen = await second;
    assert.deepEqual(await first, ids);
    assert.deepEqual(seen, { before: ids, after: ids, nested: ids, after_nested: ids }, 'still the one snapshot');
    assert.equal((await store.campaignIds()).length, ids.length + 1, 'reads after the last call see the commit');
  } finally {
    await Promise.all([store.close(), writer.close()]);
  }
});
