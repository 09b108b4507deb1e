import assert from 'node:assert/strict';
import type { Coupon } from '../../src/domain/coupon.ts';
import type { Redemption } from '../../src/domain/redemption.ts';
import type { Store } from '../../src/store/port.ts';
import { activeCampaign, assertInvariants, order, rejects } from './fixtures.ts';
import type { Node, OpenStore } from './incident-faults.ts';
import { twoNodes } from './incident-holds.ts';

/**
 * restore_coupon after an incident revoked a campaign's coupons, run on every store: a coupon
 * that existed when the incident revoked (one redeemed then, or frozen and reversed one by one)
 * is not made active again by a reversal; it is revoked, and the reversal goes through. A coupon
 * issued after the incident is restored as before.
 */

const admin = { actor: 'key_admin' };
const who = { actor: 'key_checkout' };

/** Redemption ids whose reversal the campaign's chain records as revoking the coupon instead of restoring it. */
async function reversalsThatRevoked(store: Store, campaign_id: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await store.auditChain(campaign_id)) {
    if (e.action !== 'batch') continue;
    const data = JSON.parse(e.data_json) as {
      changes: Array<{ action: string; subject: string; coupon_revoked?: true }>;
    };
    for (const ch of data.changes) {
      if (ch.action === 'redemption.reversed' && ch.coupon_revoked === true) out.push(ch.subject);
    }
  }
  return out.sort();
}

/** A campaign on the checkout node, users u0.. claiming one coupon each; redeem(i) at merchant m<merchant>. */
async function claims(checkout: Node, users: number) {
  const c = await activeCampaign(checkout, { max_redemptions: 1000, budget_minor: 10_000_000 });
  const coupons: Coupon[] = [];
  const claim = async (i: number) => {
    const coupon = await checkout.engine.claim({ campaign_id: c.id, user_id: `u${i}` }, who);
    coupons[i] = coupon;
    return coupon;
  };
  for (let i = 0; i < users; i++) await claim(i);
  const redeem = (i: number, n: number, merchant_id = 'm1') => {
    const o = order({ id: `o${n}`, merchant_id });
    return checkout.engine.redeem({ user_id: `u${i}`, code: coupons[i]?.code ?? '', order: o, confirm: true }, who);
  };
  return { c, coupons, claim, redeem };
}

/**
 * Coupon 1 is redeemed at m2 and coupon 2 stays unredeemed; coupon 0, claimed last on the checkout
 * node (its clock 50 ms ahead, so the newest coupon id), is redeemed at m1. An incident pauses,
 * freezes at m2 and revokes. Reversing redemption 0 (confirmed, never frozen) and 1 (frozen, one
 * by one) with restore_coupon leaves both coupons revoked, and neither redeems after resume; a
 * coupon claimed after the incident is restored by its reversal and redeems again.
 */
export async function restoreAfterRevocation(open: OpenStore): Promise<void> {
  await twoNodes(open, async (checkout, operator) => {
    const { c, coupons, claim, redeem } = await claims(checkout, 0);
    await claim(1);
    await claim(2);
    await claim(0);
    const r1 = await redeem(1, 1, 'm2');
    const r0 = await redeem(0, 0, 'm1');
    const scope = { campaign_ids: [c.id], merchant_ids: ['m2'], from_ms: null, to_ms: null };
    const actions = ['pause_campaigns' as const, 'freeze_redemptions' as const, 'revoke_unredeemed' as const];
    const inc = await operator.incidents.open({ title: 'leak', scope, actions }, admin);
    assert.deepEqual([inc.report?.frozen_count, inc.report?.revoked_coupons], [1, 1]);
    const bound = (await operator.engine.getCampaign(c.id)).revoke_through_id;
    assert.ok(bound !== undefined && bound === inc.work.revoke_through_id);
    assert.ok((coupons[0]?.id ?? '') <= bound, 'the bound reaches the newest coupon, redeemed, from the node ahead');
    await operator.engine.campaignAction(c.id, 'resume', admin);
    await assertInvariants(operator.store);

    const reversed: Redemption[] = [];
    for (const r of [r0, r1]) {
      const done = await checkout.engine.reverse(r.id, true, who);
      assert.equal(done.status, 'reversed', 'the reversal itself goes through');
      reversed.push(done);
      assert.equal((await operator.engine.getCoupon(r.coupon_id)).status, 'revoked', 'not restored: revoked');
    }
    assert.deepEqual(await reversalsThatRevoked(operator.store, c.id), [r0.id, r1.id].sort());
    await rejects(redeem(0, 10), 'coupon_revoked');
    await rejects(redeem(1, 11), 'coupon_revoked');
    await rejects(redeem(2, 12), 'coupon_revoked');
    const back = await operator.engine.getCampaign(c.id);
    assert.deepEqual([back.spent_minor, back.reversed_count, back.frozen_count], [0, 2, 0]);
    await assertInvariants(operator.store);

    // Issued after the incident: its reversal restores it, and it redeems again.
    const late = await claim(3);
    assert.ok(late.id > bound);
    const r3 = await redeem(3, 3);
    await checkout.engine.reverse(r3.id, true, who);
    assert.equal((await operator.engine.getCoupon(late.id)).status, 'active');
    assert.equal((await redeem(3, 13)).status, 'confirmed');
    // The resolution finds the frozen one reversed already: it skips it.
    const done = await operator.incidents.resolve(inc.id, 'reverse', admin);
    assert.deepEqual(done.resolved, { count: 0, discount_minor: 0 });
    assert.deepEqual(await reversalsThatRevoked(operator.store, c.id), [r0.id, r1.id].sort());
    await assertInvariants(operator.store);
  });
}

/**
 * Twelve confirmed redemptions; the checkout node reverses them with restore_coupon one after
 * another while the operator's incident revokes the campaign's unredeemed coupons. A reversal that
 * commits before the incident's bound gives its coupon back (active), and the revocation then
 * takes it; one that commits after revokes it itself. Either way every coupon ends revoked, once:
 * the report's count and the reversals that revoked add up to twelve, and none redeems again.
 */
export async function reversalsRaceRevocation(open: OpenStore): Promise<void> {
  await twoNodes(open, async (checkout, operator) => {
    const n = 12;
    const { c, coupons, redeem } = await claims(checkout, n);
    const rs: Redemption[] = [];
    for (let i = 0; i < n; i++) rs.push(await redeem(i, i));
    const scope = { campaign_ids: [c.id], merchant_ids: null, from_ms: null, to_ms: null };
    const reversing = (async () => {
      for (const r of rs) assert.equal((await checkout.engine.reverse(r.id, true, who)).status, 'reversed');
    })();
    const actions = ['revoke_unredeemed' as const];
    const [inc] = await Promise.all([operator.incidents.open({ title: 'leak', scope, actions }, admin), reversing]);
    const by_reversal = await reversalsThatRevoked(operator.store, c.id);
    assert.equal((inc.report?.revoked_coupons ?? 0) + by_reversal.length, n, `${by_reversal.length} by reversals`);
    for (const cp of coupons) assert.equal((await operator.engine.getCoupon(cp.id)).status, 'revoked');
    for (let i = 0; i < n; i++) await rejects(redeem(i, 100 + i), 'coupon_revoked');
    const after = await operator.engine.getCampaign(c.id);
    assert.deepEqual([after.spent_minor, after.reversed_count], [0, n]);
    await assertInvariants(operator.store);
  });
}
