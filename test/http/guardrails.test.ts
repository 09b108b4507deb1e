import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { codeAlphabet } from '../../src/domain/codes.ts';
import { attemptLockout } from '../../src/domain/velocity.ts';
import { RedisCounters } from '../../src/engine/redis-counters.ts';
import type { CampaignWire } from '../../src/http/views.ts';
import { dead_redis_url } from '../support/redis.ts';
import { activeCampaign, assertError, assertInvariants, httpHarness, orderBody } from './harness.ts';

let seq = 0;

function redemption(code: string, over: Record<string, unknown> = {}) {
  return { user_id: 'u1', code, order: orderBody({ id: `o${++seq}` }), device_id: 'd1', ip: '203.0.113.9', ...over };
}

describe('HTTP guardrails', () => {
  test('velocity: the limit-th redemption passes, the next is 429 rate_limited with Retry-After', async () => {
    const h = await httpHarness();
    const c = await activeCampaign(h, {
      code_mode: 'shared_code',
      code: 'VELO',
      per_user_limit: 100,
      velocity: { per_user_per_minute: 2, per_device_per_minute: 10, per_ip_per_minute: 30 },
    });
    assert.deepEqual(c.velocity, { per_user_per_minute: 2, per_device_per_minute: 10, per_ip_per_minute: 30 });
    for (let i = 0; i < 2; i++) {
      const ok = await h.call('POST', '/v1/redemptions', { key: 'checkout', body: redemption('VELO') });
      assert.equal(ok.status, 201, JSON.stringify(ok.body));
    }
    const limited = await h.call('POST', '/v1/redemptions', { key: 'checkout', body: redemption('VELO') });
    assertError(limited, 429, 'rate_limited');
    assert.equal(limited.headers['retry-after'], '60');
    const other = await h.call('POST', '/v1/redemptions', {
      key: 'checkout',
      body: redemption('VELO', { user_id: 'u2' }),
    });
    assert.equal(other.status, 201);
    await assertInvariants(h.store);
  });

  test('lockout: failures_max wrong codes on validations and redemptions, then 429 too_many_attempts with Retry-After', async () => {
    const h = await httpHarness();
    const c = await activeCampaign(h, { code_mode: 'unique_codes', per_user_limit: 10 });
    const codes = await h.call<{ codes: string[] }>('POST', `/v1/campaigns/${c.id}/codes`, { body: { count: 2 } });
    const good = codes.body.codes[0] ?? '';
    for (let i = 0; i < attemptLockout.failures_max; i++) {
      const wrong = `${'Z'.repeat(15)}${i}`;
      if (i % 2 === 0) {
        const v = await h.call<{ valid: boolean; reason: { code: string } }>('POST', '/v1/validations', {
          key: 'checkout',
          body: redemption(wrong),
        });
        assert.equal(v.status, 200);
        assert.equal(v.body.reason.code, 'coupon_not_found');
      } else {
        assertError(
          await h.call('POST', '/v1/redemptions', { key: 'checkout', body: redemption(wrong) }),
          404,
          'coupon_not_found',
        );
      }
    }
    for (const url of ['/v1/validations', '/v1/redemptions']) {
      const locked = await h.call('POST', url, { key: 'checkout', body: redemption(good) });
      assertError(locked, 429, 'too_many_attempts');
      assert.ok(Number(locked.headers['retry-after']) > 0);
    }
    const other = await h.call('POST', '/v1/redemptions', {
      key: 'checkout',
      body: redemption(good, { user_id: 'u2', device_id: 'd2' }),
    });
    assert.equal(other.status, 201, 'a correct code from another user on the same IP still works');
  });

  test('Redis down: a velocity-limited campaign answers 503 store_unavailable with Retry-After; others keep working', async () => {
    const h = await httpHarness({ counters: new RedisCounters({ url: dead_redis_url }) });
    await activeCampaign(h, {
      code_mode: 'shared_code',
      code: 'LIMITED',
      per_user_limit: 5,
      velocity: { per_ip_per_minute: 5 },
    });
    const open: CampaignWire = await activeCampaign(h, { code_mode: 'shared_code', code: 'OPEN', per_user_limit: 5 });
    assert.equal(open.velocity, null);
    const down = await h.call('POST', '/v1/redemptions', { key: 'checkout', body: redemption('LIMITED') });
    assertError(down, 503, 'store_unavailable');
    assert.ok(Number(down.headers['retry-after']) >= 1);
    const fine = await h.call('POST', '/v1/redemptions', { key: 'checkout', body: redemption('OPEN') });
    assert.equal(fine.status, 201);
    const health = await h.call('GET', '/healthz', { key: null });
    assert.equal(health.status, 200);
    await h.engine.close();
  });
  test('one IP written several ways is one IP: velocity and the lockout count its spellings together', async () => {
    const h = await httpHarness();
    await activeCampaign(h, {
      code_mode: 'shared_code',
      code: 'VELO6',
      per_user_limit: 100,
      velocity: { per_ip_per_minute: 2 },
    });
    const v6 = ['2001:db8::7', '2001:DB8:0:0:0:0:0:7', '2001:0db8::0007'];
    for (const [i, ip] of v6.entries()) {
      const res = await h.call('POST', '/v1/redemptions', {
        key: 'checkout',
        body: redemption('VELO6', { user_id: `v${i}`, device_id: `vd${i}`, ip }),
      });
      if (i < 2) assert.equal(res.status, 201, JSON.stringify(res.body));
      else assertError(res, 429, 'rate_limited');
    }
    const c = await activeCampaign(h, { code_mode: 'unique_codes', per_user_limit: 10 });
    const codes = await h.call<{ codes: string[] }>('POST', `/v1/campaigns/${c.id}/codes`, { body: { count: 1 } });
    // 203.0.113.77 as IPv4, IPv4-mapped IPv6 (dotted and hex, any case) and uncompressed IPv6.
    const v4 = ['203.0.113.77', '::ffff:203.0.113.77', '::FFFF:CB00:714D', '0:0:0:0:0:ffff:203.0.113.77'];
    for (let i = 0; i < attemptLockout.ip_failures_max; i++) {
      const wrong = `${'Z'.repeat(14)}${codeAlphabet.charAt(i % 32)}${codeAlphabet.charAt(Math.floor(i / 32))}`;
      // A new user and device each time: only the IP can tell these guesses come from one place.
      const body = redemption(wrong, { user_id: `g${i}`, device_id: `gd${i}`, ip: v4[i % v4.length] });
      assertError(await h.call('POST', '/v1/redemptions', { key: 'checkout', body }), 404, 'coupon_not_found');
    }
    const late = redemption(codes.body.codes[0] ?? '', { user_id: 'late', device_id: 'late', ip: '203.0.113.77' });
    assertError(await h.call('POST', '/v1/redemptions', { key: 'checkout', body: late }), 429, 'too_many_attempts');
    await assertInvariants(h.store);
  });

  test("per-IP velocity counts an IPv6 address's whole /64: a new address per redemption is one network", async () => {
    const h = await httpHarness();
    await activeCampaign(h, {
      code_mode: 'shared_code',
      code: 'VELO64',
      per_user_limit: 100,
      velocity: { per_ip_per_minute: 2 },
    });
    // A new user, device and address each time, all in one subscriber's /64.
    const ips = ['2001:db8:1:2::1', '2001:db8:1:2::2', '2001:db8:1:2:ffff:ffff:ffff:ffff'];
    for (const [i, ip] of ips.entries()) {
      const res = await h.call('POST', '/v1/redemptions', {
        key: 'checkout',
        body: redemption('VELO64', { user_id: `n${i}`, device_id: `nd${i}`, ip }),
      });
      if (i < 2) assert.equal(res.status, 201, JSON.stringify(res.body));
      else assertError(res, 429, 'rate_limited');
    }
    // Another /64 is another network.
    const next = await h.call('POST', '/v1/redemptions', {
      key: 'checkout',
      body: redemption('VELO64', { user_id: 'n9', device_id: 'nd9', ip: '2001:db8:1:3::1' }),
    });
    assert.equal(next.status, 201, JSON.stringify(next.body));
    await assertInvariants(h.store);
  });

  test("a request that names no ip counts no IP: the checkout server's own address is never locked out or limited", async () => {
    // Every request here comes from one address (the checkout server's, or a load balancer's).
    const h = await httpHarness();
    const c = await activeCampaign(h, { code_mode: 'unique_codes', per_user_limit: 10 });
    const codes = await h.call<{ codes: string[] }>('POST', `/v1/campaigns/${c.id}/codes`, { body: { count: 1 } });
    // Shoppers' typos through that server: more than an IP's lockout allows, each under the user limit.
    for (let i = 0; i < attemptLockout.ip_failures_max + 5; i++) {
      const wrong = `${'Z'.repeat(14)}${codeAlphabet.charAt(i % 32)}${codeAlphabet.charAt(Math.floor(i / 32))}`;
      const body = redemption(wrong, { user_id: `t${i}`, device_id: null, ip: undefined });
      assertError(await h.call('POST', '/v1/redemptions', { key: 'checkout', body }), 404, 'coupon_not_found');
    }
    const next = redemption(codes.body.codes[0] ?? '', { user_id: 'next', device_id: null, ip: undefined });
    const ok = await h.call<{ id: string }>('POST', '/v1/redemptions', { key: 'checkout', body: next });
    assert.equal(ok.status, 201, `the next shopper's right code redeems: ${JSON.stringify(ok.body)}`);
    assert.equal((await h.store.getRedemption(ok.body.id))?.ip, null, 'no IP stored for it');
    // Per-IP velocity: only requests that name an ip count.
    await activeCampaign(h, {
      code_mode: 'shared_code',
      code: 'PERIP',
      per_user_limit: 100,
      velocity: { per_ip_per_minute: 2 },
    });
    for (let i = 0; i < 4; i++) {
      const body = redemption('PERIP', { user_id: `p${i}`, device_id: null, ip: undefined });
      const res = await h.call('POST', '/v1/redemptions', { key: 'checkout', body });
      assert.equal(res.status, 201, JSON.stringify(res.body));
    }
    await assertInvariants(h.store);
  });
});
