import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Rejection } from '../../src/domain/errors.ts';
import type { Redemption } from '../../src/domain/redemption.ts';
import { activeCampaign, assertInvariants, harness, order } from '../support/fixtures.ts';

type Op =
  | { kind: 'claim'; user: number }
  | { kind: 'reserve'; user: number; coupon: number; amount_minor: number; confirm: boolean }
  | { kind: 'confirm' | 'release'; r: number }
  | { kind: 'reverse'; r: number; restore: boolean }
  | { kind: 'advance'; ms: number }
  | { kind: 'expire' }
  | { kind: 'pause' | 'resume' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('claim' as const), user: fc.nat(5) }),
  fc.record({
    kind: fc.constant('reserve' as const),
    user: fc.nat(5),
    coupon: fc.nat(30),
    amount_minor: fc.integer({ min: 0, max: 30_000 }),
    confirm: fc.boolean(),
  }),
  fc.record({ kind: fc.constantFrom('confirm' as const, 'release' as const), r: fc.nat(30) }),
  fc.record({ kind: fc.constant('reverse' as const), r: fc.nat(30), restore: fc.boolean() }),
  fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 3_600_000 }) }),
  fc.constant({ kind: 'expire' as const }),
  fc.record({ kind: fc.constantFrom('pause' as const, 'resume' as const) }),
);

const seed = Number(process.env.FC_SEED ?? 20261125);

test(`random command sequences never break an invariant (seed ${seed})`, async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.array(opArb, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 25 }),
      async (steps) => {
        const h = await harness({ hold_ms: 2 * 3_600_000 });
        const c = await activeCampaign(h, {
          discount: { type: 'percent', percent_bp: 2000, max_discount_minor: 3000 },
          min_spend_minor: 1000,
          budget_minor: 20_000,
          max_redemptions: 12,
          per_user_limit: 3,
          per_merchant_limit: 8,
          coupon_ttl_s: 4 * 3600,
        });
        const coupons: string[] = [];
        const redemptions: Redemption[] = [];
        const who = { actor: 'k' };
        const run = async (op: Op): Promise<unknown> => {
          switch (op.kind) {
            case 'claim':
              return h.engine.claim({ campaign_id: c.id, user_id: `u${op.user}` }, who).then((x) => coupons.push(x.id));
            case 'reserve': {
              const coupon_id = coupons[op.coupon % Math.max(1, coupons.length)];
              if (!coupon_id) return;
              const o = order({ id: `o${op.coupon}`, merchant_id: `m${op.user % 2}`, amount_minor: op.amount_minor });
              return h.engine
                .redeem({ user_id: `u${op.user}`, coupon_id, order: o, confirm: op.confirm }, who)
                .then((r) => redemptions.push(r));
            }
            case 'confirm':
            case 'release':
            case 'reverse': {
              const r = redemptions[op.r % Math.max(1, redemptions.length)];
              if (!r) return;
              if (op.kind === 'reverse') return h.engine.reverse(r.id, op.restore, who);
              if (op.kind === 'confirm') return h.engine.confirm(r.id, who);
              return h.engine.release(r.id, who);
            }
            case 'advance':
              return h.clock.advance(op.ms);
            case 'expire':
              return h.engine.releaseExpiredHolds();
            case 'pause':
            case 'resume':
              return h.engine.campaignAction(c.id, op.kind, { actor: 'admin' });
          }
        };
        for (const group of steps) {
          // Each group runs concurrently, so batches mix commands.
          const results = await Promise.allSettled(group.map(run));
          for (const r of results) {
            if (r.status === 'rejected')
              assert.ok(r.reason instanceof Rejection, `not a rejection: ${String(r.reason)}`);
          }
        }
        const now = await h.engine.getCampaign(c.id);
        assert.ok(now.reserved_minor + now.spent_minor <= now.budget_minor);
        await assertInvariants(h.store);
        await h.store.close();
      },
    ),
    { numRuns: 150, seed, verbose: 1 },
  );
});
