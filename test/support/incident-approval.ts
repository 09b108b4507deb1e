import assert from 'node:assert/strict';
import type { Campaign } from '../../src/domain/campaign.ts';
import { Rejection } from '../../src/domain/errors.ts';
import type { IncidentAction, IncidentScope } from '../../src/domain/incident.ts';
import type { Engine } from '../../src/engine/engine.ts';
import { Incidents } from '../../src/engine/incidents/incidents.ts';
import { unpackOutbox } from '../../src/store/contract/builders.ts';
import type { Store } from '../../src/store/port.ts';
import { activeCampaign, assertInvariants, order, rejects, spec, t0 } from './fixtures.ts';
import { closeNode, type Node, type OpenStore, openNode } from './incident-faults.ts';

/**
 * An incident that pauses campaigns holds back the campaigns in its scope that are not live yet,
 * run on every store: a pending one is paused with the others (a pause outranks a review: it keeps
 * needs_approval, and its resume goes back to pending_approval); while the incident is unresolved,
 * neither an approval nor a submit makes one active (409 invalid_state naming the incident); once it
 * is resolved both work as before. Campaigns outside its scope, and incidents that do not pause, hold
 * nothing back.
 */

const maker = { actor: 'key_maker' };
const checker = { actor: 'key_checker' };
const admin = { actor: 'key_admin' };
const who = { actor: 'key_checkout' };

/** No per-user limit is a lint warning: submit sends it to pending_approval. */
const risky = spec({ per_user_limit: null });

function scope(over: Partial<IncidentScope>): IncidentScope {
  return { campaign_ids: null, merchant_ids: null, from_ms: null, to_ms: null, ...over };
}

const pausing: IncidentAction[] = ['pause_campaigns', 'revoke_unredeemed', 'freeze_redemptions'];

async function pending(engine: Engine): Promise<Campaign> {
  const c = await engine.createCampaign(risky, maker);
  const submitted = await engine.campaignAction(c.id, 'submit', maker);
  assert.equal(submitted.status, 'pending_approval');
  return submitted;
}

/** Expects `p` to be refused with invalid_state naming the incident. */
async function heldBy(p: Promise<unknown>, incident_id: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof Rejection, String(e));
    assert.equal(e.code, 'invalid_state');
    assert.ok(e.message.includes(incident_id), e.message);
    return true;
  });
}

/** The campaign ids that ever went active, by the events committed with each change. */
async function activated(store: Store): Promise<Set<string>> {
  const events = unpackOutbox(await store.pendingOutbox(10_000)).filter((e) => e.type === 'campaign.activated');
  return new Set(events.map((e) => String((e.data as { campaign_id: string }).campaign_id)));
}

async function oneNode(open: OpenStore, body: (n: Node) => Promise<void>): Promise<void> {
  const n = await openNode(open, t0 + 60_000);
  try {
    await body(n);
  } finally {
    await closeNode(n);
  }
}

/**
 * Pending and draft campaigns listed in an open incident's scope: approving is refused, and so is a
 * submit that would activate (one that goes to pending_approval is not live and goes through);
 * nothing is written for a refusal. A pending campaign outside the scope, and one under an incident
 * that only freezes, are approved. Once the incident is resolved, approval and submit work again.
 */
