import assert from 'node:assert/strict';
import type { Alert, Incident } from '../../domain/incident.ts';
import { linkAudit, verifyChain } from '../../engine/audit.ts';
import type { AuditEntry, BatchSnapshot, BatchWrites, Store } from '../port.ts';
import type { IncidentLease } from '../port-incidents.ts';
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
    work: { actor: 'key_admin', freeze_through_id: null, revoke_through_id: null, paused: 0, resumes: 0 },
    ...over,
  };
}

const lease_ms = 60_000;

function lease(b: Build, owner: string, at_ms = b.now_ms): IncidentLease {
  return { owner, until_ms: at_ms + lease_ms };
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
      const mine = lease(b, 'node-a');
      await store.insertIncident(inc, mine, platform(b, 'incident.opening'), []);
      assert.deepEqual(await store.getIncident(inc.id), inc);
      assert.equal(await store.getIncident('inc_missing'), null);
      const progressed = { ...inc, progress: { ...inc.progress, redemptions_done: 5 } };
      assert.equal(await store.updateIncident(progressed, 'opening', mine, null, []), true);
      const opened = { ...progressed, status: 'open' as const };
      assert.equal(await store.updateIncident(opened, 'resolving', mine, platform(b, 'wrong'), [event]), false);
      assert.equal(
        await store.updateIncident(opened, 'opening', lease(b, 'node-b'), platform(b, 'wrong'), [event]),
        false,
      );
      assert.deepEqual(await store.getIncident(inc.id), progressed);
      assert.equal(await store.updateIncident(opened, 'opening', mine, platform(b, 'incident.opened'), [event]), true);
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
      await store.insertIncident(second, lease(b, 'node-a'), platform(b, 'incident.opening'), []);
      assert.deepEqual(await store.listIncidents({ limit: 1 }), { data: [second], has_more: true });
      assert.deepEqual(await store.listIncidents({ limit: 5, starting_after: second.id }), {
        data: [opened],
        has_more: false,
      });
    },
  );

  storeTest(
    'listIncidents with page_bytes_max ends a page before the incident whose stored document would pass it',
    open,
    async (store, b) => {
      const merchants = (ch: string) => Array.from({ length: 500 }, (_, i) => `${ch.repeat(10)}-${i}`);
      const scoped = (ch: string) =>
        incident(b, { scope: { campaign_ids: null, merchant_ids: merchants(ch), from_ms: null, to_ms: null } });
      const [i0, i1, i2] = [scoped('m'), scoped('商'), scoped('n')];
      for (const i of [i0, i1, i2])
        await store.insertIncident(i, lease(b, 'node-a'), platform(b, 'incident.opening'), []);
      const [b0, b1, b2] = [i0, i1, i2].map((i) => Buffer.byteLength(JSON.stringify(i), 'utf8')) as [
        number,
        number,
        number,
      ];
      const cap = b2 + b1 + Math.floor(b0 / 2);
      assert.ok([i0, i1, i2].reduce((n, i) => n + JSON.stringify(i).length, 0) < cap, 'counted in characters, all fit');
      const ids = (p: { data: Incident[]; has_more: boolean }) => [p.data.map((i) => i.id), p.has_more];
      assert.deepEqual(ids(await store.listIncidents({ limit: 100, page_bytes_max: 1 })), [[i2.id], true]);
      const two = await store.listIncidents({ limit: 100, page_bytes_max: cap });
      assert.deepEqual(two, { data: [i2, i1], has_more: true });
      const rest = await store.listIncidents({ limit: 100, page_bytes_max: cap, starting_after: i1.id });
      assert.deepEqual(ids(rest), [[i0.id], false]);
      assert.deepEqual(ids(await store.listIncidents({ limit: 2, page_bytes_max: 10 * cap })), [[i2.id, i1.id], true]);
      assert.deepEqual(ids(await store.listIncidents({ limit: 3 })), [[i2.id, i1.id, i0.id], false]);
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
    // The newest ids stored: any status for redemptions; for coupons, unredeemed or redeemed (the fifth, redeemed, is newest).
    const active = rs.map((r) => r.coupon_id).sort();
    const newestRedemption = rs.map((r) => r.id).sort()[rs.length - 1];
    assert.equal(await store.newestId('redemption', [campaign.id]), newestRedemption);
    assert.equal(await store.newestId('redemption', [other.id, campaign.id]), newestRedemption);
    const fifth = await store.newestId('coupon', [campaign.id]);
    assert.ok(fifth !== null && fifth > (active[active.length - 1] ?? ''));
    assert.equal((await store.getCoupon(fifth))?.status, 'redeemed');
    assert.equal(await store.newestId('coupon', [other.id, campaign.id]), fifth);
    assert.equal(await store.newestId('redemption', [other.id]), null);
    assert.equal(await store.newestId('redemption', []), null);
    assert.equal(await store.newestId('coupon', []), null);
  });

  storeTest(
    'revocation covers the unredeemed coupons, active and on hold, up to its bound; the newest coupon id also counts redeemed ones',
    open,
    async (store, b) => {
      const statuses = [
        ...['active', 'reserved', 'redeemed', 'revoked', 'active', 'reserved', 'redeemed'],
        ...['revoked', 'revoked'],
      ] as const;
      const coupons = statuses.map((status) => b.coupon('', { status }));
      const campaign = await seedCampaign(store, b, {}, coupons);
      const [a1, h1, , , a2, h2, r2, x1, x2] = coupons.map((c) => c.id);
      assert.ok(a1 && h1 && a2 && h2 && r2 && x1 && x2 && h2 < r2 && r2 < x1 && x1 < x2);
      // The newest coupon a reversal could restore is the redeemed one; the two revoked after it do not count.
      assert.equal(await store.newestId('coupon', [campaign.id]), r2);
      assert.deepEqual((await store.unredeemedCouponIds(campaign.id, h2, 10)).sort(), [a1, h1, a2, h2]);
      assert.deepEqual((await store.unredeemedCouponIds(campaign.id, a2, 10)).sort(), [a1, h1, a2]);
      assert.equal((await store.unredeemedCouponIds(campaign.id, h2, 3)).length, 3);
      // A campaign whose only unredeemed coupon is on hold, newer than every coupon above, then a redeemed one.
      const held = b.coupon('', { status: 'reserved' });
      const used = b.coupon('', { status: 'redeemed' });
      const other = await seedCampaign(store, b, {}, [used, held]);
      assert.ok(held.id < used.id);
      assert.equal(await store.newestId('coupon', [other.id]), used.id);
      assert.equal(await store.newestId('coupon', [campaign.id, other.id]), used.id);
      assert.deepEqual(await store.unredeemedCouponIds(other.id, held.id, 10), [held.id]);
      assert.deepEqual(await store.unredeemedCouponIds(other.id, a1, 10), [], 'older than its coupons: none');
      // Revoked in a batch (as revokeCoupons does), they are no longer unredeemed.
      await batch(store, campaign.id, emptyLoad({ coupon_ids: [h1, h2] }), (s, w) => {
        for (const id of [h1, h2]) {
          const c = s.coupons.get(id);
          if (c) w.coupons_update.push({ ...c, status: 'revoked' });
        }
      });
      assert.deepEqual((await store.unredeemedCouponIds(campaign.id, h2, 10)).sort(), [a1, a2]);
      assert.deepEqual((await store.unredeemedCouponIds(campaign.id, x2, 10)).sort(), [a1, a2]);
      assert.equal(await store.newestId('coupon', [campaign.id]), r2);
    },
  );

  storeTest(
    'members, report rows and revocations are written in the batch and read back exactly',
    open,
    async (store, b) => {
      const { campaign, rs } = await seeded(store, b);
      const [r1, r2, , r4] = rs;
      assert.ok(r1 && r2 && r4);
      const inc = incident(b);
      // Four coupons are active, one redeemed; the newest active one is past the bound.
      const active = (await Promise.all(rs.map((r) => store.getCoupon(r.coupon_id))))
        .filter((c) => c?.status === 'active')
        .map((c) => c?.id ?? '')
        .sort();
      assert.equal(active.length, 4);
      const bound = active[2] ?? '';
      assert.deepEqual((await store.unredeemedCouponIds(campaign.id, bound, 10)).sort(), active.slice(0, 3));
      assert.equal((await store.unredeemedCouponIds(campaign.id, bound, 2)).length, 2);
      const revoke = (ids: string[], w: BatchWrites, s: BatchSnapshot) => {
        for (const id of ids) {
          const c = s.coupons.get(id);
          if (c) w.coupons_update.push({ ...c, status: 'revoked' });
        }
        w.bulk.push({ kind: 'incident_revoked', incident_id: inc.id, coupons: ids.length, at_ms: b.now_ms });
      };
      const [x, y, z] = active;
      assert.ok(x && y && z);
      await batch(store, campaign.id, emptyLoad({ coupon_ids: [x, y] }), (s, w) => {
        w.bulk.push({ kind: 'incident_members', incident_id: inc.id, redemption_ids: [r1.id, r4.id] });
        revoke([x, y], w, s);
      });
      await batch(store, campaign.id, emptyLoad({ coupon_ids: [z] }), (s, w) => {
        w.bulk.push({ kind: 'incident_members', incident_id: inc.id, redemption_ids: [r2.id, r1.id] });
        revoke([z], w, s);
      });
      assert.deepEqual(await store.unredeemedCouponIds(campaign.id, bound, 10), []);
      assert.deepEqual(await store.incidentCampaigns(inc.id), [campaign.id]);
      const pending = (id: string) => ({ redemption_id: id, outcome: null });
      assert.deepEqual(
        await store.incidentMembers(inc.id, campaign.id, '', 10),
        [r1, r2, r4].map((r) => pending(r.id)),
      );
      assert.deepEqual(await store.incidentMembers(inc.id, campaign.id, r1.id, 1), [pending(r2.id)]);
      assert.deepEqual(await store.incidentMembers('inc_other', campaign.id, '', 10), []);
      assert.deepEqual(await store.incidentMemberCampaigns(), [{ incident_id: inc.id, campaign_id: campaign.id }]);
      const rows = (await store.incidentReportRows(inc.id)).sort((x, y) =>
        (x.merchant_id + x.product_kind).localeCompare(y.merchant_id + y.product_kind),
      );
      assert.deepEqual(rows, [
        { campaign_id: campaign.id, merchant_id: 'm1', product_kind: 'merchandise', count: 1, discount_minor: 1001 },
        { campaign_id: campaign.id, merchant_id: 'm1', product_kind: 'virtual', count: 1, discount_minor: 1499 },
        { campaign_id: campaign.id, merchant_id: 'm2', product_kind: 'merchandise', count: 1, discount_minor: 1500 },
      ]);
      // Two batches revoked two and one: the counts add up per (incident, campaign).
      assert.equal(await store.incidentRevokedCoupons(inc.id), 3);
      assert.equal(await store.incidentRevokedCoupons('inc_other'), 0);
      assert.deepEqual(await store.incidentRevocations(), [
        { incident_id: inc.id, campaign_id: campaign.id, coupons: 3 },
      ]);
      assert.equal((await store.getCoupon(x))?.status, 'revoked');
    },
  );

  storeTest(
    'holds released for an incident add up per (incident, campaign), written in the batch',
    open,
    async (store, b) => {
      const { campaign, rs } = await seeded(store, b);
      const [, r2, , r4] = rs;
      assert.ok(r2 && r4);
      const other = await seedCampaign(store, b);
      const inc = incident(b);
      const released = (holds: number, discount_minor: number) =>
        ({ kind: 'incident_released', incident_id: inc.id, holds, discount_minor }) as const;
      // As a freeze does: the holds' rows released and their totals added, in one batch.
      await batch(store, campaign.id, emptyLoad({ redemption_ids: [r2.id, r4.id] }), (s, w) => {
        for (const id of [r2.id, r4.id]) {
          const r = s.redemptions.get(id);
          if (r) w.redemptions_update.push({ ...r, status: 'released', hold_expires_at_ms: null });
        }
        w.bulk.push(released(2, r2.discount_minor + r4.discount_minor));
      });
      await batch(store, other.id, emptyLoad(), (_, w) => w.bulk.push(released(1, 40)));
      await batch(store, other.id, emptyLoad(), (_, w) => w.bulk.push(released(2, 60)));
      assert.equal((await store.getRedemption(r2.id))?.status, 'released');
      const in_campaign = r2.discount_minor + r4.discount_minor;
      assert.deepEqual(await store.incidentReleasedHolds(inc.id), { count: 5, discount_minor: in_campaign + 100 });
      assert.deepEqual(await store.incidentReleasedHolds('inc_other'), { count: 0, discount_minor: 0 });
      const byCampaign = (x: { campaign_id: string }, y: { campaign_id: string }) =>
        x.campaign_id < y.campaign_id ? -1 : 1;
      assert.deepEqual(
        (await store.incidentReleases()).sort(byCampaign),
        [
          { incident_id: inc.id, campaign_id: campaign.id, count: 2, discount_minor: in_campaign },
          { incident_id: inc.id, campaign_id: other.id, count: 3, discount_minor: 100 },
        ].sort(byCampaign),
      );
      // A batch that fails adds nothing.
      const failing = batch(store, other.id, emptyLoad(), (_, w) => {
        w.bulk.push(released(9, 9));
        throw new Error('decided against');
      });
      await assert.rejects(failing, /decided against/);
      assert.deepEqual(await store.incidentReleasedHolds(inc.id), { count: 5, discount_minor: in_campaign + 100 });
    },
  );

  storeTest(
    'a lease: its holder saves and renews, nobody else; once it runs out exactly one claimer takes over',
    open,
    async (store, b) => {
      const t = b.now_ms;
      const inc = incident(b);
      await store.insertIncident(inc, lease(b, 'node-a', t), platform(b, 'incident.opening'), []);
      const other = incident(b, { status: 'open' });
      await store.insertIncident(other, lease(b, 'node-a', t), platform(b, 'incident.opening'), []);
      assert.deepEqual(await store.stuckIncidents(t, 10), [], 'held until t + lease; an open one is never stuck');
      // Not yet run out: no claim; the holder renews with a save.
      const taken = { ...inc, work: { ...inc.work, actor: null } };
      assert.equal(await store.claimIncident(taken, 'opening', lease(b, 'node-b', t), t + lease_ms - 1, null), false);
      assert.equal(await store.updateIncident(inc, 'opening', lease(b, 'node-a', t + 1000), null, []), true);
      assert.deepEqual(await store.stuckIncidents(t + lease_ms, 10), [], 'renewed to t + 1000 + lease');
      assert.deepEqual(await store.stuckIncidents(t + 1000 + lease_ms, 10), [inc.id]);
      // Run out: of two concurrent claimers exactly one wins, and its audit entry is the only one.
      const at = t + 1000 + lease_ms;
      const claims = await Promise.all(
        ['node-b', 'node-c'].map((owner) =>
          store.claimIncident(taken, 'opening', lease(b, owner, at), at, platform(b, `incident.resumed ${owner}`)),
        ),
      );
      assert.equal(claims.filter(Boolean).length, 1, `claims: ${claims}`);
      const winner = claims[0] ? 'node-b' : 'node-c';
      assert.deepEqual(await store.getIncident(inc.id), taken);
      assert.deepEqual(await store.stuckIncidents(at, 10), []);
      assert.equal(
        await store.updateIncident(inc, 'opening', lease(b, 'node-a', at), null, []),
        false,
        'node-a lost its lease',
      );
      const opened = { ...taken, status: 'open' as const };
      assert.equal(await store.updateIncident(opened, 'opening', lease(b, winner, at), null, []), true);
      // Open: no lease left, so a resolver's claim from open needs no expiry.
      const resolving = { ...opened, status: 'resolving' as const, resolution: 'honour' as const };
      assert.equal(await store.claimIncident(resolving, 'open', lease(b, 'node-d', at), at, null), true);
      assert.equal(await store.claimIncident(resolving, 'open', lease(b, 'node-e', at), at, null), false);
      assert.deepEqual(await store.stuckIncidents(at + lease_ms, 10), [inc.id]);
      const actions = (await store.auditChain('platform')).map((e) => e.action);
      assert.deepEqual(actions, ['incident.opening', 'incident.opening', `incident.resumed ${winner}`]);
    },
  );

  storeTest(
    'a batch sees each incident it asks about: state, holder, pending members; outcomes settle them',
    open,
    async (store, b) => {
      const { campaign, rs } = await seeded(store, b);
      const [r1, r2, , r4] = rs;
      assert.ok(r1 && r2 && r4);
      const inc = incident(b, { status: 'resolving' });
      await store.insertIncident(inc, lease(b, 'node-a'), platform(b, 'incident.opening'), []);
      await batch(store, campaign.id, emptyLoad(), (_, w) => {
        w.bulk.push({ kind: 'incident_members', incident_id: inc.id, redemption_ids: [r1.id, r2.id, r4.id] });
      });
      const ask = (ids: string[]) => emptyLoad({ incidents: [{ incident_id: inc.id, redemption_ids: ids }] });
      const first = await batch(store, campaign.id, ask([r1.id, r2.id, 'rdm_not_a_member']), (_, w) => {
        w.bulk.push({ kind: 'incident_outcomes', incident_id: inc.id, outcome: 'reversed', redemption_ids: [r1.id] });
        w.bulk.push({ kind: 'incident_outcomes', incident_id: inc.id, outcome: 'skipped', redemption_ids: [r2.id] });
      });
      assert.deepEqual(first.incidents?.get(inc.id), {
        status: 'resolving',
        lease_owner: 'node-a',
        pending: new Set([r1.id, r2.id]),
      });
      const missing = emptyLoad({ incidents: [{ incident_id: 'inc_missing', redemption_ids: [r4.id] }] });
      assert.equal((await batch(store, campaign.id, missing, () => undefined)).incidents?.has('inc_missing'), false);
      const second = await batch(store, campaign.id, ask([r1.id, r2.id, r4.id]), () => undefined);
      assert.deepEqual(second.incidents?.get(inc.id)?.pending, new Set([r4.id]), 'settled members are not pending');
      assert.deepEqual(await store.incidentMembers(inc.id, campaign.id, '', 10), [
        { redemption_id: r1.id, outcome: 'reversed' },
        { redemption_id: r2.id, outcome: 'skipped' },
        { redemption_id: r4.id, outcome: null },
      ]);
      // Moved members only, summed from the redemption rows.
      assert.deepEqual(await store.incidentResolvedTotals(inc.id), { count: 1, discount_minor: 1001 });
      assert.deepEqual(await store.incidentResolvedTotals('inc_other'), { count: 0, discount_minor: 0 });
    },
  );

  storeTest(
    'a batch that asks sees the unresolved pause_campaigns incidents covering its campaign, listed or resolved to',
    open,
    async (store, b) => {
      const campaign = await seedCampaign(store, b);
      const other = await seedCampaign(store, b);
      const listing = (ids: string[]) => ({ campaign_ids: ids, merchant_ids: null, from_ms: null, to_ms: null });
      const pause = ['pause_campaigns' as const];
      // Still scoping: its scope lists the campaign, the campaigns it resolved to are not saved yet.
      const scoping = incident(b, { scope: listing([campaign.id]), actions: [...pause, 'freeze_redemptions'] });
      // A merchant scope that resolved to both campaigns (they had redemptions there).
      const resolved_to = incident(b, { status: 'open', campaign_ids: [other.id, campaign.id], actions: pause });
      const resolving = incident(b, {
        status: 'resolving',
        scope: listing([campaign.id]),
        campaign_ids: [campaign.id],
        actions: pause,
      });
      const no_pause = incident(b, {
        status: 'open',
        scope: listing([campaign.id]),
        campaign_ids: [campaign.id],
        actions: ['freeze_redemptions', 'revoke_unredeemed'],
      });
      const over = incident(b, { status: 'resolved', campaign_ids: [campaign.id], actions: pause });
      const elsewhere = incident(b, {
        status: 'open',
        scope: listing([other.id]),
        campaign_ids: [other.id],
        actions: pause,
      });
      for (const inc of [scoping, resolved_to, resolving, no_pause, over, elsewhere]) {
        await store.insertIncident(inc, lease(b, 'node-a'), platform(b, 'incident.opening'), []);
      }
      const ask = emptyLoad({ pausing_incidents: true });
      const seen = await batch(store, campaign.id, ask, () => undefined);
      assert.deepEqual(seen.pausing_incidents, [scoping.id, resolved_to.id, resolving.id]);
      assert.deepEqual((await batch(store, other.id, ask, () => undefined)).pausing_incidents, [
        resolved_to.id,
        elsewhere.id,
      ]);
      assert.equal((await batch(store, campaign.id, emptyLoad(), () => undefined)).pausing_incidents, undefined);
      // Resolved, it no longer holds the campaign.
      const done = { ...resolving, status: 'resolved' as const };
      assert.equal(await store.updateIncident(done, 'resolving', lease(b, 'node-a'), null, []), true);
      const later = await batch(store, campaign.id, ask, () => undefined);
      assert.deepEqual(later.pausing_incidents, [scoping.id, resolved_to.id]);
    },
  );
}
