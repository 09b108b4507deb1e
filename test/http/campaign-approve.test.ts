import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CampaignWire } from '../../src/http/views.ts';
import { assertError, campaignBody, type HttpHarness, httpHarness } from './harness.ts';

/** A campaign in pending_approval (no per-user limit is a warning), made and submitted by `admin`. */
async function pendingCampaign(h: HttpHarness): Promise<CampaignWire> {
  const created = await h.call<CampaignWire>('POST', '/v1/campaigns', { body: campaignBody({ per_user_limit: null }) });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const submitted = await h.call<CampaignWire>('POST', `/v1/campaigns/${created.body.id}/submit`);
  assert.equal(submitted.body.status, 'pending_approval', JSON.stringify(submitted.body));
  return submitted.body;
}

async function view(h: HttpHarness, id: string): Promise<CampaignWire> {
  const res = await h.call<CampaignWire>('GET', `/v1/campaigns/${id}`, { key: 'read' });
  assert.equal(res.status, 200);
  return res.body;
}

describe('POST /v1/campaigns/{id}/approve {expected_updated_at}', () => {
  test('a campaign changed since the approver read it: 409 invalid_state with the param, nothing changes', async () => {
    const h = await httpHarness();
    const c = await pendingCampaign(h);
    const seen = await view(h, c.id);
    // Another admin turns the reviewed campaign into an open-ended one, in the same millisecond.
    const changed = await h.call<CampaignWire>('POST', `/v1/campaigns/${c.id}`, {
      key: 'admin2',
      body: { budget_minor: 50_000_000, min_spend_minor: 0, max_redemptions: null },
    });
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    assert.notEqual(changed.body.updated_at, seen.updated_at);
    const chain = (await h.store.auditChain(c.id)).length;
    const url = `/v1/campaigns/${c.id}/approve`;
    const refused = await h.call('POST', url, {
      key: 'approver',
      body: { expected_updated_at: seen.updated_at },
    });
    assertError(refused, 409, 'invalid_state', 'expected_updated_at');
    assert.match((refused.body as { error: { message: string } }).error.message, /changed/);
    const now = await view(h, c.id);
    assert.deepEqual(now, changed.body, 'still pending, with the change, and the change answered the stored version');
    assert.equal(now.status, 'pending_approval');
    assert.equal((await h.store.auditChain(c.id)).length, chain, 'the refusal writes no audit entry');
    const approved = await h.call<CampaignWire>('POST', url, {
      key: 'approver',
      body: { expected_updated_at: now.updated_at },
    });
    assert.equal(approved.status, 200, JSON.stringify(approved.body));
    assert.equal(approved.body.status, 'active');
    assert.equal(approved.body.budget_minor, 50_000_000);
  });

  test('a malformed value is 400 invalid_request with the param; the same instant in any offset matches', async () => {
    const h = await httpHarness();
    h.clock.advance(1234);
    const c = await pendingCampaign(h);
    const url = `/v1/campaigns/${c.id}/approve`;
    for (const bad of ['yesterday', '2026-01-01', '2026-02-30T00:00:00Z', 1_767_225_600_000, null, '']) {
      assertError(
        await h.call('POST', url, { key: 'approver', body: { expected_updated_at: bad } }),
        400,
        'invalid_request',
        'expected_updated_at',
      );
    }
    assert.equal((await view(h, c.id)).status, 'pending_approval');
    const at = new Date(Date.parse(c.updated_at));
    assert.equal(at.getUTCMilliseconds() > 0, true, 'a fraction, to compare at millisecond precision');
    const shanghai = new Date(at.getTime() + 8 * 3600_000).toISOString().replace('Z', '+08:00');
    const approved = await h.call<CampaignWire>('POST', url, {
      key: 'approver',
      body: { expected_updated_at: shanghai },
    });
    assert.equal(approved.status, 200, JSON.stringify(approved.body));
    assert.equal(approved.body.status, 'active');
  });

  test('without a body, or without the field, approval works as before and answers the stored version', async () => {
    const h = await httpHarness();
    const a = await pendingCampaign(h);
    h.clock.advance(60_000);
    const bare = await h.call<CampaignWire>('POST', `/v1/campaigns/${a.id}/approve`, { key: 'approver' });
    assert.equal(bare.status, 200, JSON.stringify(bare.body));
    assert.equal(bare.body.status, 'active');
    assert.deepEqual(bare.body, await view(h, a.id), 'the answer carries the updated_at it stored');
    const b = await pendingCampaign(h);
    const reason = await h.call<CampaignWire>('POST', `/v1/campaigns/${b.id}/approve`, {
      key: 'admin2',
      body: { reason: 'looked fine' },
    });
    assert.equal(reason.status, 200, JSON.stringify(reason.body));
    assert.equal(reason.body.status, 'active');
  });

  test('an Idempotency-Key replays the approval; the same key with another expected_updated_at is reused', async () => {
    const h = await httpHarness();
    const c = await pendingCampaign(h);
    const url = `/v1/campaigns/${c.id}/approve`;
    const body = { expected_updated_at: c.updated_at };
    const first = await h.call<CampaignWire>('POST', url, { key: 'approver', body, idem: 'approve-1' });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    h.clock.advance(1000);
    const again = await h.call<CampaignWire>('POST', url, { key: 'approver', body, idem: 'approve-1' });
    assert.equal(again.status, 200);
    assert.deepEqual(again.body, first.body);
    assertError(
      await h.call('POST', url, {
        key: 'approver',
        body: { expected_updated_at: first.body.updated_at },
        idem: 'approve-1',
      }),
      409,
      'idempotency_key_reused',
      'Idempotency-Key',
    );
  });
});
