import assert from 'node:assert/strict';
import type { Alert, Incident } from '../../domain/incident.ts';
import { linkAudit, verifyChain } from '../../engine/audit.ts';
import type { AuditEntry, Store } from '../port.ts';
import { type Build, batch, emptyLoad, type OpenStore, seedCampaign, unpackOutbox } from './builders.ts';
import { storeTest } from './campaign-contract.ts';

function platform(b: Build, action: string): (prev: { seq: number; hash: string }) => AuditEntry {
  return (prev) =>
    linkAudit({ chain: 'platform', at_ms: b.now_ms, actor: 'key_admin', action, subject: 'platform', data: {} }, prev);
}

function alert(b: Build, campaign_id: string, over: Partial<Alert> = {}): Alert {
  return {
    id: b.id('alr'),
    kind: 'merchant_spike',
    campaign_id,
    merchant_id: 'm7',
    subject: null,
    observed: 31,
    baseline: 0.25,
    action: 'paused',
    created_at_ms: b.now_ms,
    ...over,
  };
}

function incident(b: Build, over: Partial<Incident> = {}): Incident {
  return {
    id: b.id('inc'),
    status: 'opening',
    title: 'leak',
    scope: { campaign_ids: null, merchant_ids: ['m1'], from_ms: null, to_ms: null },
    actions: ['freeze_redemptions'],
    campaign_ids: [],
    report: null,
    progress: { phase: 'scoping', campaigns_total: 0, campaigns_done: 0, redemptions_done: 0, updated_at_ms: b.now_ms },
    resolution: null,
    resolved: null,
    created_by: 'key_admin',
    created_at_ms: b.now_ms,
    resolved_at_ms: null,
    ...over,
  };
}

/** A campaign with redemptions at m1 / m2 in several states, written through one batch. */
async function seeded(store: Store, b: Build) {
  const coupons = [b.coupon(''), b.coupon(''), b.coupon(''), b.coupon(''), b.coupon('', { status: 'redeemed' })];
  const campaign = await seedCampaign(store, b, {}, coupons);
  const [c1, c2, c3, c4] = coupons.map((c) => ({ ...c, campaign_id: campaign.id }));
  assert.ok(c1 && c2 && c3 && c4);
  const rs = [
    b.redemption(c1, { merchant_id: 'm1', status: 'confirmed', discount_minor: 1001, hold_expires_at_ms: null }),
    b.redemption(c2, { merchant_id: 'm2', status: 'reserved', discount_minor: 1500 }),
    b.redemption(c3, { merchant_id: 'm1', status: 'released', discount_minor: 700, hold_expires_at_ms: null }),
    b.redemption(c4, { merchant_id: 'm1', status: 'reserved', discount_minor: 1499, product_kind: 'virtual' }),
  ];
  await batch(store, campaign.id, emptyLoad(), (_, w) => w.redemptions_insert.push(...rs));
  return { campaign, rs };
}

