import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import type { CampaignSpec } from '../../src/domain/campaign.ts';
import { Rejection } from '../../src/domain/errors.ts';
import { maxExposureMinor } from '../../src/domain/exposure.ts';
import { verifyStore } from '../../src/engine/verify.ts';
import type { Store } from '../../src/store/port.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { activeCampaign, assertInvariants, day_ms, harness, order, rejects, spec } from '../support/fixtures.ts';
import { createTestDatabase, freshPostgresStore, pg_unavailable_message, type TestDatabase } from '../support/pg.ts';

const maker = { actor: 'key_maker' };
const checker = { actor: 'key_checker' };
const till = { actor: 'key_checkout' };

async function lastAudit(store: Store, campaign_id: string) {
  const chain = await store.auditChain(campaign_id);
  const last = chain[chain.length - 1];
  assert.ok(last);
  return { ...last, data: JSON.parse(last.data_json) as Record<string, unknown> };
}

function updateSuite(name: string, open: () => Promise<Store>): void {
  describe(`campaign updates (${name})`, () => {
    const setup = async (opts = {}) => harness(opts, await open());

    test('a draft changes in place: new lint, changed_by, one audit entry with old and new values', async () => {
      const h = await setup();
      const c = await h.engine.createCampaign(spec(), maker);
      const next = await h.engine.updateCampaign(c.id, { name: 'renamed', per_user_limit: null }, checker);
      assert.equal(next.status, 'draft');
      assert.equal(next.name, 'renamed');
      assert.equal(next.changed_by, 'key_checker');
      assert.ok(next.lint.some((f) => f.rule === 'no_per_user_limit'));
      assert.deepEqual(await h.engine.getCampaign(c.id), next);
      const entry = await lastAudit(h.store, c.id);
      assert.equal(entry.action, 'campaign.updated');
      assert.equal(entry.actor, 'key_checker');
      assert.deepEqual(entry.data.changes, {
        name: { from: 'spring', to: 'renamed' },
        per_user_limit: { from: 1, to: null },
      });
      await assertInvariants(h.store);
      await h.store.close();
    });

    test('a risky change to an active campaign needs a different key again; a safe one does not', async () => {
      const h = await setup();
      const c = await activeCampaign(h);
      const safe = await h.engine.updateCampaign(
        c.id,
        { name: 'tidy', budget_minor: 90_000, max_redemptions: 50 },
        maker,
      );
      assert.equal(safe.status, 'active');
      const risky = await h.engine.updateCampaign(c.id, { discount: { type: 'fixed', amount_minor: 2000 } }, checker);
      assert.equal(risky.status, 'pending_approval');
      assert.equal(risky.changed_by, 'key_checker');
      assert.equal(risky.status_reason, 'changed: discount');
      await rejects(h.engine.claim({ campaign_id: c.id, user_id: 'u1' }, till), 'campaign_not_active');
      await rejects(h.engine.campaignAction(c.id, 'approve', checker), 'approval_self_forbidden');
      await rejects(h.engine.campaignAction(c.id, 'approve', maker), 'approval_self_forbidden');
      const approved = await h.engine.campaignAction(c.id, 'approve', { actor: 'key_third' });
      assert.equal(approved.status, 'active');
      assert.equal(approved.discount.type === 'fixed' && approved.discount.amount_minor, 2000);
      await assertInvariants(h.store);
      await h.store.close();
    });

    test('no key that changed the campaign since its last approval may approve it, though another key edited it last', async () => {
      const h = await setup();
      const c = await activeCampaign(h);
      // Neither the creator (key_maker) nor the last changer makes this risky change.
      const changer = { actor: 'key_changer' };
      const risky = await h.engine.updateCampaign(c.id, { discount: { type: 'fixed', amount_minor: 2000 } }, changer);
      assert.equal(risky.status, 'pending_approval');
      // A second key's trivial edit makes it the last changer; the risky change is still key_changer's.
      const tidied = await h.engine.updateCampaign(c.id, { name: 'tidy' }, { actor: 'key_editor' });
      assert.equal(tidied.changed_by, 'key_editor');
      await rejects(h.engine.campaignAction(c.id, 'approve', changer), 'approval_self_forbidden');
      await rejects(h.engine.campaignAction(c.id, 'approve', { actor: 'key_editor' }), 'approval_self_forbidden');
      const approved = await h.engine.campaignAction(c.id, 'approve', checker);
      assert.equal(approved.status, 'active');
      // After an approval the list starts over: the checker, who changed nothing since, may approve the next change.
      const again = await h.engine.updateCampaign(c.id, { budget_minor: 200_000 }, { actor: 'key_editor' });
      assert.equal(again.status, 'pending_approval');
      assert.equal((await h.engine.campaignAction(c.id, 'approve', checker)).status, 'active');
      await assertInvariants(h.store);
      await h.store.close();
    });

    test('a risky change to a paused campaign keeps it paused: no approval makes it active; resume sends it to review', async () => {
      const h = await setup();
      const c = await activeCampaign(h, { per_user_limit: null });
      await h.engine.campaignAction(c.id, 'pause', maker, 'fraud suspected');
      const next = await h.engine.updateCampaign(c.id, { budget_minor: 200_000 }, { actor: 'key_changer' });
      assert.equal(next.status, 'paused', 'a change never lifts a pause');
      assert.equal(next.status_reason, 'fraud suspected');
      assert.equal(next.needs_approval, true);
      assert.equal(next.approved_by, null);
      await rejects(h.engine.campaignAction(c.id, 'approve', checker), 'invalid_state');
      await rejects(h.engine.claim({ campaign_id: c.id, user_id: 'u1' }, till), 'campaign_paused');
      // Resume lifts the pause into review, not into redemptions.
      const resumed = await h.engine.campaignAction(c.id, 'resume', maker);
      assert.equal(resumed.status, 'pending_approval');
      assert.equal(resumed.needs_approval, false);
      await rejects(h.engine.claim({ campaign_id: c.id, user_id: 'u1' }, till), 'campaign_not_active');
      await rejects(h.engine.campaignAction(c.id, 'approve', { actor: 'key_changer' }), 'approval_self_forbidden');
      const approved = await h.engine.campaignAction(c.id, 'approve', checker);
      assert.equal(approved.status, 'active');
      assert.equal(approved.budget_minor, 200_000);
      await h.engine.claim({ campaign_id: c.id, user_id: 'u1' }, till);
      const chain = await h.store.auditChain(c.id);
      const update = chain.find((e) => e.action === 'campaign.updated');
      assert.deepEqual(
        { to: JSON.parse(update?.data_json ?? '{}').to, needs: JSON.parse(update?.data_json ?? '{}').needs_approval },
        { to: 'paused', needs: true },
      );
      await assertInvariants(h.store);
      await h.store.close();
    });

    test('the kill switch stops a campaign pending approval: its open holds cannot be confirmed until it is resumed and approved', async () => {
      const h = await setup();
      const c = await activeCampaign(h, { per_user_limit: null });
      const holds = [];
      for (const id of ['h1', 'h2', 'h3']) {
        const coupon = await h.engine.claim({ campaign_id: c.id, user_id: `u_${id}` }, till);
        holds.push(await h.engine.redeem({ user_id: `u_${id}`, coupon_id: coupon.id, order: order({ id }) }, till));
      }
      const pending = await h.engine.updateCampaign(c.id, { discount: { type: 'fixed', amount_minor: 2000 } }, maker);
      assert.equal(pending.status, 'pending_approval');
      // Before this change, a pending campaign could not be paused and its holds stayed confirmable.
      const paused = await h.engine.campaignAction(c.id, 'pause', { actor: 'key_ops' }, 'leak');
      assert.equal(paused.status, 'paused');
      assert.equal(paused.needs_approval, true);
      for (const r of holds) await rejects(h.engine.confirm(r.id, till), 'campaign_paused');
      await rejects(h.engine.campaignAction(c.id, 'approve', checker), 'invalid_state');
      assert.equal((await h.engine.campaignAction(c.id, 'resume', { actor: 'key_ops' })).status, 'pending_approval');
      assert.equal((await h.engine.campaignAction(c.id, 'approve', checker)).status, 'active');
      const [first] = holds;
      assert.ok(first);
      assert.equal((await h.engine.confirm(first.id, till)).status, 'confirmed');
      await assertInvariants(h.store);
      await h.store.close();
    });

    test('bad changes change nothing: currency, code_mode, budget below used, limits below live, lint errors', async () => {
      const h = await setup();
      const c = await activeCampaign(h, {
        code_mode: 'shared_code',
        code: 'BAD',
        per_user_limit: 5,
        max_redemptions: 10,
      });
      await h.engine.redeem({ user_id: 'u1', code: 'BAD', order: order({ id: 'a' }) }, till);
      await h.engine.redeem({ user_id: 'u1', code: 'BAD', order: order({ id: 'b' }) }, till);
      const before = await h.engine.getCampaign(c.id);
      const cases: Array<[Partial<CampaignSpec>, string, string | undefined]> = [
        [{ currency: 'USD' }, 'invalid_request', 'currency'],
        [{ code_mode: 'claim' }, 'invalid_request', 'code_mode'],
        [{ code: 'OTHER' }, 'invalid_request', 'code'],
        [{ budget_minor: 1999 }, 'invalid_request', 'budget_minor'],
        [{ max_redemptions: 1 }, 'invalid_request', 'max_redemptions'],
        [{ per_user_limit: 1 }, 'invalid_request', 'per_user_limit'],
        [{ ends_at_ms: c.starts_at_ms - 1 }, 'campaign_lint_failed', undefined],
      ];
      for (const [patch, code, param] of cases) {
        await assert.rejects(h.engine.updateCampaign(c.id, patch, maker), (e: unknown) => {
          assert.ok(e instanceof Rejection, String(e));
          assert.equal(e.code, code, JSON.stringify(patch));
          assert.equal(e.param, param);
          return true;
        });
      }
      assert.deepEqual(await h.engine.getCampaign(c.id), before);
      const shrunk = await h.engine.updateCampaign(c.id, { budget_minor: 2000, code: 'bad' }, maker);
      assert.equal(
        shrunk.budget_minor,
        2000,
        'down to exactly reserved + spent; the same code in other case is no change',
      );
      assert.equal(shrunk.status, 'active');
      await rejects(
        h.engine.redeem({ user_id: 'u2', code: 'BAD', order: order({ id: 'c' }) }, till),
        'budget_exhausted',
      );
      const revoked = await h.engine.campaignAction(c.id, 'revoke', maker);
      await rejects(h.engine.updateCampaign(revoked.id, { name: 'zombie' }, maker), 'invalid_state');
      await assertInvariants(h.store);
      await h.store.close();
    });

    test('setting per_user_limit from null recounts usage from the rows in the same transaction', async () => {
      const h = await setup();
      const c = await activeCampaign(h, { per_user_limit: null, max_redemptions: null, budget_minor: 1_000_000 });
      const redeem = async (user_id: string, id: string) => {
        const coupon = await h.engine.claim({ campaign_id: c.id, user_id }, till);
        return h.engine.redeem({ user_id, code: coupon.code, order: order({ id }) }, till);
      };
      await redeem('u1', 'o1');
      await redeem('u1', 'o2');
      const released = await redeem('u1', 'o3');
      await h.engine.release(released.id, till);
      await redeem('u2', 'o4');
      // Orders are always counted (one discount per order); limits' counters only once set.
      const limitCounters = async () =>
        Object.fromEntries([...(await h.store.usageCounts(c.id))].filter(([k]) => !k.startsWith('order:')));
      assert.deepEqual(await limitCounters(), {}, 'no limit counters while no limit is set');
      const liveOrders = [...(await h.store.usageCounts(c.id))].filter(([k, n]) => k.startsWith('order:') && n > 0);
      assert.equal(liveOrders.length, 3, 'the three live orders');
      await rejects(h.engine.updateCampaign(c.id, { per_user_limit: 1 }, maker), 'invalid_request');
      const limited = await h.engine.updateCampaign(c.id, { per_user_limit: 2, per_merchant_limit: 10 }, maker);
      assert.equal(limited.status, 'active', 'a new limit tightens');
      assert.deepEqual(await limitCounters(), {
        'user:u1': 2,
        'user:u2': 1,
        'claim:u1': 3,
        'claim:u2': 1,
        'merchant:m1': 3,
      });
      await assertInvariants(h.store);
      await rejects(h.engine.claim({ campaign_id: c.id, user_id: 'u1' }, till), 'per_user_limit_reached');
      await redeem('u2', 'o5');
      await rejects(redeem('u2', 'o6'), 'per_user_limit_reached');
      await assertInvariants(h.store);
      await h.store.close();
    });

    test('a limit set while redemptions stream in: every counter matches the rows afterwards', async () => {
      const h = await setup();
      const c = await activeCampaign(h, {
        code_mode: 'shared_code',
        code: 'STREAM',
        per_user_limit: null,
        max_redemptions: null,
        budget_minor: 10_000_000,
      });
      const redeem = (i: number) =>
        h.engine.redeem(
          { user_id: `u${i % 8}`, code: 'STREAM', order: order({ id: `s${i}`, merchant_id: `m${i % 3}` }) },
          till,
        );
      const first = Array.from({ length: 80 }, (_, i) => redeem(i));
      // Let the first batches start, so the change meets redemptions in flight.
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
      // Limits above what any user (20) or merchant (54) reaches: the change succeeds in any interleaving.
      const update = h.engine.updateCampaign(c.id, { per_user_limit: 25, per_merchant_limit: 60 }, maker);
      const second = Array.from({ length: 80 }, (_, i) => redeem(80 + i));
      const results = await Promise.allSettled([...first, update, ...second]);
      for (const r of results) assert.equal(r.status, 'fulfilled', r.status === 'rejected' ? String(r.reason) : '');
      assert.equal((await update).per_user_limit, 25);
      const usage = await h.store.usageCounts(c.id);
      for (let u = 0; u < 8; u++) assert.equal(usage.get(`user:u${u}`), 20);
      for (let m = 0; m < 3; m++) assert.equal(usage.get(`merchant:m${m}`), m === 0 ? 54 : 53);
      await assertInvariants(h.store);
      await h.store.close();
    });

    test('extending an ended campaign is a lint finding, needs approval, and moves its coupons with it', async () => {
      const h = await setup();
      const c = await activeCampaign(h, { code_mode: 'shared_code', code: 'LATE', per_user_limit: 5 });
      h.clock.set(c.ends_at_ms + day_ms);
      await rejects(h.engine.redeem({ user_id: 'u1', code: 'LATE', order: order() }, till), 'campaign_ended');
      const extended = await h.engine.updateCampaign(c.id, { ends_at_ms: c.ends_at_ms + 10 * day_ms }, maker);
      assert.equal(extended.status, 'pending_approval');
      assert.ok(extended.lint.some((f) => f.rule === 'extends_ended_campaign' && f.severity === 'warning'));
      await rejects(h.engine.campaignAction(c.id, 'approve', maker), 'approval_self_forbidden');
      await h.engine.campaignAction(c.id, 'approve', checker);
      const r = await h.engine.redeem({ user_id: 'u1', code: 'LATE', order: order() }, till);
      assert.equal(r.status, 'reserved', 'the shared coupon now lives as long as the campaign');
      const shorter = await h.engine.updateCampaign(c.id, { ends_at_ms: h.clock.now() + day_ms }, maker);
      assert.equal(shorter.status, 'active');
      const shared = await h.store.findCouponByCode('LATE');
      assert.equal(shared?.expires_at_ms, h.clock.now() + day_ms);
      await assertInvariants(h.store);
      await h.store.close();
    });

    test('a lowered discount keeps the worst case of the redemptions made at the old one', async () => {
      const h = await setup();
      const c = await activeCampaign(h, { per_user_limit: null, max_redemptions: 4 });
      assert.equal(maxExposureMinor(c), 4 * 1000);
      for (const id of ['x1', 'x2', 'x3']) {
        const coupon = await h.engine.claim({ campaign_id: c.id, user_id: `u_${id}` }, till);
        const confirm = id !== 'x3';
        await h.engine.redeem({ user_id: `u_${id}`, coupon_id: coupon.id, order: order({ id }), confirm }, till);
      }
      await h.engine.updateCampaign(c.id, { discount: { type: 'fixed', amount_minor: 100 } }, { actor: 'key_changer' });
      const lowered = await h.engine.campaignAction(c.id, 'approve', checker);
      assert.equal(lowered.status, 'active');
      assert.equal(lowered.spent_minor + lowered.reserved_minor, 3000);
      // The three live redemptions stay at 10.00 each; the fourth can be one of them again after a release.
      assert.equal(maxExposureMinor(lowered), 4 * 1000);
      const coupon = await h.engine.claim({ campaign_id: c.id, user_id: 'u_x4' }, till);
      await h.engine.redeem({ user_id: 'u_x4', coupon_id: coupon.id, order: order({ id: 'x4' }), confirm: true }, till);
      const full = await h.engine.getCampaign(c.id);
      assert.equal(full.spent_minor + full.reserved_minor, 3100);
      assert.ok(full.spent_minor + full.reserved_minor <= maxExposureMinor(full));
      // An uncapped percentage before: the redemptions made under it are bounded by the budget only.
      const uncapped = await activeCampaign(h, {
        per_user_limit: null,
        max_redemptions: 4,
        discount: { type: 'percent', percent_bp: 1000, max_discount_minor: null },
      });
      const held = await h.engine.claim({ campaign_id: uncapped.id, user_id: 'u_p' }, till);
      await h.engine.redeem(
        { user_id: 'u_p', coupon_id: held.id, order: order({ id: 'p1', amount_minor: 90_000 }) },
        till,
      );
      await h.engine.updateCampaign(uncapped.id, { discount: { type: 'fixed', amount_minor: 100 } }, maker);
      assert.equal(maxExposureMinor(await h.engine.getCampaign(uncapped.id)), 100_000);
      // With no live redemption left, the old discount bounds nothing: a later change drops it.
      const draft = await h.engine.createCampaign(spec({ max_redemptions: 4 }), maker);
      const cut = await h.engine.updateCampaign(draft.id, { discount: { type: 'fixed', amount_minor: 100 } }, maker);
      assert.equal(maxExposureMinor(cut), 400);
      await assertInvariants(h.store);
      await h.store.close();
    });

    test('an Idempotency-Key replays the first answer; no change is a no-op', async () => {
      const h = await setup();
      const c = await activeCampaign(h);
      const who = { actor: 'key_maker', idem: { key: 'key_maker:upd-1' } };
      const first = await h.engine.updateCampaign(c.id, { name: 'once' }, who);
      h.clock.advance(1000);
      const again = await h.engine.updateCampaign(c.id, { name: 'once' }, who);
      assert.deepEqual(again, first);
      await rejects(h.engine.updateCampaign(c.id, { name: 'twice' }, who), 'idempotency_key_reused');
      const seq = (await h.engine.getCampaign(c.id)).audit_seq;
      const same = await h.engine.updateCampaign(c.id, { name: 'once' }, maker);
      assert.equal(same.audit_seq, seq, 'nothing changed, nothing audited');
      await rejects(h.engine.updateCampaign('cmp_missing', { name: 'x' }, maker), 'not_found');
      await h.store.close();
    });
  });
}

