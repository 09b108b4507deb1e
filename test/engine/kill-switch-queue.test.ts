import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rejection } from '../../src/domain/errors.ts';
import type { Store } from '../../src/store/port.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { activeCampaign, assertInvariants, harness, order } from '../support/fixtures.ts';

/** A store whose write transactions can be held at a gate: a disk that has fallen behind. */
function gatedStore(inner: Store) {
  let gate: Promise<void> = Promise.resolve();
  let open: () => void = () => undefined;
  let entered: () => void = () => undefined;
  let reached: Promise<void> = Promise.resolve();
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      if (prop !== 'runBatches') return value.bind(target);
      return async (...args: unknown[]) => {
        entered();
        await gate;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return {
    store,
    /** From now on write transactions wait; resolves `reached` when the first one does. */
    hold() {
      gate = new Promise<void>((resolve) => {
        open = resolve;
      });
      reached = new Promise<void>((resolve) => {
        entered = resolve;
      });
    },
    reached: () => reached,
    release: () => open(),
  };
}

/**
 * A leaked code floods checkout and the store falls behind, so the engine's queue is full and
 * sheds redemptions with 503 overloaded. The operator's pause must still be admitted, and go
 * ahead of the redemptions waiting, so that none of them spends once it is pressed.
 */
test('with the queue full, a pause is admitted, goes ahead of the waiting redemptions, and they are refused', async () => {
  const gated = gatedStore(new SqliteStore({ path: ':memory:' }));
  const h = await harness({ batch_commands_max: 10, queue_commands_max: 30 }, gated.store);
  const c = await activeCampaign(h, {
    code_mode: 'shared_code',
    code: 'FLOOD',
    budget_minor: 1_000_000,
    max_redemptions: null,
    per_user_limit: null,
  });
  gated.hold();
  const redeem = (i: number) =>
    h.engine
      .redeem({ user_id: `u${i}`, code: 'FLOOD', order: order({ id: `o${i}` }), confirm: true }, { actor: 'checkout' })
      .then(
        (r) => `${r.status}`,
        (e: unknown) => (e instanceof Rejection ? e.code : String(e)),
      );
  const flood = Array.from({ length: 40 }, (_, i) => redeem(i));
  await gated.reached();
  // One batch of 10 is at the store; 20 wait in the queue and 10 were shed. Fill the queue again.
  const more = Array.from({ length: 10 }, (_, i) => redeem(40 + i));
  assert.equal(await redeem(99), 'overloaded', 'the queue is full: a redemption is shed');
  const pause = h.engine.campaignAction(c.id, 'pause', { actor: 'key_admin' }, 'leaked code');
  gated.release();
  assert.equal((await pause).status, 'paused');
  const outcomes = await Promise.all([...flood, ...more]);
  const count = (what: string) => outcomes.filter((o) => o === what).length;
  // The batch already at the store when the pause came commits; every redemption still waiting is refused.
  assert.deepEqual(
    { confirmed: count('confirmed'), campaign_paused: count('campaign_paused'), overloaded: count('overloaded') },
    { confirmed: 10, campaign_paused: 30, overloaded: 10 },
  );
  const after = await h.engine.getCampaign(c.id);
  assert.equal(after.spent_minor, 10 * 1000);
  await assertInvariants(h.store);
});

test('a pause sent right after a resume is applied after it: the campaign ends paused', async () => {
  const h = await harness();
  const c = await activeCampaign(h);
  await h.engine.campaignAction(c.id, 'pause', { actor: 'key_admin' }, 'drill');
  // Both reach the queue before its next batch: the pause must not overtake the resume sent first.
  const resumed = h.engine.campaignAction(c.id, 'resume', { actor: 'key_admin' });
  const paused = h.engine.campaignAction(c.id, 'pause', { actor: 'key_admin' }, 'leak after all');
  assert.equal((await resumed).status, 'active');
  assert.equal((await paused).status, 'paused');
  assert.equal((await h.engine.getCampaign(c.id)).status, 'paused');
  await assertInvariants(h.store);
});
