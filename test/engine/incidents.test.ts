import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { limits } from '../../src/config/limits.ts';
import type { Campaign } from '../../src/domain/campaign.ts';
import type { Coupon } from '../../src/domain/coupon.ts';
import type { Incident } from '../../src/domain/incident.ts';
import type { Redemption } from '../../src/domain/redemption.ts';
import { ManualClock } from '../../src/engine/clock.ts';
import { Engine } from '../../src/engine/engine.ts';
import { emergencyStop } from '../../src/engine/incidents/emergency-stop.ts';
import type { IncidentInput } from '../../src/engine/incidents/incident-input.ts';
import { Incidents } from '../../src/engine/incidents/incidents.ts';
import { unpackOutbox } from '../../src/store/contract/builders.ts';
import type { BatchItem } from '../../src/store/port.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { activeCampaign, assertInvariants, type Harness, harness, order, rejects } from '../support/fixtures.ts';
import { crashing, Hold } from '../support/incident-faults.ts';

const admin = { actor: 'key_admin' };
const who = { actor: 'key_checkout' };
const kinds = ['merchandise', 'virtual'];

/** A claim campaign where `redeemed` of `claimed` users redeem, every third one left as a hold. */
async function claimCampaign(h: Harness, claimed: number, redeemed: number, merchants = ['m1', 'm2', 'm3']) {
  const c = await activeCampaign(h, { product_kinds: kinds, max_redemptions: 1000, budget_minor: 10_000_000 });
  const held: Redemption[] = [];
  const unredeemed: Coupon[] = [];
  for (let i = 0; i < claimed; i++) {
    const coupon = await h.engine.claim({ campaign_id: c.id, user_id: `u${i}` }, who);
    if (i >= redeemed) {
      unredeemed.push(coupon);
      continue;
    }
    const merchant_id = merchants[i % merchants.length] ?? 'm1';
    const o = order({
      id: `${c.id}-o${i}`,
      merchant_id,
      product_kind: kinds[i % 2] ?? 'merchandise',
      amount_minor: 10_000 + i,
    });
    const r = await h.engine.redeem({ user_id: `u${i}`, code: coupon.code, order: o, confirm: i % 3 !== 0 }, who);
    if (r.status === 'reserved') held.push(r);
  }
  return { c, held, unredeemed };
}

function input(
  over: Omit<Partial<IncidentInput>, 'scope'> & { scope?: Partial<IncidentInput['scope']> } = {},
): IncidentInput {
  return {
    title: 'coupon leak',
    actions: ['pause_campaigns', 'revoke_unredeemed', 'freeze_redemptions'],
    ...over,
    scope: { campaign_ids: null, merchant_ids: null, from_ms: null, to_ms: null, ...over.scope },
  };
}

/** Live rows in a campaign's store, by status: what the report must equal. */
async function totals(h: Harness, c: Campaign) {
  return h.store.redemptionTotals(c.id);
}

