import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { limits } from '../../src/config/limits.ts';
import type { Campaign } from '../../src/domain/campaign.ts';
import { CampaignCache } from '../../src/engine/campaign-cache.ts';
import { ManualClock } from '../../src/engine/clock.ts';
import { Engine } from '../../src/engine/engine.ts';
import { activeCampaign, assertInvariants, harness, order, rejects } from '../support/fixtures.ts';

const who = { actor: 'key_checkout' };
const input = (user_id: string) => ({ user_id, code: 'CACHED', order: order({ id: `o-${user_id}` }) });

describe('campaigns cached for validations and velocity settings', () => {
  test('validations read no campaign while it is cached, and this node’s own changes answer at once', async () => {
    const h = await harness();
    const c = await activeCampaign(h, { code_mode: 'shared_code', code: 'CACHED', per_user_limit: null });
    let reads = 0;
    const getCampaign = h.store.getCampaign.bind(h.store);
    h.store.getCampaign = (id) => {
      reads++;
      return getCampaign(id);
    };
    const verdict = async (user: string) => (await h.engine.validate(input(user))).reason?.code ?? 'valid';
    const action = async (a: 'pause' | 'resume') => {
      const before = reads;
      await h.engine.campaignAction(c.id, a, { actor: 'key_admin' });
      reads = before; // campaignAction reads the campaign it answers with; only validations count here
    };
    assert.deepEqual([await verdict('a'), await verdict('b'), await verdict('c')], ['valid', 'valid', 'valid']);
    assert.equal(reads, 0, 'the campaign came from the submit this node committed');
    await action('pause');
    assert.equal(await verdict('d'), 'campaign_paused');
    await action('resume');
    assert.equal(await verdict('e'), 'valid');
    assert.equal(reads, 0);
    h.clock.advance(limits.campaign_settings_ttl_ms);
    assert.equal(await verdict('f'), 'valid');
    assert.equal(reads, 1, 'past its TTL the campaign is read again, once');
    assert.equal(await verdict('g'), 'valid');
    assert.equal(reads, 1);
  });

  test('a change to the campaign on this node (update, approval) answers validations at once', async () => {
    const h = await harness();
    const c = await activeCampaign(h, { code_mode: 'shared_code', code: 'CACHED', per_user_limit: null });
    const discount = async (user: string) => {
      const v = await h.engine.validate(input(user));
      return v.valid ? v.discount_minor : v.reason?.code;
    };
    assert.equal(await discount('a'), 1000);
    // A bigger discount is a risky change: pending approval until another key approves it.
    await h.engine.updateCampaign(c.id, { discount: { type: 'fixed', amount_minor: 2000 } }, { actor: 'key_checker' });
    assert.equal(await discount('b'), 'campaign_not_active');
    await h.engine.campaignAction(c.id, 'approve', { actor: 'key_third' });
    assert.equal(await discount('c'), 2000);
  });

  test('what the engine answers with cannot change what validations see', async () => {
    const h = await harness();
    const c = await activeCampaign(h, { code_mode: 'shared_code', code: 'CACHED', per_user_limit: null });
    const paused = await h.engine.campaignAction(c.id, 'pause', { actor: 'key_admin' });
    const resumed = await h.engine.campaignAction(c.id, 'resume', { actor: 'key_admin' });
    for (const answer of [paused, resumed]) {
      assert.throws(() => {
        if (answer.discount.type === 'fixed') answer.discount.amount_minor = 1;
      }, TypeError);
    }
    assert.equal((await h.engine.validate(input('a'))).discount_minor, 1000);
  });

  test('another node’s change shows in validations within the TTL, and never lets a redemption through', async () => {
    const h = await harness();
    const c = await activeCampaign(h, { code_mode: 'shared_code', code: 'CACHED', per_user_limit: null });
    const other = await Engine.open(h.store, { clock: h.clock });
    try {
      assert.equal((await h.engine.validate(input('a'))).valid, true);
      await other.campaignAction(c.id, 'pause', { actor: 'key_admin' });
      // This node's copy may still say active, but a redemption decides from the locked row.
      await rejects(h.engine.redeem(input('b'), who), 'campaign_paused');
      h.clock.advance(limits.campaign_settings_ttl_ms);
      assert.equal((await h.engine.validate(input('c'))).reason?.code, 'campaign_paused');
      assert.equal((await h.engine.getCampaign(c.id)).spent_minor, 0);
      await assertInvariants(h.store);
    } finally {
      await other.close();
    }
  });

  test('claims read no campaign while it is cached: an allowlist of 100,000 users is not read and parsed per claim', async () => {
    const h = await harness();
    const user_ids = Array.from({ length: limits.allowlist_users_max }, (_, i) => `user-${i}`);
    const c = await activeCampaign(h, {
      audience: { type: 'allowlist', user_ids },
      per_user_limit: 1,
      max_redemptions: null,
    });
    let reads = 0;
    const getCampaign = h.store.getCampaign.bind(h.store);
    h.store.getCampaign = (id) => {
      reads++;
      return getCampaign(id);
    };
    const claims = await Promise.all(
      Array.from({ length: 50 }, (_, i) => h.engine.claim({ campaign_id: c.id, user_id: `user-${99_999 - i}` }, who)),
    );
    assert.equal(new Set(claims.map((x) => x.code)).size, 50);
    assert.equal(reads, 0, 'the campaign came from the submit this node committed');
    await rejects(h.engine.claim({ campaign_id: c.id, user_id: 'stranger' }, who), 'coupon_not_eligible_user');
    await rejects(h.engine.claim({ campaign_id: 'cmp_missing', user_id: 'user-1' }, who), 'not_found');
    h.clock.advance(limits.campaign_settings_ttl_ms);
    await h.engine.claim({ campaign_id: c.id, user_id: 'user-1' }, who);
    await h.engine.claim({ campaign_id: c.id, user_id: 'user-2' }, who);
    assert.equal(reads, 2, 'past its TTL the campaign is read again, once (and the missing one once)');
    assert.equal((await getCampaign(c.id))?.claimed_count, 52);
    await assertInvariants(h.store);
  });

  test('a read that finishes after a newer commit does not put the older campaign back', async () => {
    const h = await harness();
    const c = await activeCampaign(h, { name: 'v1' });
    const clock = new ManualClock(0);
    const cache = new CampaignCache(h.store, clock);
    const older: Campaign = { ...c, name: 'older' };
    const newer: Campaign = { ...c, name: 'newer', audit_seq: c.audit_seq + 1 };
    cache.note(newer);
    cache.note(older);
    assert.equal(cache.fresh(c.id)?.name, 'newer');
    cache.note({ ...newer, audit_seq: newer.audit_seq + 1, name: 'newest' });
    assert.equal(cache.fresh(c.id)?.name, 'newest');
    clock.advance(limits.campaign_settings_ttl_ms);
    assert.equal(cache.fresh(c.id), undefined, 'too old to trust');
  });
});
