import assert from 'node:assert/strict';
import { test } from 'node:test';
import type Database from 'better-sqlite3';
import { auditedCampaign } from '../../src/engine/audit-campaign.ts';
import { auditedExpiry, recordedClaims } from '../../src/engine/audit-claims.ts';
import { verifyStore } from '../../src/engine/verify.ts';
import {
  activeCampaign,
  assertInvariants,
  day_ms,
  envelopeTerms,
  type Harness,
  harness,
  t0,
} from '../support/fixtures.ts';

const who = { actor: 'key_checkout' };
const admin = { actor: 'key_admin' };

/**
 * verify holds each claimed coupon's expiry to its claim and the campaign's later changes of end,
 * replayed from the chain (audit-claims.ts). The engine retimes coupons in the store (one that
 * expired at the old end, or would outlive the new one); this runs both ways, earlier and later,
 * and checks the replay lands where the store did, so verify raises no false alarm.
 */
test('the expiry replayed from the chain follows every retime the store made, the end moved later and earlier', async () => {
  const h = await harness();
  const c = await activeCampaign(h, { ends_at_ms: t0 + 10 * day_ms, coupon_ttl_s: 7 * 24 * 3600 });
  h.clock.set(t0 + 5 * day_ms);
  // Issued at the end (5 d + 7 d of ttl would pass it).
  const a = await h.engine.claim({ campaign_id: c.id, user_id: 'a' }, who);
  assert.equal(a.expires_at_ms, t0 + 10 * day_ms);
  h.clock.set(t0 + 5 * day_ms + 1000);
  const early = await h.engine.claim({ campaign_id: c.id, user_id: 'early' }, who);

  // Later: the coupon that expired at the old end takes its ttl (12 d); the other keeps the old end too.
  await h.engine.updateCampaign(c.id, { ends_at_ms: t0 + 20 * day_ms }, admin);
  // A later end is a risky change: approved again before the next claim.
  if ((await h.engine.getCampaign(c.id)).status === 'pending_approval') {
    await h.engine.campaignAction(c.id, 'approve', { actor: 'key_checker' });
  }
  h.clock.set(t0 + 6 * day_ms);
  const b = await h.engine.claim({ campaign_id: c.id, user_id: 'b' }, who);
  assert.equal(b.expires_at_ms, t0 + 13 * day_ms);
  // Earlier: both outlive 11 d, so both take it.
  await h.engine.updateCampaign(c.id, { ends_at_ms: t0 + 11 * day_ms }, admin);

  const stored = async (id: string) => (await h.store.getCoupon(id))?.expires_at_ms;
  assert.equal(await stored(a.id), t0 + 11 * day_ms);
  assert.equal(await stored(b.id), t0 + 11 * day_ms);
  assert.equal(await stored(early.id), t0 + 11 * day_ms);

  const chain = await h.store.auditChain(c.id);
  const audited = auditedCampaign(chain);
  assert.ok(audited);
  const claims = new Map([...recordedClaims(chain)].map((x) => [x.coupon_id, x]));
  assert.deepEqual([...claims.keys()].sort(), [a.id, b.id, early.id].sort());
  const replayed = (id: string) => {
    const claim = claims.get(id);
    assert.ok(claim?.expires_at_ms);
    return auditedExpiry(claim, claim.expires_at_ms, audited);
  };
  assert.equal(claims.get(a.id)?.user_id, 'a');
  for (const coupon of [a, b, early]) assert.equal(replayed(coupon.id), await stored(coupon.id), coupon.id);
  // Between the two changes, the replay stopped at the first one: a at its ttl, 12 d.
  const firstOnly = { ...audited, versions: audited.versions.slice(0, -1) };
  const claimA = claims.get(a.id);
  assert.ok(claimA);
  assert.equal(auditedExpiry(claimA, a.expires_at_ms, firstOnly), t0 + 12 * day_ms);
  await assertInvariants(h.store);
});

/** The store's own connection, to edit rows as someone with write access to the database would. */
function rawDb(h: Harness): Database.Database {
  return (h.store as unknown as { db: Database.Database }).db;
}

test('caught: value moved into an unused grabbed coupon (packets swapped, sum kept, value and grabbed_minor edited to match)', async () => {
  const h = await harness();
  const db = rawDb(h);
  const packetsOf = (campaign_id: string) =>
    db
      .prepare('SELECT idx, amount_minor FROM red_envelope_packets WHERE campaign_id = ? ORDER BY idx')
      .all(campaign_id) as Array<{ idx: number; amount_minor: number }>;
  // The swap needs an ungrabbed packet richer than the first, which the grab takes: a random split
  // whose first packet is the largest (about one in ten) is made again.
  const make = () => h.engine.envelopes.create(envelopeTerms(h, { count: 10, total_minor: 4_000 }), { actor: 'k' });
  const firstIsLargest = (campaign_id: string) => {
    const amounts = packetsOf(campaign_id).map((p) => p.amount_minor);
    return amounts[0] === Math.max(...amounts);
  };
  let env = await make();
  for (let tries = 1; firstIsLargest(env.id); tries++) {
    assert.ok(tries < 50, 'fifty splits in a row with the largest packet first');
    env = await make();
  }
  const g = await h.engine.envelopes.grab(env.red_envelope?.id ?? '', 'mallory', { actor: 'k' });
  await assertInvariants(h.store);
  const packets = packetsOf(env.id);
  const mine = packets[0];
  const richest = packets.slice(1).reduce((a, b) => (b.amount_minor > a.amount_minor ? b : a));
  assert.ok(mine && richest.amount_minor > mine.amount_minor);
  const setPacket = db.prepare('UPDATE red_envelope_packets SET amount_minor = ? WHERE campaign_id = ? AND idx = ?');
  setPacket.run(richest.amount_minor, env.id, 0);
  setPacket.run(mine.amount_minor, env.id, richest.idx);
  db.prepare('UPDATE coupons SET value_minor = ? WHERE id = ?').run(richest.amount_minor, g.coupon.id);
  const row = db.prepare('SELECT doc FROM campaigns WHERE id = ?').get(env.id) as { doc: string };
  const doc = JSON.parse(row.doc) as { red_envelope: { grabbed_minor: number } };
  doc.red_envelope.grabbed_minor = richest.amount_minor;
  db.prepare('UPDATE campaigns SET doc = ? WHERE id = ?').run(JSON.stringify(doc), env.id);
  const report = await verifyStore(h.store);
  const lines = report.violations.map((v) => `${v.invariant}: ${v.detail}`);
  assert.equal(report.ok, false);
  assert.ok(
    lines.includes('6: the packets differ from the split its audit chain recorded at creation'),
    lines.join('\n'),
  );
  assert.ok(
    lines.some((l) =>
      l.includes(`coupon ${g.coupon.id} is worth ${richest.amount_minor}, audited ${mine.amount_minor}`),
    ),
    lines.join('\n'),
  );
});

test('caught: a claimed coupon given a value of its own; a claim is held to its user', async () => {
  const h = await harness();
  const c = await activeCampaign(h, { per_user_limit: null });
  const coupon = await h.engine.claim({ campaign_id: c.id, user_id: 'a' }, who);
  const db = rawDb(h);
  db.prepare('UPDATE coupons SET value_minor = 500 WHERE id = ?').run(coupon.id);
  const report = await verifyStore(h.store);
  assert.ok(
    report.violations.some((v) => v.detail.includes(`coupon ${coupon.id} is worth 500, audited null`)),
    JSON.stringify(report.violations),
  );
});
