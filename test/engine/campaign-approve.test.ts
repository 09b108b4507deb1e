import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Rejection } from '../../src/domain/errors.ts';
import type { Store } from '../../src/store/port.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { activeCampaign, assertInvariants, harness, rejects, spec } from '../support/fixtures.ts';
import { createTestDatabase, freshPostgresStore, pg_unavailable_message, type TestDatabase } from '../support/pg.ts';

const maker = { actor: 'key_maker' };
const changer = { actor: 'key_changer' };
const checker = { actor: 'key_checker' };

/** A campaign that goes to pending_approval on submit (no per-user limit is a warning). */
const risky = spec({ per_user_limit: null });

function approveSuite(name: string, open: () => Promise<Store>): void {
  describe(`approval of the version the approver saw (${name})`, () => {
    const setup = async () => harness({}, await open());

    test('a change between the approver reading it and approving: 409, still pending with the change', async () => {
      const h = await setup();
      const c = await h.engine.createCampaign(risky, maker);
      await h.engine.campaignAction(c.id, 'submit', maker);
      const seen = await h.engine.getCampaign(c.id);
      assert.equal(seen.status, 'pending_approval');
      // The same instant as the approver's read: updated_at must move all the same.
      const changed = await h.engine.updateCampaign(
        c.id,
        { budget_minor: 50_000_000, min_spend_minor: 0, max_redemptions: null },
        changer,
      );
      assert.ok(changed.updated_at_ms > seen.updated_at_ms, 'a change moves updated_at, even within one ms');
      const seq = changed.audit_seq;
      await assert.rejects(
        h.engine.campaignAction(c.id, 'approve', checker, null, seen.updated_at_ms),
        (e: unknown) =>
          e instanceof Rejection &&
          e.code === 'invalid_state' &&
          e.param === 'expected_updated_at' &&
          /changed/.test(e.message),
      );
      const after = await h.engine.getCampaign(c.id);
      assert.equal(after.status, 'pending_approval');
      assert.equal(after.budget_minor, 50_000_000);
      assert.equal(after.approved_by, null);
      assert.equal(after.audit_seq, seq, 'the refusal writes no audit entry');
      assert.equal(after.updated_at_ms, changed.updated_at_ms, 'nor moves updated_at');
      const approved = await h.engine.campaignAction(c.id, 'approve', checker, null, after.updated_at_ms);
      assert.equal(approved.status, 'active');
      assert.equal(approved.budget_minor, 50_000_000);
      assert.equal(approved.approved_by, 'key_checker');
      await assertInvariants(h.store);
      await h.store.close();
    });

    test('the matching updated_at approves; without one the approval works as before', async () => {
      const h = await setup();
      const a = await h.engine.createCampaign(risky, maker);
      const pending = await h.engine.campaignAction(a.id, 'submit', maker);
      assert.deepEqual(await h.engine.getCampaign(a.id), pending, 'submit answers the stored version');
      const approved = await h.engine.campaignAction(a.id, 'approve', checker, null, pending.updated_at_ms);
      assert.equal(approved.status, 'active');
      assert.ok(approved.updated_at_ms > pending.updated_at_ms);
      const b = await h.engine.createCampaign(risky, maker);
      await h.engine.campaignAction(b.id, 'submit', maker);
      await h.engine.updateCampaign(b.id, { name: 'renamed' }, changer);
      assert.equal((await h.engine.campaignAction(b.id, 'approve', checker)).status, 'active');
      await h.store.close();
    });

    test('updated_at moves on every change of a pending campaign: settings, resubmission, lifecycle', async () => {
      const h = await setup();
      const c = await activeCampaign(h);
      const seen: number[] = [c.updated_at_ms];
      const note = (at_ms: number) => {
        assert.ok(at_ms > (seen[seen.length - 1] ?? 0), `updated_at ${at_ms} after ${seen.join(', ')}`);
        seen.push(at_ms);
        return at_ms;
      };
      // A risky change sends the live campaign back for approval; each later change is a new version.
      const first = await h.engine.updateCampaign(c.id, { budget_minor: 200_000 }, changer);
      assert.equal(first.status, 'pending_approval');
      note(first.updated_at_ms);
      note((await h.engine.updateCampaign(c.id, { name: 'again' }, changer)).updated_at_ms);
      const approved = await h.engine.campaignAction(c.id, 'approve', checker, null, seen[seen.length - 1]);
      note(approved.updated_at_ms);
      // Resubmitted: the second pending version is not the first one.
      const second = await h.engine.updateCampaign(c.id, { budget_minor: 300_000 }, changer);
      assert.equal(second.status, 'pending_approval');
      note(second.updated_at_ms);
      await rejects(h.engine.campaignAction(c.id, 'approve', checker, null, first.updated_at_ms), 'invalid_state');
      const revoked = await h.engine.campaignAction(c.id, 'revoke', maker, 'withdrawn');
      note(revoked.updated_at_ms);
      for (const at_ms of seen) {
        await rejects(h.engine.campaignAction(c.id, 'approve', checker, null, at_ms), 'invalid_state');
      }
      assert.equal((await h.engine.getCampaign(c.id)).updated_at_ms, revoked.updated_at_ms);
      await h.store.close();
    });

    test('a refused request with an Idempotency-Key does not move updated_at', async () => {
      const h = await setup();
      const c = await h.engine.createCampaign(risky, maker);
      const pending = await h.engine.campaignAction(c.id, 'submit', maker);
      h.clock.advance(60_000);
      const claim = { campaign_id: c.id, user_id: 'u1' };
      await rejects(h.engine.claim(claim, { actor: 'key_till', idem: { key: 'key_till:c1' } }), 'campaign_not_active');
      const who = { actor: 'key_maker', idem: { key: 'key_maker:a1' } };
      await rejects(h.engine.campaignAction(c.id, 'approve', who), 'approval_self_forbidden');
      assert.equal((await h.engine.getCampaign(c.id)).updated_at_ms, pending.updated_at_ms);
      const approved = await h.engine.campaignAction(c.id, 'approve', checker, null, pending.updated_at_ms);
      assert.equal(approved.status, 'active');
      await h.store.close();
    });

    test('an Idempotency-Key replays an approval, and a refusal, with the same expected updated_at', async () => {
      const h = await setup();
      const c = await h.engine.createCampaign(risky, maker);
      const pending = await h.engine.campaignAction(c.id, 'submit', maker);
      const stale = { actor: 'key_checker', idem: { key: 'key_checker:stale' } };
      await h.engine.updateCampaign(c.id, { name: 'changed' }, changer);
      await rejects(h.engine.campaignAction(c.id, 'approve', stale, null, pending.updated_at_ms), 'invalid_state');
      await rejects(h.engine.campaignAction(c.id, 'approve', stale, null, pending.updated_at_ms), 'invalid_state');
      const now = await h.engine.getCampaign(c.id);
      await rejects(h.engine.campaignAction(c.id, 'approve', stale, null, now.updated_at_ms), 'idempotency_key_reused');
      const who = { actor: 'key_checker', idem: { key: 'key_checker:fresh' } };
      const approved = await h.engine.campaignAction(c.id, 'approve', who, null, now.updated_at_ms);
      assert.equal(approved.status, 'active');
      h.clock.advance(1000);
      assert.deepEqual(await h.engine.campaignAction(c.id, 'approve', who, null, now.updated_at_ms), approved);
      await h.store.close();
    });

    test('a change racing the approval: the approval never activates a version the approver did not see', async () => {
      const h = await setup();
      const c = await h.engine.createCampaign(risky, maker);
      const seen = await h.engine.campaignAction(c.id, 'submit', maker);
      const [approval, change] = await Promise.allSettled([
        h.engine.campaignAction(c.id, 'approve', checker, null, seen.updated_at_ms),
        h.engine.updateCampaign(c.id, { budget_minor: 50_000_000, max_redemptions: null }, changer),
      ]);
      assert.equal(change.status, 'fulfilled');
      const now = await h.engine.getCampaign(c.id);
      assert.equal(now.budget_minor, 50_000_000);
      if (approval.status === 'fulfilled') {
        // The approval came first: it activated what the approver saw, and the change needs approval again.
        assert.equal(approval.value.budget_minor, seen.budget_minor);
        assert.equal(now.status, 'pending_approval');
      } else {
        assert.ok(approval.reason instanceof Rejection && approval.reason.code === 'invalid_state');
        assert.equal(now.status, 'pending_approval');
      }
      await assertInvariants(h.store);
      await h.store.close();
    });
  });
}

approveSuite('sqlite', async () => new SqliteStore({ path: ':memory:' }));

const pg: TestDatabase | null = await createTestDatabase();
after(() => pg?.drop());
if (pg) approveSuite('postgres', () => freshPostgresStore(pg));
else test.skip(pg_unavailable_message);
