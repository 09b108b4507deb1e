import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { activeCampaign, assertInvariants, harness, order, rejects, spec } from '../support/fixtures.ts';

describe('idempotency keys', () => {
  test('same key, same request: the first answer again and one effect', async () => {
    const h = await harness();
    const c = await activeCampaign(h, { code_mode: 'shared_code', code: 'IDEM', per_user_limit: 10 });
    const who = { actor: 'k', idem: { key: 'k:abc' } };
    const input = { user_id: 'u1', code: 'IDEM', order: order() };
    const first = await h.engine.redeem(input, who);
    const again = await h.engine.redeem(input, who);
    assert.deepEqual(again, first);
    assert.equal((await h.engine.getCampaign(c.id)).reserved_count, 1);
    await assertInvariants(h.store);
  });

  test('same key, different request: idempotency_key_reused and nothing changes', async () => {
    const h = await harness();
    const c = await activeCampaign(h, { code_mode: 'shared_code', code: 'IDEM2', per_user_limit: 10 });
    const who = { actor: 'k', idem: { key: 'k:xyz' } };
    await h.engine.redeem({ user_id: 'u1', code: 'IDEM2', order: order() }, who);
    await rejects(
      h.engine.redeem({ user_id: 'u1', code: 'IDEM2', order: order({ amount_minor: 20_000 }) }, who),
      'idempotency_key_reused',
    );
    assert.equal((await h.engine.getCampaign(c.id)).reserved_count, 1);
  });

  test('a rejection is replayed too, even after the cause is gone', async () => {
    const h = await harness();
    const c = await activeCampaign(h, { code_mode: 'shared_code', code: 'IDEM3', per_user_limit: 10 });
    await h.engine.campaignAction(c.id, 'pause', { actor: 'admin' });
    const who = { actor: 'k', idem: { key: 'k:paused' } };
    const input = { user_id: 'u1', code: 'IDEM3', order: order() };
    await rejects(h.engine.redeem(input, who), 'campaign_paused');
    await h.engine.campaignAction(c.id, 'resume', { actor: 'admin' });
    await rejects(h.engine.redeem(input, who), 'campaign_paused');
  });

  test('a submit refused by lint changes nothing on the campaign, with a key too (its answer is recorded)', async () => {
    const h = await harness();
    const c = await h.engine.createCampaign(spec(), { actor: 'maker' });
    h.clock.set(c.ends_at_ms + 1); // the window has ended: an error finding on submit
    const who = { actor: 'maker', idem: { key: 'k:submit' } };
    await rejects(h.engine.campaignAction(c.id, 'submit', who), 'campaign_lint_failed');
    await rejects(h.engine.campaignAction(c.id, 'submit', who), 'campaign_lint_failed');
    const after = await h.engine.getCampaign(c.id);
    assert.deepEqual(after.lint, c.lint, 'the refused findings are not stored unaudited');
    assert.equal(after.audit_seq, c.audit_seq);
    assert.equal(after.status, 'draft');
    await assertInvariants(h.store);
  });

  test('records are kept 24 hours, then pruned: the key is then a new request, which the order rule still refuses', async () => {
    const h = await harness();
    const c = await activeCampaign(h, { code_mode: 'shared_code', code: 'IDEM5', per_user_limit: 10 });
    const who = { actor: 'k', idem: { key: 'k:day' } };
    const input = { user_id: 'u1', code: 'IDEM5', order: order(), confirm: true };
    const first = await h.engine.redeem(input, who);
    h.clock.advance(24 * 3_600_000 - 1);
    assert.equal(await h.engine.pruneIdempotency(), 0, 'not yet 24 hours old');
    assert.deepEqual(await h.engine.redeem(input, who), first);
    h.clock.advance(2);
    assert.equal(await h.engine.pruneIdempotency(), 1);
    // No record replays it now; the order already has its discount, so a late retry does not pay twice.
    await rejects(h.engine.redeem(input, who), 'coupon_already_redeemed');
    assert.equal((await h.engine.getCampaign(c.id)).confirmed_count, 1);
    // The refusal is the key's answer now, recorded like any other.
    await rejects(h.engine.redeem({ ...input, order: order() }, who), 'idempotency_key_reused');
    await assertInvariants(h.store);
  });

  test('a large prune lets the event loop run between its chunks', async () => {
    const h = await harness();
    const old = h.clock.now() - 25 * 3_600_000;
    const count = 25_000; // more than two chunks of limits.idempotency_prune_chunk_max
    for (let i = 0; i < count; i++) {
      await h.store.putIdempotency({ key: `k:old${i}`, fingerprint: 'f', result: { ok: true }, created_at_ms: old });
    }
    let ran = false;
    setImmediate(() => {
      ran = true;
    });
    assert.equal(await h.engine.pruneIdempotency(), count);
    assert.equal(ran, true, 'a callback queued before the prune ran before it finished');
  });

  test('concurrent requests with one key take effect once', async () => {
    const h = await harness();
    const c = await activeCampaign(h, { code_mode: 'shared_code', code: 'IDEM4', per_user_limit: 100 });
    const who = { actor: 'k', idem: { key: 'k:race' } };
    const input = { user_id: 'u1', code: 'IDEM4', order: order(), confirm: true };
    const results = await Promise.all(Array.from({ length: 50 }, () => h.engine.redeem(input, who)));
    assert.equal(new Set(results.map((r) => r.id)).size, 1);
    assert.equal((await h.engine.getCampaign(c.id)).confirmed_count, 1);
    await assertInvariants(h.store);
  });

  test('campaign creation replays too', async () => {
    const h = await harness();
    const { spec } = await import('../support/fixtures.ts');
    const who = { actor: 'k', idem: { key: 'k:create' } };
    const [a, b] = await Promise.all([h.engine.createCampaign(spec(), who), h.engine.createCampaign(spec(), who)]);
    assert.equal(a.id, b.id);
    assert.equal((await h.engine.listCampaigns({ limit: 10 })).data.length, 1);
    await rejects(h.engine.createCampaign(spec({ name: 'other' }), who), 'idempotency_key_reused');
  });
});
