import assert from 'node:assert/strict';
import { test } from 'node:test';
import { activeCampaign, assertInvariants, day_ms, harness, order, rejects, t0 } from '../support/fixtures.ts';

const who = { actor: 'key_checkout' };

test('past ends_at, the sweep ends active and paused campaigns (audited), once; holds made before still confirm', async () => {
  const h = await harness();
  const live = await activeCampaign(h, { per_user_limit: null });
  const paused = await activeCampaign(h, { name: 'paused', per_user_limit: null });
  await h.engine.campaignAction(paused.id, 'pause', { actor: 'key_ops' }, 'looking');
  const later = await activeCampaign(h, { name: 'later', ends_at_ms: t0 + 90 * day_ms });
  const coupon = await h.engine.claim({ campaign_id: live.id, user_id: 'u1' }, who);
  const hold = await h.engine.redeem({ user_id: 'u1', coupon_id: coupon.id, order: order() }, who);
  assert.equal(await h.engine.endCampaigns(), 0, 'nothing has reached its ends_at');
  // One minute before the end: the hold is made, then the clock passes ends_at.
  h.clock.set(live.ends_at_ms - 60_000);
  const late = await h.engine.claim({ campaign_id: live.id, user_id: 'u2' }, who);
  const lateHold = await h.engine.redeem({ user_id: 'u2', coupon_id: late.id, order: order({ id: 'o2' }) }, who);
  h.clock.set(live.ends_at_ms);
  assert.equal(await h.engine.endCampaigns(), 2);
  assert.equal(await h.engine.endCampaigns(), 0, 'ended once');
  assert.equal((await h.engine.getCampaign(live.id)).status, 'ended');
  assert.equal((await h.engine.getCampaign(paused.id)).status, 'ended');
  assert.equal((await h.engine.getCampaign(later.id)).status, 'active');
  const ended = await h.engine.listCampaigns({ limit: 10, status: 'ended' });
  assert.deepEqual(ended.data.map((c) => c.id).sort(), [live.id, paused.id].sort());
  const chain = await h.store.auditChain(live.id);
  const last = chain[chain.length - 1];
  assert.equal(last?.action, 'campaign.end');
  assert.equal(last?.actor, null);
  assert.deepEqual(JSON.parse(last?.data_json ?? '{}'), { from: 'active', to: 'ended', reason: 'ends_at passed' });
  // Closed for anything new; a hold made in time may still complete or be released.
  await rejects(h.engine.claim({ campaign_id: live.id, user_id: 'u3' }, who), 'campaign_ended');
  await rejects(h.engine.updateCampaign(live.id, { name: 'again' }, { actor: 'key_maker' }), 'invalid_state');
  await rejects(h.engine.campaignAction(paused.id, 'resume', { actor: 'key_ops' }), 'invalid_state');
  assert.equal((await h.engine.confirm(lateHold.id, who)).status, 'confirmed');
  assert.equal((await h.engine.release(hold.id, who)).status, 'released');
  await assertInvariants(h.store);
  await h.engine.close();
});

test('a paused campaign that ends never confirms the holds its pause stopped: the end releases them', async () => {
  const h = await harness();
  const c = await activeCampaign(h, { code_mode: 'shared_code', code: 'PAUSEDEND', per_user_limit: 1 });
  h.clock.set(c.ends_at_ms - 60_000);
  const hold = await h.engine.redeem({ user_id: 'u1', code: 'PAUSEDEND', order: order() }, who);
  await h.engine.campaignAction(c.id, 'pause', { actor: 'key_ops' }, 'abuse');
  await rejects(h.engine.confirm(hold.id, who), 'campaign_paused');
  h.clock.set(c.ends_at_ms);
  assert.equal(await h.engine.endCampaigns(), 1);
  // The pause can no longer be lifted, so the hold it kept from being confirmed is given back.
  await rejects(h.engine.confirm(hold.id, who), 'invalid_state');
  const now = await h.engine.getCampaign(c.id);
  assert.equal(now.status, 'ended');
  assert.equal(now.spent_minor, 0);
  assert.equal(now.reserved_minor, 0);
  assert.equal(now.released_count, 1);
  assert.equal((await h.engine.getRedemption(hold.id)).status, 'released');
  const last = (await h.store.auditChain(c.id)).at(-1);
  assert.equal(last?.action, 'campaign.end');
  assert.deepEqual(JSON.parse(last?.data_json ?? '{}'), {
    from: 'paused',
    to: 'ended',
    reason: 'ends_at passed',
    released_holds: 1,
  });
  await assertInvariants(h.store);
  await h.engine.close();
});
