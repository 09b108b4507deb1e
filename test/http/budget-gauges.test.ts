import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CampaignWire } from '../../src/http/views.ts';
import { activeCampaign, claim, type HttpHarness, httpHarness, orderBody } from './harness.ts';

/** The value /metrics shows for one part of a campaign's budget; undefined: no such series. */
export async function budgetGauge(h: HttpHarness, campaign_id: string, part: string): Promise<number | undefined> {
  const res = await h.call<string>('GET', '/metrics', { key: null });
  assert.equal(res.status, 200, String(res.body));
  return gaugeIn(res.body, `vouchsafe_campaign_budget_minor{campaign_id="${campaign_id}",part="${part}"}`);
}

/** The value of one series in a Prometheus text page; undefined when it is not there. */
export function gaugeIn(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** Claims and confirms one redemption of the campaign's fixed discount (harness orders: 10,000). */
export async function spend(h: HttpHarness, campaign_id: string, user_id: string): Promise<void> {
  const coupon = await claim(h, campaign_id, user_id);
  const r = await h.call('POST', '/v1/redemptions', {
    key: 'checkout',
    body: { user_id, code: coupon.code, order: orderBody(), confirm: true },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
}

describe('budget gauges on /metrics', () => {
  test('an Idempotency-Key replay answers the campaign as it was then; the gauges keep the newer figures', async () => {
    const h = await httpHarness();
    const c = await activeCampaign(h, { budget_minor: 100_000 });
    const pause = { body: { reason: 'check' }, idem: 'pause-once' };
    assert.equal((await h.call('POST', `/v1/campaigns/${c.id}/pause`, pause)).status, 200);
    assert.equal((await h.call('POST', `/v1/campaigns/${c.id}/resume`)).status, 200);
    await spend(h, c.id, 'u1');
    assert.equal(await budgetGauge(h, c.id, 'spent'), 1000);
    const replay = await h.call<CampaignWire>('POST', `/v1/campaigns/${c.id}/pause`, pause);
    assert.equal(replay.status, 200);
    assert.equal(replay.body.budget.spent_minor, 0, 'the replay is the first answer');
    assert.equal(await budgetGauge(h, c.id, 'spent'), 1000);
    assert.equal(await budgetGauge(h, c.id, 'available'), 99_000);
  });
});
