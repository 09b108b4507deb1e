import assert from 'node:assert/strict';
import { limits } from '../../src/config/limits.ts';
import type { Coupon } from '../../src/domain/coupon.ts';
import type { Redemption } from '../../src/domain/redemption.ts';
import { Incidents } from '../../src/engine/incidents/incidents.ts';
import { activeCampaign, day_ms, envelopeTerms, type Harness, order } from './fixtures.ts';

const who = { actor: 'key_checkout' };
const admin = { actor: 'key_admin' };

/** The rows of a coupon mix that tests name: campaigns, coupons and redemptions by role. */
export interface CouponMix {
  campaigns: Record<'claim' | 'revoked_by_incident' | 'shared' | 'unique' | 'envelope' | 'revoked', string>;
  coupons: Record<string, Coupon>;
  redemptions: Record<string, Redemption>;
}

/**
 * A store with every way a coupon and its redemptions come to stand, each through the engine:
 * holds live, released and expired; confirmed, reversed with and without restore_coupon, restored
 * and redeemed again; frozen by an incident (and one of those reversed); coupons an incident
 * revoked, unused, on a hold left pending and on a hold confirmed afterwards; a shared code with
 * many redemptions, revoked under a live hold; unique codes; red-envelope coupons; a campaign
 * revoked (its hold released, its coupons revoked, a reversal with restore_coupon afterwards, which
 * leaves its coupon revoked); coupons past their ttl; a campaign whose end moved earlier (its coupons
 * retimed); and an expired envelope.
 */
