import assert from 'node:assert/strict';
import type { Coupon } from '../../src/domain/coupon.ts';
import type { Redemption } from '../../src/domain/redemption.ts';
import { unpackOutbox } from '../../src/store/contract/builders.ts';
import type { Store } from '../../src/store/port.ts';
import { activeCampaign, assertInvariants, order, rejects } from './fixtures.ts';
import { minorOf, type OpenStore } from './incident-faults.ts';
import { twoNodes } from './incident-holds.ts';

/**
 * freeze_redemptions and holds, run on every store: a hold in an incident's scope is released
 * (its checkout never confirmed the order), never frozen; only confirmed redemptions are frozen,
 * and only those are honoured or reversed.
 */

const admin = { actor: 'key_admin' };
const who = { actor: 'key_checkout' };

function ids(rows: readonly Redemption[]): string[] {
  return rows.map((r) => r.id).sort();
}

/** Ids announced by each redemption event type in the outbox. */
async function announced(store: Store): Promise<Map<string, Set<string>>> {
  const out = new Map<string, Set<string>>();
  for (const e of unpackOutbox(await store.pendingOutbox(100_000))) {
    if (!e.type.startsWith('redemption.')) continue;
    const seen = out.get(e.type) ?? new Set<string>();
    seen.add(String((e.data as { id: string }).id));
    out.set(e.type, seen);
  }
  return out;
}

/**
 * Six redemptions confirmed and eighteen holds on a checkout node; an incident freezes and
 * revokes (no pause) on an operator node while the checkout confirms twelve of the holds, one
 * after another. Each of those confirms either lands first (the redemption is then confirmed,
 * and frozen) or is refused with invalid_state (the hold was released); the six holds nobody
 * confirms are released. The report, the budget and the coupons say exactly that; reversing
 * moves the frozen ones only, and the released holds' coupons never redeem again.
 */
export async function freezeReleasesHolds(open: OpenStore): Promise<void> {
  await twoNodes(open, async (checkout, operator) => {
    const discount = { type: 'percent' as const, percent_bp: 1000, max_discount_minor: 5000 };
    const c = await activeCampaign(checkout, { discount, max_redemptions: 1000, budget_minor: 10_000_000 });
    const coupons: Coupon[] = [];
    for (let i = 0; i < 24; i++)
      coupons.push(await checkout.engine.claim({ campaign_id: c.id, user_id: `u${i}` }, who));
    const redeem = (i: number, confirm: boolean, n = i) => {
      const o = order({ id: `o${n}`, amount_minor: 10_000 + 37 * i });
      return checkout.engine.redeem({ user_id: `u${i}`, code: coupons[i]?.code ?? '', order: o, confirm }, who);
    };
    const confirmed: Redemption[] = [];
    const holds: Redemption[] = [];
    for (let i = 0; i < 24; i++) (i < 6 ? confirmed : holds).push(await redeem(i, i < 6));
    const raced = holds.slice(0, 12);
    const idle = holds.slice(12);

    const scope = { campaign_ids: [c.id], merchant_ids: null, from_ms: null, to_ms: null };
    const actions = ['freeze_redemptions' as const, 'revoke_unredeemed' as const];
    const answers: string[] = [];
    const confirming = (async () => {
      for (const r of raced) {
        const answer = await checkout.engine.confirm(r.id, who).then(
          (x) => x.status,
          (e: unknown) => (e as { code?: string }).code ?? String(e),
        );
        answers.push(answer);
      }
    })();
    const [inc] = await Promise.all([operator.incidents.open({ title: 'leak', scope, actions }, admin), confirming]);
    assert.ok(
      answers.every((a) => a === 'confirmed' || a === 'invalid_state'),
      answers.join(),
    );
    const won = raced.filter((_, k) => answers[k] === 'confirmed');
    const frozen = [...confirmed, ...won];
    const released = [...raced.filter((_, k) => answers[k] === 'invalid_state'), ...idle];
    const rows = async (status: string) =>
      ids((await operator.store.listRedemptions({ campaign_id: c.id, status: status as never, limit: 100 })).data);
    assert.deepEqual(await rows('frozen'), ids(frozen));
    assert.deepEqual(await rows('released'), ids(released));
    assert.deepEqual([await rows('reserved'), await rows('confirmed')], [[], []]);

    const report = inc.report;
    assert.ok(report);
    assert.deepEqual([report.frozen_count, report.frozen_minor], [frozen.length, minorOf(frozen)]);
    assert.deepEqual([report.released_holds_count, report.released_holds_minor], [released.length, minorOf(released)]);
    assert.deepEqual(report.by_campaign, [
      { campaign_id: c.id, count: frozen.length, discount_minor: minorOf(frozen) },
    ]);
    assert.equal(report.revoked_coupons, released.length, "the released holds' coupons, active again, then revoked");
    const during = await operator.engine.getCampaign(c.id);
    assert.deepEqual(
      [during.status, during.reserved_minor, during.reserved_count, during.released_count],
      ['active', 0, 0, released.length],
    );
    assert.deepEqual([during.spent_minor, during.frozen_minor], [minorOf(frozen), minorOf(frozen)]);
    const couponOf = async (r: Redemption) => (await operator.engine.getCoupon(r.coupon_id)).status;
    for (const r of released) assert.equal(await couponOf(r), 'revoked');
    for (const r of frozen) assert.equal(await couponOf(r), 'redeemed');
    for (const r of idle) {
      await rejects(checkout.engine.confirm(r.id, who), 'invalid_state');
      await rejects(checkout.engine.release(r.id, who), 'invalid_state');
      await rejects(checkout.engine.reverse(r.id, false, who), 'invalid_state');
    }
    await assertInvariants(operator.store);
    // idle[0] is the hold of user 18: its coupon, revoked, does not redeem again (the campaign never paused).
    await rejects(redeem(18, true, 100), 'coupon_revoked');

    const done = await operator.incidents.resolve(inc.id, 'reverse', admin);
    assert.deepEqual(done.resolved, { count: frozen.length, discount_minor: minorOf(frozen) });
    assert.deepEqual(await rows('reversed'), ids(frozen));
    assert.deepEqual(await rows('released'), ids(released), 'reversing leaves the released holds alone');
    const events = await announced(operator.store);
    assert.deepEqual([...(events.get('redemption.frozen') ?? [])].sort(), ids(frozen));
    assert.deepEqual([...(events.get('redemption.reversed') ?? [])].sort(), ids(frozen));
    const after = await operator.engine.getCampaign(c.id);
    assert.deepEqual([after.spent_minor, after.reserved_minor, after.frozen_count], [0, 0, 0]);
    assert.deepEqual([after.reversed_count, after.reversed_minor], [frozen.length, minorOf(frozen)]);
    await assertInvariants(operator.store);
  });
}