/** Alerts, incidents and incident membership: the IncidentStore part of the port. */
export function incidentContract(open: OpenStore): void {
  storeTest('alerts written in a batch list newest first, by campaign, in pages', open, async (store, b) => {
    const one = await seedCampaign(store, b);
    const two = await seedCampaign(store, b);
    const a1 = alert(b, one.id);
    const a2 = alert(b, two.id, {
      kind: 'heavy_hitter',
      merchant_id: null,
      subject: 'ip:203.0.113.9',
      action: 'alerted',
    });
    const a3 = alert(b, one.id, { kind: 'budget_burn', observed: 1.5e6, baseline: 12_345.67 });
    await batch(store, one.id, emptyLoad(), (_, w) => w.bulk.push({ kind: 'insert_alert', alert: a1 }));
    await batch(store, two.id, emptyLoad(), (_, w) => w.bulk.push({ kind: 'insert_alert', alert: a2 }));
    await batch(store, one.id, emptyLoad(), (_, w) => w.bulk.push({ kind: 'insert_alert', alert: a3 }));
    assert.deepEqual(await store.listAlerts({ limit: 10 }), { data: [a3, a2, a1], has_more: false });
    assert.deepEqual(await store.listAlerts({ limit: 10, campaign_id: one.id }), { data: [a3, a1], has_more: false });
    assert.deepEqual(await store.listAlerts({ limit: 1 }), { data: [a3], has_more: true });
    assert.deepEqual(await store.listAlerts({ limit: 5, starting_after: a3.id }), { data: [a2, a1], has_more: false });
  });

  storeTest(
    'incidents insert and move with their platform entry and events; a lost race writes nothing',
    open,
    async (store, b) => {
      const inc = incident(b);
      const event = { id: b.id('evt'), type: 'incident.opened', created_at_ms: b.now_ms, data: { id: inc.id } };
      await store.insertIncident(inc, platform(b, 'incident.opening'), []);
      assert.deepEqual(await store.getIncident(inc.id), inc);
      assert.equal(await store.getIncident('inc_missing'), null);
      const progressed = { ...inc, progress: { ...inc.progress, redemptions_done: 5 } };
      assert.equal(await store.updateIncident(progressed, 'opening', null, []), true);
      const opened = { ...progressed, status: 'open' as const };
      assert.equal(await store.updateIncident(opened, 'resolving', platform(b, 'wrong'), [event]), false);
      assert.deepEqual(await store.getIncident(inc.id), progressed);
      assert.equal(await store.updateIncident(opened, 'opening', platform(b, 'incident.opened'), [event]), true);
      assert.deepEqual(await store.getIncident(inc.id), opened);
      const chain = await store.auditChain('platform');
      assert.deepEqual(
        chain.map((e) => e.action),
        ['incident.opening', 'incident.opened'],
      );
      assert.equal(verifyChain(chain).ok, true);
      assert.deepEqual(
        unpackOutbox(await store.pendingOutbox(10)).map((e) => e.type),
        ['incident.opened'],
      );
      const second = incident(b);
      await store.insertIncident(second, platform(b, 'incident.opening'), []);
      assert.deepEqual(await store.listIncidents({ limit: 1 }), { data: [second], has_more: true });
      assert.deepEqual(await store.listIncidents({ limit: 5, starting_after: second.id }), {
        data: [opened],
        has_more: false,
      });
    },
  );

  storeTest('scope queries: live ids by merchant and window, campaigns at merchants', open, async (store, b) => {
    const { campaign, rs } = await seeded(store, b);
    const [r1, r2, , r4] = rs;
    assert.ok(r1 && r2 && r4);
    const all = { merchant_ids: null, from_ms: null, to_ms: null };
    assert.deepEqual(await store.liveRedemptionIdsInScope(campaign.id, all, '', 10), [r1.id, r2.id, r4.id]);
    assert.deepEqual(await store.liveRedemptionIdsInScope(campaign.id, all, r1.id, 1), [r2.id]);
    const m1 = { ...all, merchant_ids: ['m1'] };
    assert.deepEqual(await store.liveRedemptionIdsInScope(campaign.id, m1, '', 10), [r1.id, r4.id]);
    const window = { ...all, from_ms: r2.created_at_ms, to_ms: r4.created_at_ms };
    assert.deepEqual(await store.liveRedemptionIdsInScope(campaign.id, window, '', 10), [r2.id]);
    const other = await seedCampaign(store, b);
    assert.deepEqual(await store.campaignsWithRedemptionsAt({ ...all, merchant_ids: ['m2', 'm9'] }), [campaign.id]);
    assert.deepEqual(await store.campaignsWithRedemptionsAt({ ...all, merchant_ids: ['m9'] }), []);
    assert.deepEqual(await store.campaignsWithRedemptionsAt({ ...m1, from_ms: r4.created_at_ms + 1 }), []);
    assert.equal((await store.liveRedemptionIdsInScope(other.id, all, '', 10)).length, 0);
  });

  storeTest(
    'members, report rows and revocations are written in the batch and read back exactly',
    open,
    async (store, b) => {
      const { campaign, rs } = await seeded(store, b);
      const [r1, r2, , r4] = rs;
      assert.ok(r1 && r2 && r4);
      const inc = incident(b);
      await batch(store, campaign.id, emptyLoad(), (_, w) => {
        w.bulk.push({ kind: 'incident_members', incident_id: inc.id, redemption_ids: [r1.id, r4.id] });
        w.bulk.push({ kind: 'incident_revoke_coupons', incident_id: inc.id, at_ms: b.now_ms });
      });
      await batch(store, campaign.id, emptyLoad(), (_, w) => {
        w.bulk.push({ kind: 'incident_members', incident_id: inc.id, redemption_ids: [r2.id, r1.id] });
      });
      assert.deepEqual(await store.incidentCampaigns(inc.id), [campaign.id]);
      assert.deepEqual(await store.incidentMembers(inc.id, campaign.id, '', 10), [r1.id, r2.id, r4.id]);
      assert.deepEqual(await store.incidentMembers(inc.id, campaign.id, r1.id, 1), [r2.id]);
      assert.deepEqual(await store.incidentMembers('inc_other', campaign.id, '', 10), []);
      const rows = (await store.incidentReportRows(inc.id)).sort((x, y) =>
        (x.merchant_id + x.product_kind).localeCompare(y.merchant_id + y.product_kind),
      );
      assert.deepEqual(rows, [
        { campaign_id: campaign.id, merchant_id: 'm1', product_kind: 'merchandise', count: 1, discount_minor: 1001 },
        { campaign_id: campaign.id, merchant_id: 'm1', product_kind: 'virtual', count: 1, discount_minor: 1499 },
        { campaign_id: campaign.id, merchant_id: 'm2', product_kind: 'merchandise', count: 1, discount_minor: 1500 },
      ]);
      // Four coupons were active, one redeemed: the statement revoked and counted four.
      assert.equal(await store.incidentRevokedCoupons(inc.id), 4);
      assert.equal(await store.incidentRevokedCoupons('inc_other'), 0);
      const coupon = await store.getCoupon(r1.coupon_id);
      assert.equal(coupon?.status, 'revoked');
    },
  );
}
