import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Detection } from '../../src/engine/detection/detection.ts';
import type { AlertWire } from '../../src/http/incident-views.ts';
import { Traffic } from '../support/traffic.ts';
import {
  activeCampaign,
  assertError,
  assertInvariants,
  type HttpHarness,
  httpHarness,
  type ListWire,
  orderBody,
} from './harness.ts';

const seed = Number(process.env.DETECT_SEED ?? 20_190_120);

type Wire = { error?: { code: string } };

function redeemer(h: HttpHarness) {
  return async (merchant_id: string, seq: number): Promise<string> => {
    const body = {
      user_id: `u${seq}`,
      code: 'SPRING',
      order: orderBody({ id: `o${seq}`, merchant_id }),
      device_id: `d${seq}`,
      ip: `10.${seq % 200}.${Math.floor(seq / 200) % 250}.7`,
      confirm: true,
    };
    const res = await h.call<Wire>('POST', '/v1/redemptions', { key: 'checkout', body });
    return res.status === 201 ? 'ok' : (res.body.error?.code ?? `http_${res.status}`);
  };
}

async function setup() {
  const h = await httpHarness();
  const detection = new Detection(h.engine, { timer: false }).start();
  const c = await activeCampaign(h, {
    code_mode: 'shared_code',
    code: 'SPRING',
    per_user_limit: null,
    max_redemptions: null,
    budget_minor: 1_000_000_000,
  });
  const traffic = new Traffic({
    clock: h.clock,
    seed,
    redeem: redeemer(h),
    tick: (now_ms) => detection.tickNow(now_ms),
  });
  return { h, detection, c, traffic };
}

describe('detection over HTTP', () => {
  test('a burst at one merchant: auto-paused within 1,000, then 422 campaign_paused; alerts listed', async () => {
    const { h, detection, c, traffic } = await setup();
    await traffic.quiet(75);
    for (let s = 0; s < 5; s++) await traffic.second(traffic.quietCount(), 300);
    await detection.settled();
    console.log(`http burst: paused after ${traffic.totals.burst_ok} burst redemptions`);
    assert.ok(traffic.totals.burst_ok > 0 && traffic.totals.burst_ok <= 1000, `${traffic.totals.burst_ok}`);
    const after = await h.call<{ status: string }>('GET', `/v1/campaigns/${c.id}`);
    assert.equal(after.body.status, 'paused');
    const refused = await redeemer(h)('m1', 1_000_000);
    assert.equal(refused, 'campaign_paused');
    const body = { user_id: 'late', code: 'SPRING', order: orderBody({ id: 'late' }) };
    assertError(await h.call('POST', '/v1/redemptions', { key: 'checkout', body }), 422, 'campaign_paused');

    const list = await h.call<ListWire<AlertWire>>('GET', `/v1/alerts?campaign_id=${c.id}`);
    assert.equal(list.status, 200);
    assert.ok(list.body.data.length >= 1);
    const paused = list.body.data.filter((a) => a.action === 'paused');
    assert.equal(paused.length, 1);
    const [alert] = paused;
    assert.ok(alert);
    assert.deepEqual(Object.keys(alert).sort(), [
      'action',
      'baseline',
      'campaign_id',
      'created_at',
      'id',
      'kind',
      'merchant_id',
      'observed',
      'subject',
    ]);
    assert.match(alert.id, /^alr_/);
    const ids = list.body.data.map((a) => a.id);
    assert.deepEqual(ids, [...ids].sort().reverse(), 'newest first');
    const page = await h.call<ListWire<AlertWire>>('GET', '/v1/alerts?limit=1');
    assert.equal(page.body.data.length, 1);
    assert.equal(page.body.has_more, list.body.data.length > 1);
    const none = await h.call<ListWire<AlertWire>>('GET', '/v1/alerts?campaign_id=cmp_other');
    assert.deepEqual(none.body, { data: [], has_more: false });
    // read keys read alerts (API.md: read is every GET); checkout keys do not.
    const read = await h.call<ListWire<AlertWire>>('GET', '/v1/alerts', { key: 'read' });
    assert.deepEqual(read.body, list.body);
    assertError(await h.call('GET', '/v1/alerts', { key: 'checkout' }), 403, 'forbidden');
    assertError(await h.call('GET', '/v1/alerts?limit=0'), 400, 'invalid_request');
    await assertInvariants(h.store);
  });

  test('a smooth ramp of the same volume over many merchants is not paused', async () => {
    const { h, c, traffic } = await setup();
    await traffic.quiet(75);
    let sent = 0;
    for (let s = 0; sent < 5 * 312; s++) {
      const n = Math.round(12.5 * 2 ** (s / 60) * (0.8 + 0.4 * traffic.rand()));
      await traffic.second(n);
      sent += n;
    }
    const alerts = await h.call<ListWire<AlertWire>>('GET', `/v1/alerts?campaign_id=${c.id}`);
    assert.deepEqual(alerts.body.data, []);
    assert.equal((await h.call<{ status: string }>('GET', `/v1/campaigns/${c.id}`)).body.status, 'active');
    assert.equal(traffic.totals.ok, traffic.totals.attempts);
    await assertInvariants(h.store);
  });
});
