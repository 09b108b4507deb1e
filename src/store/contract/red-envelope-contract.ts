import assert from 'node:assert/strict';
import type { Campaign } from '../../domain/campaign.ts';
import type { RedEnvelope } from '../../domain/red-envelope-campaign.ts';
import type { Store } from '../port.ts';
import { UniqueViolation } from '../port.ts';
import type { EnvelopePacket } from '../port-red-envelopes.ts';
import { type Build, batch, day_ms, emptyLoad, emptyWrites, type OpenStore, t0_ms } from './builders.ts';
import { storeTest } from './campaign-contract.ts';

/** An envelope-backed campaign and its packets, inserted; returns the campaign. */
async function seedEnvelope(
  store: Store,
  b: Build,
  packets_minor: number[],
  expires_at_ms = t0_ms + day_ms,
): Promise<Campaign> {
  const total_minor = packets_minor.reduce((s, p) => s + p, 0);
  const env: RedEnvelope = {
    id: b.id('env'),
    total_minor,
    count: packets_minor.length,
    min_amount_minor: 1,
    expires_at_ms,
    grabbed_count: 0,
    grabbed_minor: 0,
    refunded_minor: 0,
    settled_at_ms: null,
    created_at_ms: b.now_ms,
  };
  const { campaign, audit } = b.campaign({ code_mode: 'red_envelope', budget_minor: total_minor, red_envelope: env });
  const row = { id: env.id, campaign_id: campaign.id, expires_at_ms, created_at_ms: b.now_ms };
  await store.insertRedEnvelope(campaign, audit, row, packets_minor, null);
  return campaign;
}

function envelopeIdOf(c: Campaign): string {
  assert.ok(c.red_envelope);
  return c.red_envelope.id;
}