updateSuite('sqlite', async () => new SqliteStore({ path: ':memory:' }));

const pg: TestDatabase | null = await createTestDatabase();
after(() => pg?.drop());
if (pg) updateSuite('postgres', () => freshPostgresStore(pg));
else test.skip(pg_unavailable_message);

test('verify holds needs_approval to the chain: a paused campaign cleared of it in its row alone is reported', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vs-needs-approval-'));
  try {
    const path = join(dir, 'v.db');
    const h = await harness({}, new SqliteStore({ path }));
    const c = await activeCampaign(h);
    await h.engine.campaignAction(c.id, 'pause', maker, 'fraud suspected');
    await h.engine.updateCampaign(c.id, { budget_minor: 200_000 }, { actor: 'key_changer' });
    assert.deepEqual((await verifyStore(h.store)).violations, [], 'sound before the edit');
    await h.engine.close();
    await h.store.close();
    // What a database writer would do to skip the second key: resume would then go straight to active.
    const db = new Database(path);
    const doc = JSON.parse(
      String((db.prepare('SELECT doc FROM campaigns WHERE id = ?').get(c.id) as { doc: string }).doc),
    );
    doc.needs_approval = false;
    db.prepare('UPDATE campaigns SET doc = ? WHERE id = ?').run(JSON.stringify(doc), c.id);
    db.close();
    const store = new SqliteStore({ path });
    try {
      const report = await verifyStore(store);
      assert.ok(
        report.violations.some((v) => v.detail.includes(`campaign ${c.id} needs_approval is false, audited true`)),
        JSON.stringify(report.violations),
      );
    } finally {
      await store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
