import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { OpenStore } from '../support/incident-faults.ts';
import { restoreAfterRevocation, reversalsRaceRevocation } from '../support/incident-restore.ts';

const root = mkdtempSync(join(tmpdir(), 'vs-incident-restore-'));
after(() => rmSync(root, { recursive: true, force: true }));
let files = 0;

/** A fresh database file; both nodes of one scenario open their own connection to it. */
function sqliteFile(): OpenStore {
  const path = join(root, `case-${files++}`, 'vouchsafe.db');
  return async () => new SqliteStore({ path, synchronous: 'NORMAL' });
}

describe('restore_coupon after an incident revoked coupons (SQLite file, two engines on it)', () => {
  test('a coupon redeemed before the incident, or frozen and reversed one by one, is revoked, not restored; a later one is', () =>
    restoreAfterRevocation(sqliteFile()));

  test('reversals racing the revocation: every coupon ends revoked, by the revocation or by its reversal', () =>
    reversalsRaceRevocation(sqliteFile()));
});