export async function approvalHeldByIncident(open: OpenStore): Promise<void> {
  await oneNode(open, async (n) => {
    const a = await pending(n.engine);
    const outside = await pending(n.engine);
    const frozen_only = await pending(n.engine);
    const draft = await n.engine.createCampaign(spec(), maker);
    const risky_draft = await n.engine.createCampaign(risky, maker);
    const listed = [a.id, draft.id, risky_draft.id];
    const inc = await n.incidents.open(
      { title: 'leak', scope: scope({ campaign_ids: listed }), actions: pausing },
      admin,
    );
    assert.equal(inc.status, 'open');
    assert.equal(inc.report?.paused_campaigns, 1, 'the pending one is paused; drafts are not live');
    const paused = await n.engine.getCampaign(a.id);
    assert.deepEqual([paused.status, paused.needs_approval], ['paused', true]);
    await rejects(n.engine.campaignAction(a.id, 'approve', checker), 'invalid_state');
    // Resumed while the incident is open: back in review, and held there.
    assert.equal((await n.engine.campaignAction(a.id, 'resume', admin)).status, 'pending_approval');
    const held = await n.engine.getCampaign(a.id);
    const freeze = ['freeze_redemptions' as const];
    const other = await n.incidents.open(
      { title: 'look', scope: scope({ campaign_ids: [frozen_only.id] }), actions: freeze },
      admin,
    );

    await heldBy(n.engine.campaignAction(a.id, 'approve', checker), inc.id);
    await heldBy(n.engine.campaignAction(a.id, 'approve', checker, null, held.updated_at_ms), inc.id);
    const still = await n.engine.getCampaign(a.id);
    assert.equal(still.status, 'pending_approval');
    assert.deepEqual(still, held, 'a refusal writes nothing');
    await heldBy(n.engine.campaignAction(draft.id, 'submit', maker), inc.id);
    assert.equal((await n.engine.getCampaign(draft.id)).status, 'draft');
    const waiting = await n.engine.campaignAction(risky_draft.id, 'submit', maker);
    assert.equal(waiting.status, 'pending_approval', 'not live: the submit goes through');
    await heldBy(n.engine.campaignAction(risky_draft.id, 'approve', checker), inc.id);
    await rejects(n.engine.claim({ campaign_id: a.id, user_id: 'u1' }, who), 'campaign_not_active');

    assert.equal((await n.engine.campaignAction(outside.id, 'approve', checker)).status, 'active');
    assert.equal((await n.engine.campaignAction(frozen_only.id, 'approve', checker)).status, 'active');
    assert.equal(other.status, 'open');
    const live = await activated(n.store);
    for (const id of listed) assert.equal(live.has(id), false, `${id} never went active`);

    await n.incidents.resolve(inc.id, 'honour', admin);
    const approved = await n.engine.campaignAction(a.id, 'approve', checker);
    assert.deepEqual([approved.status, approved.approved_by], ['active', 'key_checker']);
    assert.equal((await n.engine.campaignAction(draft.id, 'submit', maker)).status, 'active');
    assert.equal((await n.engine.campaignAction(risky_draft.id, 'approve', checker)).status, 'active');
    await assertInvariants(n.store);
  });
}

/**
 * A merchant-scoped incident pauses the campaign with redemptions at the merchant; a risky change
 * leaves it paused with needs_approval, its resume sends it back for approval (pending_approval), but
 * approving it does not make it live while the incident is open: the scope resolved to it. Resolved,
 * the approval goes through.
 */
export async function changedBackToApprovalStaysHeld(open: OpenStore): Promise<void> {
  await oneNode(open, async (n) => {
    const c = await activeCampaign(n, { max_redemptions: 100, budget_minor: 1_000_000 });
    const coupon = await n.engine.claim({ campaign_id: c.id, user_id: 'u1' }, who);
    await n.engine.redeem(
      { user_id: 'u1', code: coupon.code, order: order({ merchant_id: 'm9' }), confirm: true },
      who,
    );
    const elsewhere = await activeCampaign(n);
    const inc = await n.incidents.open(
      { title: 'm9', scope: scope({ merchant_ids: ['m9'] }), actions: ['pause_campaigns'] },
      admin,
    );
    assert.deepEqual(inc.campaign_ids, [c.id]);
    assert.equal((await n.engine.getCampaign(c.id)).status, 'paused');
    const changed = await n.engine.updateCampaign(c.id, { budget_minor: 2_000_000 }, maker);
    assert.deepEqual([changed.status, changed.needs_approval], ['paused', true]);
    await rejects(n.engine.campaignAction(c.id, 'approve', checker), 'invalid_state');
    assert.equal((await n.engine.campaignAction(c.id, 'resume', admin)).status, 'pending_approval');
    await heldBy(n.engine.campaignAction(c.id, 'approve', checker), inc.id);
    assert.equal((await n.engine.getCampaign(c.id)).status, 'pending_approval');
    // A campaign the scope did not resolve to is not held back.
    assert.equal(
      (await n.engine.updateCampaign(elsewhere.id, { budget_minor: 2_000_000 }, maker)).status,
      'pending_approval',
    );
    assert.equal((await n.engine.campaignAction(elsewhere.id, 'approve', checker)).status, 'active');

    await n.incidents.resolve(inc.id, 'honour', admin);
    assert.equal((await n.engine.campaignAction(c.id, 'approve', checker)).status, 'active');
    await assertInvariants(n.store);
  });
}

