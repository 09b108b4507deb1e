import assert from 'node:assert/strict';
import { test } from 'node:test';
import { auditedCampaign } from '../../src/engine/audit-campaign.ts';
import { auditedExpiry, recordedClaims } from '../../src/engine/audit-claims.ts';
import { activeCampaign, assertInvariants, day_ms, harness, t0 } from '../support/fixtures.ts';

const who = { actor: 'key_checkout' };
const admin = { actor: 'key_admin' };

/**
 * verify holds each claimed coupon's expiry to its claim and the campaign's later changes of end,
 * replayed from the chain (audit-claims.ts). The engine retimes coupons in the store (one that
 * expired at the old end, or would outlive the new one); this runs both ways, earlier and later,
 * and checks the replay lands where the store did, so verify raises no false alarm.
 */
test('the expiry replayed from the chain follows every retime the store made, the end moved later and earlier', async () => {
  const h = await harness();
  const c = await activeCampaign(h, { ends_at_ms: t0 + 10 * day_ms, coupon_ttl_s: 7 * 24 * 3600 });
  h.clock.set(t0 + 5 * day_ms);
  // Issued at the end (5 d + 7 d of ttl would pass it).
  const a = await h.engine.claim({ campaign_id: c.id, user_id: 'a' }, who);
  assert.equal(a.expires_at_ms, t0 + 10 * day_ms);
  h.clock.set(t0 + 5 * day_ms + 1000);
  const early = await h.engine.claim({ campaign_id: c.id, user_id: 'early' }, who);

  // Later: the coupon that expired at the old end takes its ttl (12 d); the other keeps the old end too.
  await h.engine.updateCampaign(c.id, { ends_at_ms: t0 + 20 * day_ms }, admin);
  // A later end is a risky change: approved again before the next claim.
  if ((await h.engine.getCampaign(c.id)).status === 'pending_approval') {
    await h.engine.campaignAction(c.id, 'approve', { actor: 'key_checker' });
  }
  h.clock.set(t0 + 6 * day_ms);
  const b = await h.engine.claim({ campaign_id: c.id, user_id: 'b' }, who);
  assert.equal(b.expires_at_ms, t0 + 13 * day_ms);
  // Earlier: both outlive 11 d, so both take it.
  await h.engine.updateCampaign(c.id, { ends_at_ms: t0 + 11 * day_ms }, admin);

  const stored = async (id: string) => (await h.store.getCoupon(id))?.expires_at_ms;
  assert.equal(await stored(a.id), t0 + 11 * day_ms);
  assert.equal(await stored(b.id), t0 + 11 * day_ms);
  assert.equal(await stored(early.id), t0 + 11 * day_ms);

  const chain = await h.store.auditChain(c.id);
  const audited = auditedCampaign(chain);
  assert.ok(audited);
  const claims = recordedClaims(chain);
  assert.deepEqual([...claims.keys()].sort(), [a.id, b.id, early.id].sort());
  const replayed = (id: string) => {
    const claim = claims.get(id);
    assert.ok(claim?.expires_at_ms);
    return auditedExpiry(claim, claim.expires_at_ms, audited);
  };
  assert.equal(claims.get(a.id)?.user_id, 'a');
  for (const coupon of [a, b, early]) assert.equal(replayed(coupon.id), await stored(coupon.id), coupon.id);
  // Between the two changes, the replay stopped at the first one: a at its ttl, 12 d.
  const firstOnly = { ...audited, versions: audited.versions.slice(0, -1) };
  const claimA = claims.get(a.id);
  assert.ok(claimA);
  assert.equal(auditedExpiry(claimA, a.expires_at_ms, firstOnly), t0 + 12 * day_ms);
  await assertInvariants(h.store);
});
