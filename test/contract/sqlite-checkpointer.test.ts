import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { BackgroundCheckpointer } from '../../src/store/sqlite/checkpointer.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { activeCampaign, assertInvariants, harness, order } from '../support/fixtures.ts';

const size = (path: string): number => {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
};

/** Redemption rows as a second, read-only connection sees them. */
function rowsSeenByAnotherConnection(path: string): number {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM redemptions').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

test('close returns at once when the checkpoint thread has already died (here: no such database)', async () => {
  const c = new BackgroundCheckpointer(join(tmpdir(), 'vs-no-such-dir', 'x.db'));
  await sleep(300);
  const hung = sleep(10_000).then(() => 'hung');
  assert.equal(await Promise.race([c.close().then(() => 'closed'), hung]), 'closed');
});

test('background checkpoints: pages reach the database file without the writer checkpointing, and close is clean', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vs-ckpt-'));
  const path = join(dir, 'v.db');
  try {
    const store = new SqliteStore({ path, background_checkpoint: true });
    const h = await harness({}, store);
    const c = await activeCampaign(h, {
      code_mode: 'shared_code',
      code: 'CKPT',
      budget_minor: 1_000_000_000,
      max_redemptions: null,
      auto_pause: false,
    });
    const db_before = size(path);
    // ~6,000 redemptions: a few MB of WAL, well under the writer's own 8,000-page bound, so only
    // the worker can have copied them into the database file.
    const redeemed = 6000;
    await Promise.all(
      Array.from({ length: redeemed }, (_, i) =>
        h.engine.redeem(
          { user_id: `u${i}`, code: 'CKPT', order: order({ id: `o${i}`, merchant_id: `m${i % 50}` }), confirm: true },
          { actor: 'key_checkout' },
        ),
      ),
    );
    let db_after = size(path);
    for (let waited = 0; db_after <= db_before + 1_000_000 && waited < 10_000; waited += 50) {
      await sleep(50);
      db_after = size(path);
    }
    assert.ok(
      db_after > db_before + 1_000_000,
      `database file grew from ${db_before} to ${db_after} bytes: the worker copied the WAL into it`,
    );
    assert.ok(size(`${path}-wal`) <= 8000 * 4096 + 1_000_000, 'the WAL stays under the bound');
    assert.equal(rowsSeenByAnotherConnection(path), redeemed, 'another connection reads every committed row');
    await assertInvariants(store);
    await h.engine.close();
    await store.close();
    // Closed for good: the worker is gone (the process would otherwise keep a thread) and the data is all there.
    const again = new SqliteStore({ path });
    const got = await again.getCampaign(c.id);
    assert.equal(got?.confirmed_count, redeemed);
    assert.equal(got?.spent_minor, redeemed * 1000);
    await assertInvariants(again);
    await again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
