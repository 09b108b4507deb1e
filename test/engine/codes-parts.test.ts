import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { limits } from '../../src/config/limits.ts';
import { ManualClock } from '../../src/engine/clock.ts';
import { Engine } from '../../src/engine/engine.ts';
import type { Store } from '../../src/store/port.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { activeCampaign, assertInvariants, harness, rejects, t0 } from '../support/fixtures.ts';

const part_max = limits.codes_per_batch_max;

/** A store whose batches fail while `down.now` is set (after the first `down.after` more batches). */
function failing(inner: Store, down: { after: number; now: boolean }): Store {
  const fail = <T>(run: () => Promise<T>): Promise<T> => {
    if (!down.now) return run();
    if (down.after > 0) {
      down.after -= 1;
      return run();
    }
    return Promise.reject(new Error('store down'));
  };
  return new Proxy(inner, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      if (prop === 'runBatch' || prop === 'runBatches') {
        return (...args: unknown[]) => fail(() => value.apply(target, args));
      }
      return value.bind(target);
    },
  });
}

async function couponCount(store: Store, campaign_id: string): Promise<number> {
  const chain = await store.auditChain(campaign_id);
  return chain
    .filter((e) => e.action === 'codes.generated')
    .reduce((n, e) => n + (JSON.parse(e.data_json) as { count: number }).count, 0);
}

describe('codes are made in parts, each its own batch', () => {
  test('2.5 parts: one answer of distinct codes, one audit entry a part, every code redeemable', async () => {
    const h = await harness();
    const c = await activeCampaign(h, { code_mode: 'unique_codes', max_redemptions: null, per_user_limit: null });
    const count = 2 * part_max + part_max / 2;
    const { codes } = await h.engine.generateCodes(c.id, count, { actor: 'key_admin' });
    assert.equal(codes.length, count);
    assert.equal(new Set(codes).size, count);
    const entries = (await h.store.auditChain(c.id)).filter((e) => e.action === 'codes.generated');
    assert.deepEqual(
      entries.map((e) => (JSON.parse(e.data_json) as { count: number }).count),
      [part_max, part_max, part_max / 2],
    );
    for (const code of [codes[0], codes[part_max], codes[count - 1]]) {
      assert.equal((await h.store.findCouponByCode(code ?? ''))?.campaign_id, c.id);
    }
    await assertInvariants(h.store);
  });

  test('a count out of range is refused before any part is made', async () => {
    const h = await harness();
    const c = await activeCampaign(h, { code_mode: 'unique_codes' });
    await rejects(h.engine.generateCodes(c.id, limits.codes_per_request_max + 1, { actor: 'a' }), 'invalid_request');
    await rejects(h.engine.generateCodes(c.id, 0, { actor: 'a' }), 'invalid_request');
    assert.equal(await couponCount(h.store, c.id), 0);
  });

  test('a failure halfway, then a retry with the Idempotency-Key: the parts made are replayed, the rest made once', async () => {
    const inner = new SqliteStore({ path: ':memory:' });
    const down = { after: 0, now: false };
    const store = failing(inner, down);
    const clock = new ManualClock(t0 + 60_000);
    const engine = await Engine.open(store, { clock, approval_threshold_minor: Number.MAX_SAFE_INTEGER });
    const h = { engine, store, clock } as unknown as Awaited<ReturnType<typeof harness>>;
    const c = await activeCampaign(h, { code_mode: 'unique_codes', max_redemptions: null, per_user_limit: null });
    const count = 3 * part_max;
    const who = { actor: 'key_admin', idem: { key: 'key_admin:codes-1' } };
    Object.assign(down, { after: 1, now: true });
    await assert.rejects(engine.generateCodes(c.id, count, who), /store down/);
    assert.equal(await couponCount(inner, c.id), part_max, 'the first part was made');
    down.now = false;
    const { codes } = await engine.generateCodes(c.id, count, who);
    assert.equal(codes.length, count);
    assert.equal(new Set(codes).size, count);
    assert.equal(await couponCount(inner, c.id), count, 'no part made twice');
    const again = await engine.generateCodes(c.id, count, who);
    assert.deepEqual(again.codes, codes, 'a replay answers the same codes');
    await rejects(engine.generateCodes(c.id, part_max, who), 'idempotency_key_reused');
    await assertInvariants(inner);
    await engine.close();
  });
});
