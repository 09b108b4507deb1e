import assert from 'node:assert/strict';
import { limits } from '../../src/config/limits.ts';
import type { Coupon } from '../../src/domain/coupon.ts';
import type { Store } from '../../src/store/port.ts';
import { activeCampaign, assertInvariants, order, rejects, t0 } from './fixtures.ts';
import { closeNode, type Node, type OpenStore, openNode } from './incident-faults.ts';

/**
 * revoke_unredeemed and coupons on hold, run on every store: a checkout node holds coupons, an
 * admin node (another engine, another connection) opens an incident that revokes without
 * freezing. No coupon of the campaign may be redeemable afterwards, whatever becomes of its hold.
 */

const admin = { actor: 'key_admin' };
const who = { actor: 'key_checkout' };

/**
 * Two nodes on one database, the checkout node's clock 50 ms ahead of the operator's (every id it
 * makes sorts after the operator's own next id); the body runs, then both close.
 */
export async function twoNodes(
  open: OpenStore,
  body: (checkout: Node, operator: Node) => Promise<void>,
): Promise<void> {
  const checkout = await openNode(open, t0 + 60_050);
  const operator = await openNode(open, t0 + 60_000);
  try {
    await body(checkout, operator);
  } finally {
    await closeNode(checkout);
    await closeNode(operator);
  }
}

/** The coupon ids the campaign's chain says its incidents revoked, sorted. */
async function auditedRevoked(store: Store, campaign_id: string): Promise<string[]> {
  const chain = await store.auditChain(campaign_id);
  const ids = chain
    .filter((e) => e.action === 'coupons.revoked')
    .flatMap((e) => (JSON.parse(e.data_json) as { coupon_ids: string[] }).coupon_ids);
  return ids.sort();
}

/**
 * One coupon active, one redeemed, then two on hold (the newest unredeemed coupons, from a
 * checkout node whose clock runs ahead: the revocation's bound must reach them); an incident
 * pauses and revokes (no freeze). The three unredeemed coupons are revoked, the holds left
 * pending; one hold is then released, the other expires, and once the campaign resumes none of
 * the three redeems.
 */
export async function revokedHoldsStayRevoked(open: OpenStore): Promise<void> {
  await twoNodes(open, async (checkout, operator) => {
    const c = await activeCampaign(checkout, { max_redemptions: 1000, budget_minor: 10_000_000 });
    const coupons: Coupon[] = [];
    for (let i = 0; i < 4; i++) coupons.push(await checkout.engine.claim({ campaign_id: c.id, user_id: `u${i}` }, who));
    const [active, redeemed, c2, c3] = coupons;
    assert.ok(active && redeemed && c2 && c3);
    const redeem = (i: number, confirm: boolean) =>
      checkout.engine.redeem(
        { user_id: `u${i}`, code: coupons[i]?.code ?? '', order: order({ id: `o${i}` }), confirm },
        who,
      );
    await redeem(1, true);
    const released = await redeem(2, false);
    const expiring = await redeem(3, false);

    const scope = { campaign_ids: [c.id], merchant_ids: null, from_ms: null, to_ms: null };
    const actions = ['pause_campaigns' as const, 'revoke_unredeemed' as const];
    const inc = await operator.incidents.open({ title: 'leak', scope, actions }, admin);
    assert.equal(inc.report?.revoked_coupons, 3, 'both coupons on hold and the active one');
    assert.equal(inc.report?.frozen_count, 0);
    const unredeemed = [active.id, c2.id, c3.id].sort();
    assert.deepEqual(await auditedRevoked(operator.store, c.id), unredeemed, 'the entry names each one');
    for (const id of unredeemed) assert.equal((await operator.engine.getCoupon(id)).status, 'revoked');
    assert.equal((await operator.engine.getCoupon(redeemed.id)).status, 'redeemed');
    // Not frozen: the holds stay pending, their money reserved.
    const paused = await operator.engine.getCampaign(c.id);
    assert.deepEqual([paused.status, paused.reserved_count, paused.reserved_minor], ['paused', 2, 2000]);
    assert.equal((await operator.store.getRedemption(released.id))?.status, 'reserved');
    await assertInvariants(operator.store);

    assert.equal((await checkout.engine.release(released.id, who)).status, 'released');
    assert.equal((await checkout.engine.getCoupon(c2.id)).status, 'revoked', 'a release does not give it back');
    for (const n of [checkout, operator]) n.clock.advance(limits.hold_ms_default);
    assert.equal(await checkout.engine.releaseExpiredHolds(), 1);
    assert.equal((await checkout.store.getRedemption(expiring.id))?.status, 'released');
    assert.equal((await checkout.engine.getCoupon(c3.id)).status, 'revoked', 'nor does a hold expiring');

    await operator.engine.campaignAction(c.id, 'resume', admin);
    for (const i of [0, 2, 3]) await rejects(redeem(i, true), 'coupon_revoked');
    const after = await operator.engine.getCampaign(c.id);
    assert.deepEqual(
      [after.status, after.reserved_count, after.reserved_minor, after.released_count, after.spent_minor],
      ['active', 0, 0, 2, 1000],
    );
    assert.equal((await operator.incidents.get(inc.id)).report?.revoked_coupons, 3);
    await assertInvariants(operator.store);
  });
}