describe('incidents (engine, SQLite in memory)', () => {
  test('the full story: pause, freeze (holds released), revoke, report, then reverse restores the budget', async () => {
    const h = await harness();
    const incidents = new Incidents(h.engine);
    const { c: a, held, unredeemed } = await claimCampaign(h, 60, 40);
    const { c: b } = await claimCampaign(h, 10, 10);
    const before_b = await h.engine.getCampaign(b.id);
    const confirmed = 40 - held.length;
    assert.equal(held.length, 14);
    const inc = await incidents.open(input({ scope: { campaign_ids: [a.id] } }), admin);
    assert.equal(inc.status, 'open');
    assert.deepEqual(inc.campaign_ids, [a.id]);
    const report = inc.report;
    assert.ok(report);
    const rows = await totals(h, a);
    const frozen = rows.get('frozen');
    // Only the confirmed ones are frozen; the holds are released, their money back in the budget.
    assert.equal(report.frozen_count, confirmed);
    assert.equal(report.frozen_count, frozen?.count);
    assert.equal(report.frozen_minor, frozen?.discount_minor);
    assert.equal(report.frozen_minor, confirmed * 1000);
    assert.deepEqual([report.released_holds_count, report.released_holds_minor], [held.length, held.length * 1000]);
    assert.deepEqual([rows.get('released')?.count, rows.get('reserved')], [held.length, undefined]);
    // The unredeemed coupons, and those of the released holds (active again, then revoked).
    assert.equal(report.revoked_coupons, unredeemed.length + held.length);
    assert.equal(report.paused_campaigns, 1);
    assert.deepEqual(report.by_campaign, [{ campaign_id: a.id, count: confirmed, discount_minor: confirmed * 1000 }]);
    const byMerchant = await h.store.exposureRows(a.id, 'merchant_id');
    for (const m of report.by_merchant) {
      const row = byMerchant.find((r) => r.key === m.merchant_id && r.status === 'frozen');
      assert.deepEqual(
        { count: m.count, discount_minor: m.discount_minor },
        { count: row?.count, discount_minor: row?.discount_minor },
      );
    }
    assert.deepEqual(report.by_product_kind.map((k) => k.product_kind).sort(), kinds);

    const paused = await h.engine.getCampaign(a.id);
    assert.equal(paused.status, 'paused');
    assert.deepEqual([paused.reserved_minor, paused.reserved_count, paused.released_count], [0, 0, held.length]);
    assert.equal(paused.spent_minor, confirmed * 1000);
    assert.equal(paused.frozen_minor, confirmed * 1000);
    const hold = held[0];
    assert.ok(hold);
    await rejects(h.engine.confirm(hold.id, who), 'invalid_state');
    // Unredeemed coupons are revoked, and so are the released holds': even once the campaign resumes they do not redeem.
    await h.engine.campaignAction(a.id, 'resume', admin);
    await rejects(h.engine.confirm(hold.id, who), 'invalid_state');
    for (const coupon of unredeemed) assert.equal((await h.engine.getCoupon(coupon.id)).status, 'revoked');
    for (const r of held) assert.equal((await h.engine.getCoupon(r.coupon_id)).status, 'revoked');
    const late = unredeemed[0];
    assert.ok(late);
    await rejects(
      h.engine.redeem({ user_id: late.user_id ?? '', code: late.code, order: order() }, who),
      'coupon_revoked',
    );
    await rejects(
      h.engine.redeem({ user_id: hold.user_id, coupon_id: hold.coupon_id, order: order({ id: 'again' }) }, who),
      'coupon_revoked',
    );
    assert.deepEqual(await h.engine.getCampaign(b.id), before_b, 'a campaign outside the scope is untouched');
    await assertInvariants(h.store);

    const resolved = await incidents.resolve(inc.id, 'reverse', admin);
    assert.equal(resolved.status, 'resolved');
    assert.deepEqual(resolved.resolved, { count: confirmed, discount_minor: confirmed * 1000 });
    const after = await h.engine.getCampaign(a.id);
    assert.equal(after.spent_minor, 0);
    assert.equal(after.frozen_minor, 0);
    assert.equal(after.reversed_minor, confirmed * 1000);
    assert.equal(after.reversed_count, confirmed);
    assert.equal(after.released_count, held.length, 'reversing touches no released hold');
    assert.equal(after.budget_minor - after.reserved_minor - after.spent_minor, after.budget_minor);
    for (const r of held) assert.equal((await h.store.getRedemption(r.id))?.status, 'released');
    const events = unpackOutbox(await h.store.pendingOutbox(10_000));
    const count = (type: string) => events.filter((e) => e.type === type).length;
    const announced = (type: string) =>
      new Set(events.filter((e) => e.type === type).map((e) => String((e.data as Redemption).id)));
    assert.equal(count('redemption.frozen'), confirmed);
    assert.equal(count('redemption.reversed'), confirmed);
    for (const r of held)
      assert.ok(!announced('redemption.frozen').has(r.id) && !announced('redemption.reversed').has(r.id));
    assert.equal(count('incident.opened'), 1);
    assert.equal(count('incident.resolved'), 1);
    await rejects(incidents.resolve(inc.id, 'reverse', admin), 'invalid_state');
    await rejects(incidents.resolve(inc.id, 'honour', admin), 'invalid_state');
    const platform = await h.store.auditChain('platform');
    assert.deepEqual(
      platform.map((e) => e.action),
      ['incident.opening', 'incident.opened', 'incident.resolved'],
    );
    const opened = JSON.parse(platform[1]?.data_json ?? '{}');
    assert.deepEqual([opened.released_holds_count, opened.released_holds_minor], [held.length, held.length * 1000]);
    await assertInvariants(h.store);
  });

  test('honour: frozen redemptions become confirmed and the money stays spent; released holds stay released', async () => {
    const h = await harness();
    const incidents = new Incidents(h.engine);
    const { c, held } = await claimCampaign(h, 30, 30);
    const before = await h.engine.getCampaign(c.id);
    const inc = await incidents.open(
      input({ scope: { campaign_ids: [c.id] }, actions: ['freeze_redemptions'] }),
      admin,
    );
    assert.equal(held.length, 10);
    assert.equal(inc.report?.frozen_count, 20);
    assert.deepEqual([inc.report?.released_holds_count, inc.report?.released_holds_minor], [10, 10_000]);
    assert.equal(inc.report?.revoked_coupons, 0);
    assert.equal(inc.report?.paused_campaigns, 0);
    const frozen = await h.engine.getCampaign(c.id);
    assert.deepEqual([frozen.status, frozen.reserved_minor, frozen.spent_minor], ['active', 0, 20_000]);
    await assertInvariants(h.store);
    const done = await incidents.resolve(inc.id, 'honour', admin);
    assert.deepEqual(done.resolved, { count: 20, discount_minor: 20_000 });
    const after = await h.engine.getCampaign(c.id);
    assert.equal(after.confirmed_count, before.confirmed_count, 'only the confirmed ones, confirmed again');
    assert.equal(after.spent_minor, 20_000);
    assert.equal(after.frozen_count, 0);
    assert.deepEqual([after.released_count, after.reserved_count], [10, 0]);
    assert.equal((await totals(h, c)).get('confirmed')?.count, 20);
    // Each honoured redemption is announced confirmed again, naming the incident; no hold is.
    const events = unpackOutbox(await h.store.pendingOutbox(10_000));
    const honoured = events.filter(
      (e) => e.type === 'redemption.confirmed' && (e.data as { incident_id?: string }).incident_id === inc.id,
    );
    assert.equal(honoured.length, 20);
    assert.ok(honoured.every((e) => (e.data as Redemption).status === 'confirmed'));
    assert.equal(new Set(honoured.map((e) => (e.data as Redemption).id)).size, 20);
    for (const r of held) assert.ok(!honoured.some((e) => (e.data as Redemption).id === r.id));
    // No revoke asked: a released hold's coupon is active again; its order is not, and the coupon redeems anew.
    const hold = held[0];
    assert.ok(hold);
    await rejects(h.engine.confirm(hold.id, who), 'invalid_state');
    assert.equal((await h.engine.getCoupon(hold.coupon_id)).status, 'active');
    const again = await h.engine.redeem(
      { user_id: hold.user_id, coupon_id: hold.coupon_id, order: order({ id: 'again' }), confirm: true },
      who,
    );
    assert.equal(again.status, 'confirmed');
    await assertInvariants(h.store);
  });

  test('merchant scope with a time window: only those rows, in every campaign that has them', async () => {
    const h = await harness();
    const incidents = new Incidents(h.engine);
    const { c: a } = await claimCampaign(h, 12, 12, ['m1', 'm2']);
    const from_ms = h.clock.now() + 1;
    h.clock.advance(10);
    const { c: b } = await claimCampaign(h, 12, 12, ['m1', 'm2']);
    const { c: other } = await claimCampaign(h, 6, 6, ['m3']);
    const to_ms = h.clock.now() + 1;
    h.clock.advance(10);
    const { c: late } = await claimCampaign(h, 4, 4, ['m1']);
    const scope = { merchant_ids: ['m1'], from_ms, to_ms };
    const inc = await incidents.open(input({ scope, actions: ['freeze_redemptions'] }), admin);
    assert.deepEqual(inc.campaign_ids, [b.id], 'a has m1 rows only before the window, late only after it');
    // b's six at m1: four confirmed (frozen), two holds (released).
    assert.equal(inc.report?.frozen_count, 4);
    assert.equal(inc.report?.released_holds_count, 2);
    for (const untouched of [a, other, late]) assert.equal((await h.engine.getCampaign(untouched.id)).frozen_count, 0);
    const rows = await h.store.listRedemptions({ campaign_id: b.id, status: 'frozen', limit: 100 });
    assert.ok(rows.data.every((r) => r.merchant_id === 'm1'));
    const released = await h.store.listRedemptions({ campaign_id: b.id, status: 'released', limit: 100 });
    assert.deepEqual(
      released.data.map((r) => r.merchant_id),
      ['m1', 'm1'],
    );
    await incidents.resolve(inc.id, 'reverse', admin);
    assert.equal((await h.engine.getCampaign(b.id)).reversed_count, 4);
    await assertInvariants(h.store);
  });

  for (const run of ['stalled', 'crashed and resumed'] as const) {
    test(`merchant scope: a campaign whose first row there came while it paused is paused and frozen too (${run})`, async () => {
      const h = await harness();
      const shared = (code: string) => activeCampaign(h, { code_mode: 'shared_code', code, per_user_limit: null });
      const a = await shared('EARLY');
      const b = await shared('LATE');
      const redeem = (code: string, merchant_id: string) =>
        h.engine.redeem({ user_id: 'u1', code, order: order({ merchant_id }), confirm: true }, who);
      const first = await redeem('EARLY', 'm1');
      const scope = { merchant_ids: ['m1'] };
      const actions = ['pause_campaigns' as const, 'freeze_redemptions' as const];
      // The pause step stops at a's pause: b has no row at m1 when the scope is resolved, then gets one.
      // Crashed: the process dies once it has paused b too (the campaign freezing added), and another resumes.
      const hold = new Hold();
      let engine = crashing(h.engine, { at: 'pause', nth: 1, committed: false }, hold);
      if (run !== 'stalled') engine = crashing(engine, { at: 'pause', nth: 2, committed: true });
      const opening = new Incidents(engine).open(input({ scope, actions }), admin).then(
        (done) => ({ done }),
        (failed: unknown) => ({ failed }),
      );
      await hold.reached;
      const late = await redeem('LATE', 'm1');
      const elsewhere = await redeem('LATE', 'm2');
      hold.release();
      const opened = await opening;
      let inc: Incident;
      if ('done' in opened) inc = opened.done;
      else {
        assert.equal(run, 'crashed and resumed', String(opened.failed));
        assert.equal((opened.failed as Error).message, 'injected crash');
        assert.equal((await h.engine.getCampaign(b.id)).status, 'paused', 'it died after pausing b');
        h.clock.advance(limits.incident_lease_ms + 1);
        const [resumed] = await new Incidents(h.engine).resumeStuck();
        assert.ok(resumed);
        inc = resumed;
      }
      assert.deepEqual(inc.campaign_ids, [a.id, b.id]);
      assert.equal(inc.report?.paused_campaigns, 2);
      assert.equal(inc.report?.frozen_count, 2);
      assert.deepEqual(
        inc.report?.by_campaign.map((g) => [g.campaign_id, g.count, g.discount_minor]).sort(),
        [
          [a.id, 1, 1000],
          [b.id, 1, 1000],
        ].sort(),
      );
      for (const c of [a, b]) assert.equal((await h.engine.getCampaign(c.id)).status, 'paused');
      for (const r of [first, late]) assert.equal((await h.store.getRedemption(r.id))?.status, 'frozen');
      assert.equal((await h.store.getRedemption(elsewhere.id))?.status, 'confirmed', 'm2 is outside the scope');
      await assertInvariants(h.store);
      inc = await new Incidents(h.engine).resolve(inc.id, 'reverse', admin);
      assert.deepEqual(inc.resolved, { count: 2, discount_minor: 2000 });
      assert.deepEqual((await h.engine.getCampaign(b.id)).spent_minor, 1000, 'the m2 row stays spent');
      await assertInvariants(h.store);
    });
  }

  test('bad input changes nothing; unknown incidents are not_found; two resolvers, one wins', async () => {
    const h = await harness();
    const incidents = new Incidents(h.engine);
    const { c } = await claimCampaign(h, 6, 6);
    await rejects(incidents.open(input(), admin), 'invalid_request');
    await rejects(incidents.open(input({ scope: { campaign_ids: ['cmp_nope'] } }), admin), 'not_found');
    await rejects(incidents.open(input({ scope: { campaign_ids: [c.id, c.id] } }), admin), 'invalid_request');
    await rejects(incidents.open(input({ title: ' ', scope: { campaign_ids: [c.id] } }), admin), 'invalid_request');
    const backwards = { campaign_ids: [c.id], from_ms: 2000, to_ms: 1000 };
    await rejects(incidents.open(input({ scope: backwards }), admin), 'invalid_request');
    assert.deepEqual((await incidents.list({ limit: 10 })).data, []);
    assert.equal((await h.engine.getCampaign(c.id)).status, 'active');
    await rejects(incidents.get('inc_nope'), 'not_found');
    await rejects(incidents.resolve('inc_nope', 'reverse', admin), 'not_found');
    const inc = await incidents.open(input({ scope: { campaign_ids: [c.id] } }), admin);
    const both = await Promise.allSettled([
      incidents.resolve(inc.id, 'reverse', admin),
      incidents.resolve(inc.id, 'honour', admin),
    ]);
    assert.equal(both.filter((x) => x.status === 'fulfilled').length, 1);
    const lost = both.find((x) => x.status === 'rejected');
    assert.equal((lost as PromiseRejectedResult | undefined)?.reason?.code, 'invalid_state');
    assert.equal((await incidents.get(inc.id)).status, 'resolved');
    await assertInvariants(h.store);
  });

  test('rows another node stored before the incident are frozen and revoked, though its clock runs ahead', async () => {
    const h = await harness();
    // Node B's clock runs 50 ms ahead of node A's: every id B makes sorts after an id A makes now.
    const b = await Engine.open(h.store, { clock: new ManualClock(h.clock.now() + 50) });
    try {
      const c = await activeCampaign(h, { product_kinds: kinds, max_redemptions: 1000, budget_minor: 10_000_000 });
      let live = 0;
      for (let i = 0; i < 6; i++) {
        const coupon = await b.claim({ campaign_id: c.id, user_id: `u${i}` }, who);
        if (i >= 4) continue; // two stay unredeemed
        await b.redeem(
          { user_id: `u${i}`, code: coupon.code, order: order({ id: `o${i}` }), confirm: i % 2 === 0 },
          who,
        );
        live++;
      }
      const inc = await new Incidents(h.engine).open(input({ scope: { campaign_ids: [c.id] } }), admin);
      assert.equal(live, 4);
      assert.equal(inc.report?.frozen_count, 2, 'both confirmed redemptions B stored were frozen');
      assert.equal(inc.report?.released_holds_count, 2, 'both holds B stored were released');
      assert.equal(inc.report?.revoked_coupons, 4, 'both unredeemed coupons B issued, and the released holds');
      assert.equal((await totals(h, c)).get('frozen')?.count, 2);
      assert.equal((await totals(h, c)).get('released')?.count, 2);
      await assertInvariants(h.store);
    } finally {
      await b.close();
    }
  });

  test('incident batches apply only for the holder, and settle each member exactly once', async () => {
    const h = await harness();
    const incidents = new Incidents(h.engine);
    const { c } = await claimCampaign(h, 12, 12);
    const inc = await incidents.open(
      input({ scope: { campaign_ids: [c.id] }, actions: ['freeze_redemptions'] }),
      admin,
    );
    const rows = (await h.store.listRedemptions({ campaign_id: c.id, status: 'frozen', limit: 100 })).data;
    const ids = rows.map((r) => r.id);
    const minor = rows.reduce((s, r) => s + r.discount_minor, 0);
    const base = { incident_id: inc.id, actor: 'key_admin' };
    // Opening is over: a late freeze is refused, whoever sends it.
    const late = { type: 'freeze' as const, redemption_ids: ids, owner: 'anyone', ...base };
    await rejects(h.engine.submitCommand(c.id, late), 'invalid_state');
    // Take the resolution as node-t (as resolve does), then send its batches by hand.
    const resolving = {
      ...(await incidents.get(inc.id)),
      status: 'resolving' as const,
      resolution: 'reverse' as const,
    };
    const lease = { owner: 'node-t', until_ms: h.clock.now() + 60_000 };
    assert.equal(await h.store.claimIncident(resolving, 'open', lease, h.clock.now(), null), true);
    const reverse = (owner: string, redemption_ids: string[]) =>
      h.engine.submitCommand<{ count: number; discount_minor: number }>(c.id, {
        type: 'reverse_many',
        redemption_ids,
        owner,
        ...base,
      });
    await rejects(reverse('node-u', ids), 'invalid_state');
    // The same batch twice at once (a repeated send), then once more: each member moves once.
    const twice = await Promise.all([reverse('node-t', ids), reverse('node-t', ids)]);
    assert.deepEqual(twice.map((d) => d.count).sort(), [0, ids.length]);
    assert.deepEqual(await reverse('node-t', ids), { count: 0, discount_minor: 0 });
    const after = await h.engine.getCampaign(c.id);
    assert.deepEqual([after.reversed_count, after.reversed_minor, after.frozen_count], [ids.length, minor, 0]);
    // node-t "dies"; after its lease a resumption finishes with nothing left to move, totals from the rows.
    h.clock.advance(60_001);
    const [done] = await incidents.resumeStuck();
    assert.equal(done?.status, 'resolved');
    assert.deepEqual(done?.resolved, { count: ids.length, discount_minor: minor });
    await assertInvariants(h.store);
  });

  test('freezing while redemptions keep arriving: the report is exactly the rows it froze', async () => {
    const h = await harness();
    const incidents = new Incidents(h.engine);
    const c = await activeCampaign(h, {
      code_mode: 'shared_code',
      code: 'RUSH',
      budget_minor: 100_000_000,
      per_user_limit: null,
      max_redemptions: null,
    });
    let sent = 0;
    const wave = (n: number) => {
      const from = sent;
      sent += n;
      return Promise.all(
        Array.from({ length: n }, (_, i) => {
          const o = order({ id: `f${from + i}` });
          return h.engine.redeem({ user_id: `f${from + i}`, code: 'RUSH', order: o, confirm: i % 4 !== 0 }, who);
        }),
      );
    };
    await wave(4500); // more than one freeze batch, so waves commit between the incident's batches
    let opened = false;
    const flooding = (async () => {
      while (!opened) await wave(50);
      await wave(50);
    })();
    const inc = await incidents.open(
      input({ scope: { campaign_ids: [c.id] }, actions: ['freeze_redemptions'] }),
      admin,
    );
    opened = true;
    await flooding;
    const rows = await totals(h, c);
    const frozen = rows.get('frozen');
    const released = rows.get('released');
    const report = inc.report;
    const moved = (report?.frozen_count ?? 0) + (report?.released_holds_count ?? 0);
    assert.ok(report && moved >= 4500 && moved < sent, `${moved} of ${sent}`);
    assert.deepEqual([report.frozen_count, report.frozen_minor], [frozen?.count, frozen?.discount_minor]);
    // redemptionTotals leaves released holds unsummed (their sum has no bound): summed from the rows here.
    let released_minor = 0;
    await h.store.forEachRedemption(c.id, (page) => {
      for (const r of page) if (r.status === 'released') released_minor += r.discount_minor;
    });
    const released_rows = [released?.count ?? 0, released_minor];
    assert.deepEqual([report.released_holds_count, report.released_holds_minor], released_rows);
    await assertInvariants(h.store);
    const done = await incidents.resolve(inc.id, 'reverse', admin);
    assert.deepEqual(done.resolved, { count: frozen?.count, discount_minor: frozen?.discount_minor });
    const after = await h.engine.getCampaign(c.id);
    assert.equal(after.frozen_count, 0);
    assert.equal(after.reversed_count, frozen?.count);
    const counted = after.confirmed_count + after.reserved_count + after.reversed_count + after.released_count;
    assert.equal(counted, sent);
    await assertInvariants(h.store);
  });

  test('emergency stop reads active and pending campaigns in one pass: one approved while it lists is still paused', async () => {
    const h = await harness();
    const { c: p } = await claimCampaign(h, 2, 1);
    assert.equal((await h.engine.updateCampaign(p.id, { budget_minor: 20_000_000 }, admin)).status, 'pending_approval');
    // The approval lands right after the stop's first read (a list of two statuses, read separately, missed it).
    const store = h.store;
    const list = store.listCampaigns.bind(store);
    let approved = false;
    store.listCampaigns = async (q) => {
      const page = await list(q);
      if (!approved) {
        approved = true;
        assert.equal((await h.engine.campaignAction(p.id, 'approve', { actor: 'key_checker' })).status, 'active');
      }
      return page;
    };
    const out = await emergencyStop(h.engine, 'drill', admin);
    assert.ok(approved);
    assert.deepEqual(out.campaign_ids, [p.id]);
    assert.equal((await h.engine.getCampaign(p.id)).status, 'paused');
    await assertInvariants(h.store);
  });

  test('emergency stop pauses every active or pending campaign, each on its own chain, and audits the stop', async () => {
    const h = await harness();
    const { c: a } = await claimCampaign(h, 2, 2);
    const { c: b } = await claimCampaign(h, 2, 2);
    // A risky change sends this one to review with a hold still open: the stop must reach it too.
    const { c: p, held } = await claimCampaign(h, 2, 1);
    assert.equal(held.length, 1);
    const pending = await h.engine.updateCampaign(p.id, { budget_minor: 20_000_000 }, { actor: 'key_changer' });
    assert.equal(pending.status, 'pending_approval');
    const draft = await h.engine.createCampaign((await import('../support/fixtures.ts')).spec(), admin);
    const out = await emergencyStop(h.engine, 'drill', admin);
    assert.deepEqual(new Set(out.campaign_ids), new Set([a.id, b.id, p.id]));
    assert.equal(out.paused, 3);
    const [hold] = held;
    assert.ok(hold);
    await rejects(h.engine.confirm(hold.id, who), 'campaign_paused');
    assert.equal((await h.engine.getCampaign(p.id)).needs_approval, true);
    for (const id of [a.id, b.id, p.id]) {
      const c = await h.engine.getCampaign(id);
      assert.equal(c.status, 'paused');
      assert.equal(c.status_reason, 'drill');
      const chain = await h.store.auditChain(id);
      assert.equal(chain[chain.length - 1]?.action, 'campaign.pause');
    }
    assert.equal((await h.engine.getCampaign(draft.id)).status, 'draft');
    const platform = await h.store.auditChain('platform');
    assert.equal(platform.length, 1);
    assert.equal(platform[0]?.action, 'platform.emergency_stop');
    assert.deepEqual(JSON.parse(platform[0]?.data_json ?? 'null'), {
      reason: 'drill',
      paused: 3,
      campaign_ids: out.campaign_ids,
    });
    assert.deepEqual(await emergencyStop(h.engine, 'again', admin), { paused: 0, campaign_ids: [] });
    await assertInvariants(h.store);
  });

  test('a campaign whose pause fails does not stop the others: they are paused and the stop audited, then it throws', async () => {
    const failing = new Set<string>();
    const inner = new SqliteStore({ path: ':memory:' });
    // A store whose write fails for the campaigns in `failing` (a bad page, a lock held elsewhere).
    const store = new Proxy(inner, {
      get(target, prop, receiver) {
        const value: unknown = Reflect.get(target, prop, receiver);
        if (typeof value !== 'function') return value;
        if (prop !== 'runBatches') return value.bind(target);
        return async <R>(items: Array<BatchItem<R>>): Promise<Array<R | Error>> => {
          const ok = items.filter((i) => !failing.has(i.campaign_id));
          const done = await target.runBatches(ok);
          return items.map((i) =>
            failing.has(i.campaign_id) ? new Error('disk I/O error') : (done.shift() as R | Error),
          );
        };
      },
    });
    const h = await harness({}, store);
    const ids = [];
    for (let i = 0; i < 20; i++) ids.push((await activeCampaign(h)).id);
    const bad = ids[3] ?? '';
    failing.add(bad);
    await assert.rejects(emergencyStop(h.engine, 'leak', admin), /disk I\/O error/);
    for (const id of ids) assert.equal((await h.engine.getCampaign(id)).status, id === bad ? 'active' : 'paused', id);
    const platform = await h.store.auditChain('platform');
    const data = JSON.parse(platform.at(-1)?.data_json ?? 'null');
    assert.equal(platform.at(-1)?.action, 'platform.emergency_stop');
    assert.deepEqual(new Set(data.campaign_ids), new Set(ids.filter((id) => id !== bad)));
    assert.deepEqual(data.failed_campaign_ids, [bad]);
    // The store recovers; the retry pauses what is left.
    failing.clear();
    assert.deepEqual(await emergencyStop(h.engine, 'leak', admin), { paused: 1, campaign_ids: [bad] });
    await assertInvariants(h.store);
  });
});
