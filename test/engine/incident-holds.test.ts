import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { OpenStore } from '../support/incident-faults.ts';
import { freezeReleasesHolds } from '../support/incident-freeze.ts';
import { revokedHoldStillConfirms, revokedHoldsStayRevoked } from '../support/incident-holds.ts';

const root = mkdtempSync(join(tmpdir(), 'vs-incident-holds-'));
after(() => rmSync(root, { recursive: true, force: true }));
let files = 0;

/** A fresh database file; both nodes of one scenario open their own connection to it. */
function sqliteFile(): OpenStore {
  const path = join(root, `case-${files++}`, 'vouchsafe.db');
  return async () => new SqliteStore({ path, synchronous: 'NORMAL' });
}

describe('revoke_unredeemed and coupons on hold (SQLite file, two engines on it)', () => {
  test('held coupons are revoked too: released or expired, they stay revoked and never redeem again', () =>
    revokedHoldsStayRevoked(sqliteFile()));

  test('a held coupon revoked still confirms (then is frozen and honoured) or is released by a freeze; it stays revoked', () =>
    revokedHoldStillConfirms(sqliteFile()));
});

describe('freeze_redemptions and holds (SQLite file, two engines on it)', () => {
  test('a freeze releases the holds in scope while their confirms race it; reverse moves only the frozen ones', () =>
    freezeReleasesHolds(sqliteFile()));
});
