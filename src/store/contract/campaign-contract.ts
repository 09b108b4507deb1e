import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Campaign } from '../../domain/campaign.ts';
import { verifyChain } from '../../engine/audit.ts';
import { type CampaignBudget, type Store, UniqueViolation } from '../port.ts';
import { Build, batch, emptyLoad, type OpenStore, seedCampaign, withoutSeq } from './builders.ts';

/** Runs `body` on a fresh store and always closes it. */
export function storeTest(name: string, open: OpenStore, body: (store: Store, b: Build) => Promise<void>): void {
  test(name, async () => {
    const store = await open();
    try {
      await body(store, new Build());
    } finally {
      await store.close();
    }
  });
}

/** Campaign rows: migrate, insert, read, list, and what a refused insert leaves (nothing). */
export function campaignContract(open: OpenStore): void {
  storeTest('migrate is idempotent and keeps data', open, async (store, b) => {
    await store.migrate();
    const c = await seedCampaign(store, b);
    await store.migrate();
    await store.migrate();
    assert.deepEqual(await store.getCampaign(c.id), c);
  });

  storeTest(
    'insertCampaign stores the campaign, its coupons, audit entry and idempotency record',
    open,
    async (store, b) => {
      const { campaign, audit } = b.campaign({ code_mode: 'shared_code', code: 'SPRING-2026' });
      const shared = b.coupon(campaign.id, { code: 'SPRING-2026', kind: 'shared', user_id: null });
      const idem = b.idem('idem-create', { ok: true, value: campaign });
      await store.insertCampaign(campaign, audit, [shared], idem);
      assert.deepEqual(await store.getCampaign(campaign.id), campaign);
      assert.equal(await store.getCampaign('cmp_missing'), null);
      assert.deepEqual(await store.getCoupon(shared.id), shared);
      assert.deepEqual(await store.findCouponByCode('SPRING-2026'), shared);
      assert.deepEqual(await store.getIdempotency('idem-create'), idem);
      const chain = await store.auditChain(campaign.id);
      assert.deepEqual(withoutSeq(chain), [audit]);
      assert.equal(verifyChain(chain).ok, true);
      assert.deepEqual(await store.campaignIds(), [campaign.id]);
    },
  );

  storeTest('listCampaigns pages newest first with limit, starting_after and has_more', open, async (store, b) => {
    const made = [];
    for (let i = 0; i < 5; i++) made.push(await seedCampaign(store, b, { status: i % 2 === 0 ? 'active' : 'paused' }));
    const newest = [...made].reverse().map((c) => c.id);
    const p1 = await store.listCampaigns({ limit: 2 });
    assert.deepEqual(
      p1.data.map((c) => c.id),
      newest.slice(0, 2),
    );
    assert.equal(p1.has_more, true);
    const p2 = await store.listCampaigns({ limit: 2, starting_after: newest[1] });
    assert.deepEqual(
      p2.data.map((c) => c.id),
      newest.slice(2, 4),
    );
    assert.equal(p2.has_more, true);
    const p3 = await store.listCampaigns({ limit: 2, starting_after: newest[3] });
    assert.deepEqual(
      p3.data.map((c) => c.id),
      newest.slice(4),
    );
    assert.equal(p3.has_more, false);
    const exact = await store.listCampaigns({ limit: 5 });
    assert.equal(exact.data.length, 5);
    assert.equal(exact.has_more, false);
    assert.deepEqual(exact.data[0], made[4]);
    assert.deepEqual(await store.campaignIds(), made.map((c) => c.id).sort());
  });

  storeTest('sharedCodes lists the shared codes of at least min_chars characters', open, async (store, b) => {
    await seedCampaign(store, b, { code_mode: 'shared_code', code: 'SPRING' });
    await seedCampaign(store, b, { code_mode: 'shared_code', code: 'BLACKFRIDAY2024DEALS' });
    await seedCampaign(store, b, { code_mode: 'shared_code', code: 'ABCD-EFGH-JKMN-PQRS' });
    await seedCampaign(store, b, { code_mode: 'unique_codes', code: null });
    const codes = async (min: number) => (await store.sharedCodes(min)).sort();
    assert.deepEqual(await codes(16), ['ABCD-EFGH-JKMN-PQRS', 'BLACKFRIDAY2024DEALS']);
    assert.deepEqual(await codes(20), ['BLACKFRIDAY2024DEALS']);
    assert.deepEqual(await codes(1), ['ABCD-EFGH-JKMN-PQRS', 'BLACKFRIDAY2024DEALS', 'SPRING']);
  });

  storeTest('listCampaigns filters by status', open, async (store, b) => {
    const made = [];
    for (let i = 0; i < 5; i++) made.push(await seedCampaign(store, b, { status: i % 2 === 0 ? 'active' : 'paused' }));
    const active = await store.listCampaigns({ limit: 10, status: 'active' });
    assert.deepEqual(
      active.data.map((c) => c.id),
      [made[4], made[2], made[0]].map((c) => c?.id),
    );
    const paused = await store.listCampaigns({ limit: 1, status: 'paused' });
    assert.deepEqual(
      paused.data.map((c) => c.id),
      [made[3]?.id],
    );
    assert.equal(paused.has_more, true);
    const next = await store.listCampaigns({ limit: 1, status: 'paused', starting_after: made[3]?.id });
    assert.deepEqual(
      next.data.map((c) => c.id),
      [made[1]?.id],
    );
    assert.equal(next.has_more, false);
    assert.deepEqual((await store.listCampaigns({ limit: 10, status: 'revoked' })).data, []);
  });

  storeTest(
    'campaignBudgets: every campaign not ended or revoked, and those asked for first',
    open,
    async (store, b) => {
      const statuses = ['draft', 'pending_approval', 'active', 'paused', 'ended', 'revoked'] as const;
      const made: Campaign[] = [];
      for (const [i, status] of statuses.entries()) {
        made.push(await seedCampaign(store, b, { status, reserved_minor: 10 * i, spent_minor: 100 * i }));
      }
      const [draft, pending, active, paused, ended, revoked] = made as [
        Campaign,
        Campaign,
        Campaign,
        Campaign,
        Campaign,
        Campaign,
      ];
      const budgets = (q: { ids: string[]; limit: number }) => store.campaignBudgets(q);
      assert.deepEqual(await budgets({ ids: [], limit: 10 }), [paused, active, pending, draft].map(figures));
      // Asked-for ones first, newest first, whatever their status; an unknown id is left out, none comes twice.
      assert.deepEqual(
        await budgets({ ids: [revoked.id, 'cmp_missing', active.id, ended.id], limit: 10 }),
        [revoked, ended, active, paused, pending, draft].map(figures),
      );
      assert.deepEqual(await budgets({ ids: [draft.id], limit: 2 }), [draft, paused].map(figures), 'at most limit');
      assert.deepEqual(await budgets({ ids: [draft.id], limit: 0 }), []);

      // What a batch commits is what the next read gets: figures, audit_seq, and leaving the live set.
      const after = await batch(store, active.id, emptyLoad(), (_, w) => {
        w.campaign.spent_minor += 500;
        w.campaign.status = 'ended';
        w.audit.push(b.audit(w.campaign, 'campaign.end', {}));
      }).then(() => store.getCampaign(active.id));
      assert.ok(after && after.audit_seq === active.audit_seq + 1 && after.spent_minor === active.spent_minor + 500);
      assert.deepEqual(await budgets({ ids: [], limit: 10 }), [paused, pending, draft].map(figures));
      assert.deepEqual(await budgets({ ids: [active.id], limit: 10 }), [after, paused, pending, draft].map(figures));

      // Money as large as it goes comes back exact.
      const big = await seedCampaign(store, b, {
        budget_minor: Number.MAX_SAFE_INTEGER,
        spent_minor: Number.MAX_SAFE_INTEGER - 1,
        status: 'active',
      });
      assert.deepEqual((await budgets({ ids: [], limit: 1 }))[0], figures(big));
    },
  );

  storeTest('a reused idempotency key raises UniqueViolation and leaves nothing behind', open, async (store, b) => {
    const first = b.campaign();
    await store.insertCampaign(first.campaign, first.audit, [], b.idem('k1'));
    const second = b.campaign();
    const coupon = b.coupon(second.campaign.id);
    await assert.rejects(store.insertCampaign(second.campaign, second.audit, [coupon], b.idem('k1')), UniqueViolation);
    await assertNothingOf(store, second.campaign.id, coupon.id);
    assert.equal((await store.getIdempotency('k1'))?.fingerprint, 'fp-k1');
  });

  storeTest('a duplicate coupon code raises UniqueViolation and leaves nothing behind', open, async (store, b) => {
    const first = b.campaign();
    await store.insertCampaign(first.campaign, first.audit, [b.coupon(first.campaign.id, { code: 'DUP' })], null);
    const second = b.campaign();
    const coupon = b.coupon(second.campaign.id, { code: 'DUP' });
    await assert.rejects(store.insertCampaign(second.campaign, second.audit, [coupon], b.idem('k2')), UniqueViolation);
    await assertNothingOf(store, second.campaign.id, coupon.id);
    assert.equal(await store.getIdempotency('k2'), null);
    assert.equal((await store.findCouponByCode('DUP'))?.campaign_id, first.campaign.id);
  });

  storeTest('a duplicate campaign code raises UniqueViolation', open, async (store, b) => {
    await seedCampaign(store, b, { code_mode: 'shared_code', code: 'SAME' });
    const second = b.campaign({ code_mode: 'shared_code', code: 'SAME' });
    await assert.rejects(store.insertCampaign(second.campaign, second.audit, [], null), UniqueViolation);
    await assertNothingOf(store, second.campaign.id, null);
  });
}

async function assertNothingOf(store: Store, campaign_id: string, coupon_id: string | null): Promise<void> {
  assert.equal(await store.getCampaign(campaign_id), null);
  if (coupon_id) assert.equal(await store.getCoupon(coupon_id), null);
  assert.deepEqual(await store.auditChain(campaign_id), []);
  assert.equal((await store.campaignIds()).includes(campaign_id), false);
}

function figures(c: Campaign): CampaignBudget {
  const { id, status, audit_seq, budget_minor, reserved_minor, spent_minor } = c;
  return { id, status, audit_seq, budget_minor, reserved_minor, spent_minor };
}
