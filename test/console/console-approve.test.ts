import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createVouchsafeClient } from '../../client/index.ts';
import { ApiError, approveCampaign, isStaleApproval } from '../../src/console/src/api.ts';
import type { CampaignWire } from '../../src/http/views.ts';
import { campaignBody, type HttpHarness, httpHarness } from '../http/harness.ts';

/** The console's client for one key, its requests answered by the app in process; sent bodies are kept. */
function consoleClient(h: HttpHarness, secret: string, sent: unknown[]) {
  const fetch = async (request: Request) => {
    const text = await request.text();
    if (text !== '') sent.push(JSON.parse(text));
    const url = new URL(request.url);
    const res = await h.app.inject({
      method: request.method as 'POST',
      url: url.pathname + url.search,
      headers: Object.fromEntries(request.headers),
      ...(text === '' ? {} : { payload: text }),
    });
    return new Response(res.body, { status: res.statusCode, headers: { 'content-type': 'application/json' } });
  };
  return createVouchsafeClient('http://console.test', secret, { fetch });
}

test('the console approves the version it displayed: a campaign changed since is refused, not approved', async () => {
  const h = await httpHarness();
  const created = await h.call<CampaignWire>('POST', '/v1/campaigns', { body: campaignBody({ per_user_limit: null }) });
  const shown = await h.call<CampaignWire>('POST', `/v1/campaigns/${created.body.id}/submit`);
  assert.equal(shown.body.status, 'pending_approval');
  const changed = await h.call<CampaignWire>('POST', `/v1/campaigns/${shown.body.id}`, {
    key: 'admin2',
    body: { budget_minor: 50_000_000, min_spend_minor: 0, max_redemptions: null },
  });
  assert.equal(changed.status, 200, JSON.stringify(changed.body));
  const sent: unknown[] = [];
  const api = consoleClient(h, h.keys.approver.secret, sent);
  await assert.rejects(approveCampaign(api, shown.body), (e: unknown) => {
    assert.ok(e instanceof ApiError && e.status === 409, String(e));
    assert.ok(isStaleApproval(e));
    return true;
  });
  assert.deepEqual(sent, [{ expected_updated_at: shown.body.updated_at }]);
  const still = await h.call<CampaignWire>('GET', `/v1/campaigns/${shown.body.id}`, { key: 'read' });
  assert.equal(still.body.status, 'pending_approval');
  const approved = await approveCampaign(api, still.body);
  assert.equal(approved.status, 'active');
  assert.equal(approved.budget_minor, 50_000_000);
  assert.deepEqual(sent[1], { expected_updated_at: still.body.updated_at });
  await h.app.close();
});
