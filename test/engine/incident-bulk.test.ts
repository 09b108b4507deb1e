import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { IncidentReport } from '../../src/domain/incident.ts';
import type { RedemptionStatus } from '../../src/domain/redemption.ts';
import { Incidents } from '../../src/engine/incidents/incidents.ts';
import type { Store } from '../../src/store/port.ts';
import { assertInvariants, harness } from '../support/fixtures.ts';
import { bulkCampaign, seedRedemptions } from '../support/seed.ts';

const bulk_count = Number(process.env.INCIDENT_BULK_COUNT ?? 20_000);

type Sums = Map<string, { count: number; discount_minor: number }>;

function add(m: Sums, key: string, discount_minor: number): void {
  const s = m.get(key) ?? { count: 0, discount_minor: 0 };
  s.count += 1;
  s.discount_minor += discount_minor;
  m.set(key, s);
}

/** Rows of `status`, summed straight from the redemption rows (not from the incident's tables). */
async function rowsOf(store: Store, campaign_ids: string[], status: RedemptionStatus) {
  const by = { campaign: new Map() as Sums, merchant: new Map() as Sums, kind: new Map() as Sums };
  let count = 0;
  let minor = 0;
  for (const id of campaign_ids) {
    await store.forEachRedemption(id, (page) => {
      for (const r of page) {
        if (r.status !== status) continue;
        count += 1;
        minor += r.discount_minor;
        add(by.campaign, r.campaign_id, r.discount_minor);
        add(by.merchant, r.merchant_id, r.discount_minor);
        add(by.kind, r.product_kind, r.discount_minor);
      }
    });
  }
  return { count, minor, by };
}

function asMap<K extends string>(
  list: Array<Record<K, string> & { count: number; discount_minor: number }>,
  key: K,
): Sums {
  return new Map(list.map((x) => [x[key], { count: x.count, discount_minor: x.discount_minor }]));
}

function assertReport(report: IncidentReport, rows: Awaited<ReturnType<typeof rowsOf>>): void {
  assert.equal(report.frozen_count, rows.count);
  assert.equal(report.frozen_minor, rows.minor);
  assert.deepEqual(asMap(report.by_campaign, 'campaign_id'), rows.by.campaign);
  assert.deepEqual(asMap(report.by_merchant, 'merchant_id'), rows.by.merchant);
  assert.deepEqual(asMap(report.by_product_kind, 'product_kind'), rows.by.kind);
}

test(`freeze (holds released) and reverse ${bulk_count} redemptions: the report matches the rows to the minor unit`, async () => {
  const h = await harness();
  const a = await bulkCampaign(h.engine, 'BULKA');
  const b = await bulkCampaign(h.engine, 'BULKB');
  const in_a = Math.round(bulk_count * 0.75);
  await seedRedemptions(h.engine, 'BULKA', in_a);
  await seedRedemptions(h.engine, 'BULKB', bulk_count - in_a, { offset: in_a });
  const before = await rowsOf(h.store, [a.id, b.id], 'confirmed');
  const held = await rowsOf(h.store, [a.id, b.id], 'reserved');
  const spent_before = (await h.engine.getCampaign(a.id)).spent_minor + (await h.engine.getCampaign(b.id)).spent_minor;
  const progress: number[] = [];
  const incidents = new Incidents(h.engine, (_msg, data) => progress.push(Number(data.redemptions_done ?? 0)));
  const t_open = Date.now();
  const inc = await incidents.open(
    {
      title: 'bulk leak',
      scope: { campaign_ids: [a.id, b.id], merchant_ids: null, from_ms: null, to_ms: null },
      actions: ['pause_campaigns', 'freeze_redemptions', 'revoke_unredeemed'],
    },
    { actor: 'key_admin' },
  );
  const open_s = (Date.now() - t_open) / 1000;
  assert.ok(inc.report);
  const frozen = await rowsOf(h.store, [a.id, b.id], 'frozen');
  const released = await rowsOf(h.store, [a.id, b.id], 'released');
  assert.equal(held.count, Math.ceil(bulk_count / 10), 'every tenth a hold');
  assert.deepEqual([frozen.count, frozen.minor], [before.count, before.minor], 'every confirmed row is frozen');
  assert.deepEqual([released.count, released.minor], [held.count, held.minor], 'every hold is released');
  assertReport(inc.report, frozen);
  assert.deepEqual([inc.report.released_holds_count, inc.report.released_holds_minor], [held.count, held.minor]);
  assert.equal(inc.report.revoked_coupons, 2, 'the two shared codes');
  assert.equal(inc.progress.redemptions_done, bulk_count);
  assert.ok(progress.length > 0);
  await assertInvariants(h.store);

  const t_resolve = Date.now();
  const done = await incidents.resolve(inc.id, 'reverse', { actor: 'key_admin' });
  const resolve_s = (Date.now() - t_resolve) / 1000;
  console.log(`${bulk_count} redemptions: open (pause, freeze, revoke, report) ${open_s} s, reverse ${resolve_s} s`);
  assert.deepEqual(done.resolved, { count: frozen.count, discount_minor: frozen.minor });
  const reversed = await rowsOf(h.store, [a.id, b.id], 'reversed');
  assert.equal(reversed.minor, frozen.minor);
  assert.deepEqual((await rowsOf(h.store, [a.id, b.id], 'released')).by, released.by, 'reversing left the holds alone');
  for (const id of [a.id, b.id]) {
    const c = await h.engine.getCampaign(id);
    assert.equal(c.spent_minor, 0);
    assert.equal(c.reserved_minor, 0);
    assert.equal(c.frozen_count, 0);
  }
  assert.ok(spent_before > 0);
  await assertInvariants(h.store);
});