/**
 * Two coupons on hold when an incident pauses and revokes (no freeze). One hold confirms once the
 * campaign resumes; a second incident then freezes it (and honours it) and releases the other
 * hold, which its checkout never confirmed. The confirmed order goes through, the released one
 * does not (a later confirm is invalid_state), and both coupons stay revoked, so reversing the
 * order with restore_coupon gives nothing back and neither coupon redeems again.
 */
export async function revokedHoldStillConfirms(open: OpenStore): Promise<void> {
  await twoNodes(open, async (checkout, operator) => {
    const c = await activeCampaign(checkout, { max_redemptions: 1000, budget_minor: 10_000_000 });
    const coupons: Coupon[] = [];
    for (let i = 0; i < 2; i++) coupons.push(await checkout.engine.claim({ campaign_id: c.id, user_id: `u${i}` }, who));
    const redeem = (i: number, confirm: boolean, n = i) => {
      const o = order({ id: `o${n}`, merchant_id: `m${i + 1}` });
      return checkout.engine.redeem({ user_id: `u${i}`, code: coupons[i]?.code ?? '', order: o, confirm }, who);
    };
    const confirming = await redeem(0, false);
    const released = await redeem(1, false);
    const scope = { campaign_ids: [c.id], merchant_ids: null, from_ms: null, to_ms: null };
    const revoking = { title: 'leak', scope, actions: ['pause_campaigns' as const, 'revoke_unredeemed' as const] };
    assert.equal((await operator.incidents.open(revoking, admin)).report?.revoked_coupons, 2);
    await rejects(checkout.engine.confirm(confirming.id, who), 'campaign_paused');
    await operator.engine.campaignAction(c.id, 'resume', admin);

    assert.equal((await checkout.engine.confirm(confirming.id, who)).status, 'confirmed');
    const freezing = { title: 'review', scope, actions: ['freeze_redemptions' as const] };
    const second = await operator.incidents.open(freezing, admin);
    assert.deepEqual([second.report?.frozen_count, second.report?.frozen_minor], [1, 1000]);
    assert.deepEqual([second.report?.released_holds_count, second.report?.released_holds_minor], [1, 1000]);
    assert.equal((await operator.store.getRedemption(confirming.id))?.status, 'frozen');
    assert.equal((await operator.store.getRedemption(released.id))?.status, 'released');
    await rejects(checkout.engine.confirm(released.id, who), 'invalid_state');
    await operator.incidents.resolve(second.id, 'honour', admin);
    assert.equal((await operator.store.getRedemption(confirming.id))?.status, 'confirmed');
    assert.equal((await operator.store.getRedemption(released.id))?.status, 'released', 'honour leaves it released');
    const spent = await operator.engine.getCampaign(c.id);
    assert.deepEqual(
      [spent.confirmed_count, spent.spent_minor, spent.reserved_count, spent.released_count],
      [1, 1000, 0, 1],
    );
    for (const cp of coupons) assert.equal((await operator.engine.getCoupon(cp.id)).status, 'revoked', 'still revoked');
    await assertInvariants(operator.store);

    assert.equal((await checkout.engine.reverse(confirming.id, true, who)).status, 'reversed');
    await rejects(checkout.engine.reverse(released.id, true, who), 'invalid_state');
    for (const cp of coupons) assert.equal((await operator.engine.getCoupon(cp.id)).status, 'revoked', 'not restored');
    for (const i of [0, 1]) await rejects(redeem(i, true, i + 2), 'coupon_revoked');
    const after = await operator.engine.getCampaign(c.id);
    assert.deepEqual([after.spent_minor, after.reversed_count, after.reversed_minor], [0, 1, 1000]);
    await assertInvariants(operator.store);
  });
}