export async function buildCouponMix(h: Harness): Promise<CouponMix> {
  const { engine, clock } = h;
  const incidents = new Incidents(engine);
  const coupons: Record<string, Coupon> = {};
  const redemptions: Record<string, Redemption> = {};
  const roomy = { max_redemptions: 1000, budget_minor: 10_000_000 };
  const claimOf = async (campaign_id: string, name: string) => {
    const coupon = await engine.claim({ campaign_id, user_id: name }, who);
    coupons[name] = coupon;
    return coupon;
  };
  /** Redeems the named coupon as its owner (or `user_id`, for bearer codes); the redemption is kept under `as`. */
  const redeem = async (name: string, confirm: boolean, as = name, user_id = name, merchant_id = 'm1') => {
    const coupon = coupons[name];
    assert.ok(coupon, name);
    const o = order({ merchant_id });
    const r = await engine.redeem({ user_id, code: coupon.code, order: o, confirm }, who);
    redemptions[as] = r;
    return r;
  };

  const claim = (await activeCampaign(h, roomy)).id;
  // A hold that runs out and is released by the sweeper, and an unused coupon: both outlive their ttl.
  await claimOf(claim, 'expiring');
  await redeem('expiring', false);
  clock.advance(limits.hold_ms_default + 1);
  assert.equal(await engine.releaseExpiredHolds(), 1);
  await claimOf(claim, 'unused');
  clock.advance(8 * day_ms);

  for (const name of ['held', 'confirmed', 'released', 'reversed', 'restored', 'frozen', 'frozen_reversed']) {
    await claimOf(claim, name);
  }
  await redeem('held', false);
  await redeem('confirmed', true);
  await engine.release((await redeem('released', false)).id, who);
  await engine.reverse((await redeem('reversed', true)).id, false, who);
  await engine.reverse((await redeem('restored', true, 'restored_first')).id, true, who);
  await redeem('restored', true);
  await redeem('frozen', true, 'frozen', 'frozen', 'm9');
  await redeem('frozen_reversed', true, 'frozen_reversed', 'frozen_reversed', 'm9');
  const scope = { campaign_ids: [claim], merchant_ids: ['m9'], from_ms: null, to_ms: null };
  await incidents.open({ title: 'm9 leak', scope, actions: ['freeze_redemptions'] }, admin);
  await engine.reverse(redemptions.frozen_reversed?.id ?? '', true, who);
  // The end moves earlier: coupons that would outlive it are retimed to it.
  await engine.updateCampaign(claim, { ends_at_ms: clock.now() + 5 * day_ms }, admin);
  await activate(h, claim);

  const revokedByIncident = (await activeCampaign(h, roomy)).id;
  for (const name of ['b_unused', 'b_redeemed', 'b_hold_confirmed', 'b_hold_left']) {
    await claimOf(revokedByIncident, name);
  }
  await redeem('b_redeemed', true);
  await redeem('b_hold_confirmed', false);
  await redeem('b_hold_left', false);

  const shared = (
    await activeCampaign(h, { ...roomy, code_mode: 'shared_code', code: 'MIXSHARED', per_user_limit: null })
  ).id;
  const sharedCoupon = await engine.store.findCouponByCode('MIXSHARED');
  assert.ok(sharedCoupon);
  coupons.shared = sharedCoupon;
  await redeem('shared', true, 's_confirmed_1', 'su1');
  await redeem('shared', true, 's_confirmed_2', 'su2');
  await redeem('shared', false, 's_held', 'su3');
  await engine.release((await redeem('shared', false, 's_released', 'su4')).id, who);
  await engine.reverse((await redeem('shared', true, 's_reversed', 'su5')).id, true, who);

  // verify judges revoked coupons stamped more than the allowed clock skew before the incident's bound.
  clock.advance(limits.verify_revoke_clock_skew_ms + 1);
  const revoking = { campaign_ids: [revokedByIncident, shared], merchant_ids: null, from_ms: null, to_ms: null };
  const actions = ['pause_campaigns' as const, 'revoke_unredeemed' as const];
  await incidents.open({ title: 'revoke', scope: revoking, actions }, admin);
  await engine.campaignAction(revokedByIncident, 'resume', admin);
  await engine.confirm(redemptions.b_hold_confirmed?.id ?? '', who);

  const unique = (await activeCampaign(h, { ...roomy, code_mode: 'unique_codes', per_user_limit: null })).id;
  const { codes } = await engine.generateCodes(unique, 3, admin);
  for (const [i, code] of codes.entries()) {
    const coupon = await engine.store.findCouponByCode(code);
    assert.ok(coupon);
    coupons[`code_${i}`] = coupon;
  }
  await redeem('code_0', true, 'code_0', 'du0');
  await redeem('code_1', false, 'code_1', 'du1');

  const envelope = await engine.envelopes.create(envelopeTerms(h, { total_minor: 5_000, count: 5 }), admin);
  for (const name of ['e_redeemed', 'e_held', 'e_unused']) {
    coupons[name] = (await engine.envelopes.grab(envelope.red_envelope?.id ?? '', name, who)).coupon;
  }
  await redeem('e_redeemed', true);
  await redeem('e_held', false);

  const revoked = (await activeCampaign(h, roomy)).id;
  for (const name of ['f_redeemed', 'f_held', 'f_unused']) await claimOf(revoked, name);
  await redeem('f_redeemed', true);
  await redeem('f_held', false);
  await engine.campaignAction(revoked, 'revoke', admin, 'drill');
  await engine.reverse(redemptions.f_redeemed?.id ?? '', true, who);

  // The envelope expires: its remainder is refunded; grabbed coupons stay redeemable until their ttl.
  clock.advance(day_ms + 1);
  assert.equal(await engine.envelopes.expireEnvelopes(), 1);

  const campaigns = { claim, revoked_by_incident: revokedByIncident, shared, unique, envelope: envelope.id, revoked };
  return { campaigns, coupons, redemptions };
}

/** Brings a campaign sent back to approval (a risky change) to active again. */
async function activate(h: Harness, id: string): Promise<void> {
  const c = await h.engine.getCampaign(id);
  if (c.status === 'pending_approval') await h.engine.campaignAction(id, 'approve', { actor: 'key_checker' });
}
