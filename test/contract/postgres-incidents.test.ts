import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { Alert } from '../../src/domain/incident.ts';
import { Incidents } from '../../src/engine/incidents/incidents.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { assertInvariants, harness } from '../support/fixtures.ts';
import {
  approvalHeldByIncident,
  approvalRacesIncident,
  changedBackToApprovalStaysHeld,
} from '../support/incident-approval.ts';
import {
  honourCrashThenRefreeze,
  type OpenStore,
  openCrashThenResume,
  resolveCrashThenResume,
  stalledOpenerLosesTheWork,
} from '../support/incident-faults.ts';
import { freezeReleasesHolds } from '../support/incident-freeze.ts';
import { revokedHoldStillConfirms, revokedHoldsStayRevoked } from '../support/incident-holds.ts';
import { restoreAfterRevocation, reversalsRaceRevocation } from '../support/incident-restore.ts';
import { createTestDatabase, pg_unavailable_message, type TestDatabase } from '../support/pg.ts';
import { bulkCampaign, seedRedemptions } from '../support/seed.ts';

const db = await createTestDatabase();
after(() => db?.drop());

describe('detection and incidents on PostgreSQL', () => {
  if (!db) {
    test.skip(pg_unavailable_message);
    return;
  }
  const url = db.url;

  test('a detector alarm pauses through the batch; an incident freezes by merchant and reverses exactly', async () => {
    const h = await harness({}, new PostgresStore({ url }));
    try {
      const a = await bulkCampaign(h.engine, 'PGLEAKA');
      const b = await bulkCampaign(h.engine, 'PGLEAKB');
      await seedRedemptions(h.engine, 'PGLEAKA', 3000, { merchants: 10 });
      await seedRedemptions(h.engine, 'PGLEAKB', 1000, { merchants: 10, offset: 3000 });

      const alarm = {
        kind: 'merchant_spike' as const,
        merchant_id: 'm7',
        subject: null,
        observed: 40,
        baseline: 1,
        at_ms: h.clock.now(),
      };
      const alert = await h.engine.submitCommand<Alert>(a.id, {
        type: 'alert',
        actor: 'system:detector',
        alarm,
        pause: true,
      });
      assert.equal(alert.action, 'alerted', 'bulk campaigns have auto_pause off');
      assert.deepEqual((await h.store.listAlerts({ limit: 5, campaign_id: a.id })).data, [alert]);

      const incidents = new Incidents(h.engine);
      const scope = { campaign_ids: null, merchant_ids: ['m3', 'm7'], from_ms: null, to_ms: null };
      const inc = await incidents.open(
        { title: 'pg', scope, actions: ['pause_campaigns', 'freeze_redemptions'] },
        { actor: 'key_admin' },
      );
      assert.deepEqual(inc.campaign_ids, [a.id, b.id].sort());
      let count = 0;
      let minor = 0;
      for (const id of [a.id, b.id]) {
        const frozen = (await h.store.redemptionTotals(id)).get('frozen');
        count += frozen?.count ?? 0;
        minor += frozen?.discount_minor ?? 0;
        assert.equal((await h.engine.getCampaign(id)).status, 'paused');
      }
      assert.equal(count, 800, 'two merchants of ten, 4,000 rows');
      assert.deepEqual([inc.report?.frozen_count, inc.report?.frozen_minor], [count, minor]);
      assert.deepEqual(inc.report?.by_merchant.map((m) => m.merchant_id).sort(), ['m3', 'm7']);
      await assertInvariants(h.store);
      const done = await incidents.resolve(inc.id, 'reverse', { actor: 'key_admin' });
      assert.deepEqual(done.resolved, { count, discount_minor: minor });
      await assertInvariants(h.store);
    } finally {
      await h.engine.close();
      await h.store.close();
    }
  });
});

/**
 * Incident work across processes on one PostgreSQL: each scenario gets its own database, and
 * every node (engine) its own pool, as separate API processes would.
 */
describe('incident work survives its process on PostgreSQL (several nodes, one database)', () => {
  if (!db) {
    test.skip(pg_unavailable_message);
    return;
  }
  const scenario = (name: string, run: (open: OpenStore) => Promise<void>) =>
    test(name, async () => {
      const own: TestDatabase | null = await createTestDatabase();
      assert.ok(own, 'the server answered a moment ago');
      try {
        await run(async () => new PostgresStore({ url: own.url }));
      } finally {
        await own.drop();
      }
    });

  scenario('opening crashes after a freeze batch committed: two nodes race to resume, one does, exactly', (open) =>
    openCrashThenResume(open, { at: 'freeze', nth: 2, committed: true }),
  );
  scenario('opening crashes after the first campaign revoked: resumed exactly', (open) =>
    openCrashThenResume(open, { at: 'revoke_coupons', nth: 2, committed: true }),
  );
  scenario('resolving (reverse) crashes after a batch: two nodes race, every row reversed once', (open) =>
    resolveCrashThenResume(open, { at: 'reverse_many', nth: 2, committed: true }),
  );
  scenario('a resumed honour leaves alone the rows another incident froze since', (open) =>
    honourCrashThenRefreeze(open),
  );
  scenario('an opener that stalls past its lease on one node: its batch is refused once another took over', (open) =>
    stalledOpenerLosesTheWork(open, 'batch'),
  );
  scenario('an opener that stalls past its lease on one node: its save is refused once another took over', (open) =>
    stalledOpenerLosesTheWork(open, 'save'),
  );
  scenario('revoke_unredeemed revokes held coupons too: released or expired, they never redeem again', (open) =>
    revokedHoldsStayRevoked(open),
  );
  scenario(
    'a held coupon revoked still confirms (then frozen and honoured) or is released by a freeze; stays revoked',
    (open) => revokedHoldStillConfirms(open),
  );
  scenario('a freeze releases the holds in scope while their confirms race it; reverse moves only the frozen', (open) =>
    freezeReleasesHolds(open),
  );
  scenario(
    'restore_coupon after an incident revoked: the coupons it covered stay revoked, a later one is restored',
    (open) => restoreAfterRevocation(open),
  );
  scenario('reversals with restore_coupon racing the revocation: every coupon ends revoked', (open) =>
    reversalsRaceRevocation(open),
  );
  scenario(
    'approve and submit in scope are refused while a pausing incident is open; outside it and after, they work',
    (open) => approvalHeldByIncident(open),
  );
  scenario('a paused campaign sent back for approval stays held by a merchant-scoped incident', (open) =>
    changedBackToApprovalStaysHeld(open),
  );
  scenario('an approval racing the opening on another node: refused, or committed first and then paused', (open) =>
    approvalRacesIncident(open),
  );
});