/** Red envelopes: creation in one transaction, packet reads and writes inside runBatch, the sweeper's feed. */
export function redEnvelopeContract(open: OpenStore): void {
  storeTest(
    'insertRedEnvelope stores the campaign, its chain, the route and every packet in order',
    open,
    async (store, b) => {
      const packets = Array.from({ length: 25_001 }, (_, i) => 1 + (i % 7));
      const c = await seedEnvelope(store, b, packets);
      assert.deepEqual(await store.getCampaign(c.id), c);
      assert.equal((await store.auditChain(c.id)).length, 1);
      assert.equal(await store.redEnvelopeCampaignId(envelopeIdOf(c)), c.id);
      assert.equal(await store.redEnvelopeCampaignId('env_missing'), null);
      const stored = await store.redEnvelopePackets(c.id);
      assert.deepEqual(
        stored.map((p) => p.amount_minor),
        packets,
      );
      assert.deepEqual(stored[3], {
        campaign_id: c.id,
        idx: 3,
        amount_minor: 4,
        grabbed_by: null,
        coupon_id: null,
        grabbed_at_ms: null,
        coupon_user_id: null,
        coupon_value_minor: null,
        coupon_status: null,
      });
    },
  );

  storeTest('insertRedEnvelope with a taken idempotency key writes nothing', open, async (store, b) => {
    const { campaign, audit } = b.campaign({ code_mode: 'red_envelope' });
    await store.putIdempotency(b.idem('taken'));
    const row = { id: b.id('env'), campaign_id: campaign.id, expires_at_ms: t0_ms + day_ms, created_at_ms: b.now_ms };
    await assert.rejects(store.insertRedEnvelope(campaign, audit, row, [5, 5], b.idem('taken')), UniqueViolation);
    assert.equal(await store.getCampaign(campaign.id), null);
    assert.equal(await store.redEnvelopeCampaignId(row.id), null);
    assert.deepEqual(await store.redEnvelopePackets(campaign.id), []);
  });

  storeTest('runBatch loads a packet range and writes grabs and valued coupons', open, async (store, b) => {
    const c = await seedEnvelope(store, b, [10, 20, 30, 40]);
    const coupon = b.coupon(c.id, { user_id: 'u1', value_minor: 20 });
    const snap = await batch(store, c.id, emptyLoad({ packets: { from_idx: 1, count: 2 } }), (s, w) => {
      const p = s.packets?.get(1);
      assert.ok(p);
      w.coupons_insert.push(coupon);
      w.packets_update = [{ ...p, grabbed_by: 'u1', coupon_id: coupon.id, grabbed_at_ms: b.now_ms }];
    });
    assert.deepEqual([...(snap.packets?.keys() ?? [])], [1, 2]);
    assert.equal(snap.packets?.get(2)?.amount_minor, 30);
    assert.deepEqual(await store.getCoupon(coupon.id), coupon);
    const [, grabbed] = await store.redEnvelopePackets(c.id);
    assert.equal(grabbed?.grabbed_by, 'u1');
    assert.equal(grabbed?.coupon_id, coupon.id);
    assert.equal(grabbed?.coupon_value_minor, 20);
    assert.equal(grabbed?.coupon_status, 'active');
    const none = await batch(store, c.id, emptyLoad(), () => undefined);
    assert.equal(none.packets, undefined, 'no packets unless asked for');
  });

  storeTest('a failed batch leaves its grabs and its settlement unwritten', open, async (store, b) => {
    const c = await seedEnvelope(store, b, [1, 1, 1], t0_ms + 1000);
    const grab = (p: EnvelopePacket | undefined, user: string): EnvelopePacket => {
      assert.ok(p);
      return { ...p, grabbed_by: user, coupon_id: `cpn_${p.idx}`, grabbed_at_ms: b.now_ms };
    };
    const failing = store.runBatch(
      c.id,
      () => emptyLoad({ packets: { from_idx: 0, count: 2 } }),
      (s) => {
        const writes = emptyWrites(structuredClone(s.campaign));
        writes.packets_update = [grab(s.packets?.get(0), 'a'), grab(s.packets?.get(1), 'b')];
        writes.bulk.push({ kind: 'settle_red_envelope', at_ms: t0_ms + 2000 });
        // A duplicate coupon id fails the batch's writes, wherever the adapter orders them: none may stay.
        const coupon = b.coupon(c.id);
        writes.coupons_insert.push(coupon, { ...coupon, code: 'another' });
        return { writes, result: null };
      },
    );
    await assert.rejects(failing);
    assert.ok((await store.redEnvelopePackets(c.id)).every((p) => p.grabbed_by === null));
    assert.equal((await store.dueRedEnvelopes(t0_ms + 5000, 10)).length, 1);
  });

  storeTest('dueRedEnvelopes lists unsettled expired envelopes; settling takes one off', open, async (store, b) => {
    const late = await seedEnvelope(store, b, [1], t0_ms + 3000);
    const early = await seedEnvelope(store, b, [1], t0_ms + 1000);
    await seedEnvelope(store, b, [1], t0_ms + day_ms);
    const due = await store.dueRedEnvelopes(t0_ms + 5000, 10);
    assert.deepEqual(
      due.map((d) => d.campaign_id),
      [early.id, late.id],
    );
    assert.deepEqual(await store.dueRedEnvelopes(t0_ms + 5000, 1), due.slice(0, 1));
    await batch(store, early.id, emptyLoad(), (_, w) =>
      w.bulk.push({ kind: 'settle_red_envelope', at_ms: t0_ms + 5000 }),
    );
    assert.deepEqual(await store.dueRedEnvelopes(t0_ms + 5000, 10), [{ id: envelopeIdOf(late), campaign_id: late.id }]);
  });

  storeTest('listRedEnvelopes pages backing campaigns newest envelope first', open, async (store, b) => {
    const made = [
      await seedEnvelope(store, b, [1]),
      await seedEnvelope(store, b, [2]),
      await seedEnvelope(store, b, [3]),
    ];
    const plain = b.campaign();
    await store.insertCampaign(plain.campaign, plain.audit, [], null);
    const first = await store.listRedEnvelopes({ limit: 2 });
    assert.deepEqual(
      first.data.map((c) => c.id),
      [made[2]?.id, made[1]?.id],
    );
    assert.equal(first.has_more, true);
    const second = await store.listRedEnvelopes({ limit: 2, starting_after: envelopeIdOf(first.data[1] as Campaign) });
    assert.deepEqual(
      second.data.map((c) => c.id),
      [made[0]?.id],
    );
    assert.equal(second.has_more, false);
  });
}