/** Where the approval is sent, relative to the incident's opening on the other node. */
type FirePoint = 'with_insert' | 'before_pause' | 'after_pause';
const fire_points: FirePoint[] = ['with_insert', 'before_pause', 'after_pause'];

/**
 * The operator's engine as its Incidents sees it, sending the approval (once) at one point of the
 * opening, without waiting for it: the approval then runs on the other node while the opening goes on.
 */
function firingAt(engine: Engine, point: FirePoint, fire: () => void): Engine {
  const store = new Proxy(engine.store, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (prop === 'insertIncident' && point === 'with_insert') {
        return (...args: Parameters<Store['insertIncident']>) => {
          fire();
          return target.insertIncident(...args);
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return new Proxy(engine, {
    get(target, prop) {
      if (prop === 'store') return store;
      if (prop === 'pauseForIncident') {
        return async (...args: Parameters<Engine['pauseForIncident']>) => {
          if (point === 'before_pause') fire();
          try {
            return await target.pauseForIncident(...args);
          } finally {
            // After the pause batch (a pending campaign is paused too, keeping needs_approval).
            if (point === 'after_pause') fire();
          }
        };
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/**
 * Two nodes on one database: the approver's node approves a pending campaign while the operator's
 * opens an incident that pauses it, the approval sent at several points of the opening (with the
 * incident's insert, just before its pause batch, just after it), rounds of each. Each round ends
 * in one of two ways, never with the campaign active under the open incident: the approval was
 * refused (naming the incident, read under the campaign's lock, or because the incident's pause came
 * first), and the incident paused the campaign with its review still owed (needs_approval); or it
 * committed before the incident could be seen, and the incident's pause then paused it.
 */
export async function approvalRacesIncident(open: OpenStore): Promise<void> {
  const approver = await openNode(open, t0 + 60_000);
  const operator = await openNode(open, t0 + 60_000);
  try {
    const refused: string[] = [];
    for (let round = 0; round < 12; round++) {
      const point = fire_points[round % fire_points.length] ?? 'with_insert';
      const c = await pending(approver.engine);
      // Settled as it is sent: a refusal that comes before the opening ends is no unhandled rejection.
      const sent: { approval?: Promise<[PromiseSettledResult<Campaign>]> } = {};
      const fire = () => {
        sent.approval ??= Promise.allSettled([approver.engine.campaignAction(c.id, 'approve', checker)]);
      };
      const incidents = new Incidents(firingAt(operator.engine, point, fire));
      const input = { title: `race ${round}`, scope: scope({ campaign_ids: [c.id] }), actions: pausing };
      const inc = await incidents.open(input, admin);
      assert.ok(sent.approval, `the approval was sent (${point})`);
      const [outcome] = await sent.approval;
      const now = await operator.engine.getCampaign(c.id);
      assert.equal(now.status, 'paused', `round ${round} (${point}): paused by the incident either way`);
      assert.equal(inc.report?.paused_campaigns, 1);
      if (outcome.status === 'fulfilled') {
        assert.equal(point, 'with_insert', 'only an approval that may commit before the incident goes through');
        assert.equal(now.needs_approval ?? false, false, `round ${round}: approved first, then paused`);
      } else {
        const reason = outcome.reason as Rejection;
        assert.equal(reason.code, 'invalid_state', String(reason));
        // Refused under the lock: by the incident's name, or (after its pause) as paused.
        assert.ok(
          reason.message.includes(inc.id) || reason.message === 'cannot approve a paused campaign',
          reason.message,
        );
        assert.equal(now.needs_approval, true, `round ${round} (${point}): its review is still owed`);
        refused.push(c.id);
      }
    }
    assert.ok(refused.length >= 8, 'every approval sent once the incident was stored is refused');
    const live = await activated(operator.store);
    for (const id of refused) assert.equal(live.has(id), false, `${id} never went active`);
    for (const inc of (await operator.store.listIncidents({ limit: 100 })).data) {
      await operator.incidents.resolve(inc.id, 'honour', admin);
    }
    for (const id of refused) {
      assert.equal((await approver.engine.campaignAction(id, 'resume', admin)).status, 'pending_approval');
      assert.equal((await approver.engine.campaignAction(id, 'approve', checker)).status, 'active');
    }
    await assertInvariants(operator.store);
  } finally {
    await closeNode(approver);
    await closeNode(operator);
  }
}
