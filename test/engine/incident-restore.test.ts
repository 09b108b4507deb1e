import { describe, test } from 'node:test';
import { sqliteFiles } from '../support/incident-faults.ts';
import { restoreAfterRevocation, reversalsRaceRevocation } from '../support/incident-restore.ts';

/** A fresh database file; every node of one scenario opens its own connection to it. */
const sqliteFile = sqliteFiles('vs-incident-restore-');

describe('restore_coupon after an incident revoked coupons (SQLite file, two engines on it)', () => {
  test('a coupon redeemed before the incident, or frozen and reversed one by one, is revoked, not restored; a later one is', () =>
    restoreAfterRevocation(sqliteFile()));

  test('reversals racing the revocation: every coupon ends revoked, by the revocation or by its reversal', () =>
    reversalsRaceRevocation(sqliteFile()));
});
