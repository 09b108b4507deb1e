import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { limits } from '../../src/config/limits.ts';
import { Engine } from '../../src/engine/engine.ts';
import { Incidents } from '../../src/engine/incidents/incidents.ts';
import { activeCampaign, assertInvariants, type Harness, harness, order, rejects } from '../support/fixtures.ts';

const admin = { actor: 'key_admin' };
const who = { actor: 'key_checkout' };
const input = (user_id: string, code = 'SHARED') => ({ user_id, code, order: order({ id: `o-${user_id}` }) });

/** Counts the store's coupon reads by code, which validations of a shared code used to make on every request. */
function countCouponReads(h: Harness): { readonly n: number } {
  const counter = { n: 0 };
  const find = h.store.findCouponByCode.bind(h.store);
  h.store.findCouponByCode = (code) => {
    counter.n++;
    return find(code);
  };
  return counter;
}

const verdict = async (engine: Engine, user: string, code?: string) =>
  (await engine.validate(input(user, code))).reason?.code ?? 'valid';

describe('shared coupons cached for validations', () => {
  test('validations of a shared code read its coupon while learning its route, then not while the campaign is unchanged', async () => {
    const h = await harness();
    await activeCampaign(h, { code_mode: 'shared_code', code: 'SHARED', per_user_limit: null });
    const reads = countCouponReads(h);
    // The first learns the code's campaign; the second reads the coupon under that campaign's audit_seq.
    assert.deepEqual([await verdict(h.engine, 'a'), await verdict(h.engine, 'b')], ['valid', 'valid']);
    assert.equal(reads.n, 2);
    for (const u of ['c', 'd', 'e', 'f']) assert.equal(await verdict(h.engine, u), 'valid');
    assert.equal(reads.n, 2, 'answered from the cache');
    // A redemption commits on the campaign's chain: the next validation reads the coupon again, once.
    await h.engine.redeem({ ...input('g'), confirm: true }, who);
    assert.equal(await verdict(h.engine, 'h'), 'valid');
    assert.equal(await verdict(h.engine, 'i'), 'valid');
    assert.equal(reads.n, 3);
    await assertInvariants(h.store);
  });

  test('an incident on this node that revokes the shared coupon answers validations at once, after the resume too', async () => {
    const h = await harness();
    const c = await activeCampaign(h, { code_mode: 'shared_code', code: 'SHARED', per_user_limit: null });
    const reads = countCouponReads(h);
    for (const u of ['a', 'b', 'c']) assert.equal(await verdict(h.engine, u), 'valid');
    const before = reads.n;
    const inc = await new Incidents(h.engine).open(
      {
        title: 'leak',
        actions: ['pause_campaigns', 'revoke_unredeemed'],
        scope: { campaign_ids: [c.id], merchant_ids: null, from_ms: null, to_ms: null },
      },
      admin,
    );
    assert.equal(inc.report?.revoked_coupons, 1, 'the shared coupon was revoked');
    assert.equal(await verdict(h.engine, 'd'), 'campaign_paused');
    await h.engine.campaignAction(c.id, 'resume', admin);
    assert.equal(await verdict(h.engine, 'e'), 'coupon_revoked');
    assert.ok(reads.n > before, 'the coupon was read again after the revocation');
    await rejects(h.engine.redeem({ ...input('f'), confirm: true }, who), 'coupon_revoked');
    await assertInvariants(h.store);
  });

  test('another node’s revocation shows within the campaign TTL, and never lets a redemption through', async () => {
    const h = await harness();
    const c = await activeCampaign(h, { code_mode: 'shared_code', code: 'SHARED', per_user_limit: null });
    const other = await Engine.open(h.store, { clock: h.clock });
    try {
      for (const u of ['a', 'b', 'c']) assert.equal(await verdict(h.engine, u), 'valid');
      // The incident revokes coupons through an id it takes at opening; ids of two nodes in the
      // same millisecond order at random, so the incident opens a millisecond after the coupon.
      h.clock.advance(1);
      const inc = await new Incidents(other).open(
        {
          title: 'leak',
          actions: ['revoke_unredeemed'],
          scope: { campaign_ids: [c.id], merchant_ids: null, from_ms: null, to_ms: null },
        },
        admin,
      );
      assert.equal(inc.report?.revoked_coupons, 1, 'the shared coupon was revoked');
      // This node's copies may still say active, but a redemption decides from the stored rows.
      await rejects(h.engine.redeem({ ...input('d'), confirm: true }, who), 'coupon_revoked');
      h.clock.advance(limits.campaign_settings_ttl_ms);
      assert.equal(await verdict(h.engine, 'e'), 'coupon_revoked');
      assert.equal((await h.engine.getCampaign(c.id)).spent_minor, 0);
      await assertInvariants(h.store);
    } finally {
      await other.close();
    }
  });

  test('claimed coupons are read on every validation: a redemption on this node shows at once', async () => {
    const h = await harness();
    const c = await activeCampaign(h, { per_user_limit: null });
    const coupon = await h.engine.claim({ campaign_id: c.id, user_id: 'u1' }, who);
    const reads = countCouponReads(h);
    assert.equal(await verdict(h.engine, 'u1', coupon.code), 'valid');
    assert.equal(await verdict(h.engine, 'u1', coupon.code), 'valid');
    assert.equal(reads.n, 2);
    await h.engine.redeem({ ...input('u1', coupon.code), confirm: true }, who);
    assert.equal(await verdict(h.engine, 'u1', coupon.code), 'coupon_already_redeemed');
    await assertInvariants(h.store);
  });
});
