import { describe, test } from 'node:test';
import { sqliteFiles } from '../support/incident-faults.ts';
import { freezeReleasesHolds } from '../support/incident-freeze.ts';
import { revokedHoldStillConfirms, revokedHoldsStayRevoked } from '../support/incident-holds.ts';

/** A fresh database file; every node of one scenario opens its own connection to it. */
const sqliteFile = sqliteFiles('vs-incident-holds-');

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
