import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { Velocity } from './campaign.ts';
import { Rejection } from './errors.ts';
import {
  attemptBuckets,
  attemptLockout,
  checkAttempts,
  checkVelocity,
  day_ms,
  ipNetwork,
  minute_ms,
  type VelocityBucket,
  type VelocitySubject,
  velocityBuckets,
  windowStartMs,
} from './velocity.ts';

const seed = Number(process.env.FC_SEED ?? 20_190_119);
console.log(`fast-check seed: ${seed}`);

const day0_ms = Date.UTC(2019, 0, 19);
const subject: VelocitySubject = { user_id: 'u1', device_id: 'd1', ip: '203.0.113.7' };
const allLimits: Velocity = {
  per_user_per_minute: 3,
  per_device_per_minute: 4,
  per_ip_per_minute: 30,
  per_user_per_day: 10,
  per_device_per_day: 20,
  per_ip_per_day: 500,
};

/** Plays requests through the buckets like the engine would: check, then count the accepted one. */
function play(velocity: Velocity, times_ms: number[], store = new Map<string, number>()): (Rejection | null)[] {
  return times_ms.map((now_ms) => {
    const buckets = velocityBuckets(velocity, subject, 'cmp_1', now_ms);
    const refusal = checkVelocity(
      buckets,
      buckets.map((b) => store.get(b.key) ?? 0),
      now_ms,
    );
    if (refusal === null) for (const b of buckets) store.set(b.key, (store.get(b.key) ?? 0) + 1);
    return refusal;
  });
}

describe('velocityBuckets', () => {
  test('null velocity and an empty velocity give no buckets', () => {
    assert.deepEqual(velocityBuckets(null, subject, 'cmp_1', day0_ms), []);
    assert.deepEqual(velocityBuckets({}, subject, 'cmp_1', day0_ms), []);
    assert.deepEqual(velocityBuckets({ per_user_per_minute: null }, subject, 'cmp_1', day0_ms), []);
  });

  test('one bucket per set limit, each key distinct', () => {
    const buckets = velocityBuckets(allLimits, subject, 'cmp_1', day0_ms + 90_000);
    assert.equal(buckets.length, 6);
    assert.equal(new Set(buckets.map((b) => b.key)).size, 6);
    assert.deepEqual(
      buckets.map((b) => b.limit),
      [3, 4, 30, 10, 20, 500],
    );
  });

  test('a missing device or IP has no bucket; the user always does', () => {
    const buckets = velocityBuckets(allLimits, { user_id: 'u1', device_id: null, ip: null }, 'cmp_1', day0_ms);
    assert.deepEqual(
      buckets.map((b) => b.limit),
      [3, 10],
    );
  });

  test('windows are aligned to their size', () => {
    const now_ms = day0_ms + 5 * 3_600_000 + 90_500;
    const [minute, , , day] = velocityBuckets(allLimits, subject, 'cmp_1', now_ms);
    assert.equal(minute?.window_ms, minute_ms);
    assert.equal(minute?.resets_at_ms, day0_ms + 5 * 3_600_000 + 120_000);
    assert.equal(day?.window_ms, day_ms);
    assert.equal(day?.resets_at_ms, day0_ms + day_ms);
    assert.equal(windowStartMs(now_ms, minute_ms), day0_ms + 5 * 3_600_000 + 60_000);
  });

  test('keys differ by campaign, dimension, subject and window start, and repeat within a window', () => {
    const key = (v: Velocity, s: VelocitySubject, c: string, now_ms: number): string =>
      velocityBuckets(v, s, c, now_ms)[0]?.key ?? '';
    const base = key({ per_user_per_minute: 1 }, subject, 'cmp_1', day0_ms);
    assert.equal(key({ per_user_per_minute: 1 }, subject, 'cmp_1', day0_ms + 59_999), base);
    assert.notEqual(key({ per_user_per_minute: 1 }, subject, 'cmp_1', day0_ms + 60_000), base);
    assert.notEqual(key({ per_user_per_minute: 1 }, subject, 'cmp_2', day0_ms), base);
    assert.notEqual(key({ per_user_per_minute: 1 }, { ...subject, user_id: 'u2' }, 'cmp_1', day0_ms), base);
    assert.notEqual(key({ per_device_per_minute: 1 }, { ...subject, device_id: 'u1' }, 'cmp_1', day0_ms), base);
    assert.notEqual(key({ per_user_per_day: 1 }, subject, 'cmp_1', day0_ms), base);
  });

  test('separators inside ids cannot forge another key', () => {
    const a = velocityBuckets({ per_user_per_minute: 1 }, { ...subject, user_id: 'x' }, 'c:user:60000', day0_ms);
    const b = velocityBuckets({ per_user_per_minute: 1 }, { ...subject, user_id: `60000:${day0_ms}:x` }, 'c', day0_ms);
    assert.notEqual(a[0]?.key, b[0]?.key);
  });
});

describe('checkVelocity', () => {
  test('the limit-th request in a window passes, the next one is refused', () => {
    const results = play(
      { per_user_per_minute: 3 },
      [0, 1, 2, 3].map((i) => day0_ms + i * 1000),
    );
    assert.deepEqual(
      results.map((r) => r?.code ?? 'ok'),
      ['ok', 'ok', 'ok', 'rate_limited'],
    );
  });

  test('a new window starts a new count', () => {
    const store = new Map<string, number>();
    const full = play({ per_user_per_minute: 2 }, [day0_ms + 58_000, day0_ms + 59_000, day0_ms + 59_999], store);
    assert.deepEqual(
      full.map((r) => r?.code ?? 'ok'),
      ['ok', 'ok', 'rate_limited'],
    );
    const next = play({ per_user_per_minute: 2 }, [day0_ms + 60_000, day0_ms + 60_001, day0_ms + 60_002], store);
    assert.deepEqual(
      next.map((r) => r?.code ?? 'ok'),
      ['ok', 'ok', 'rate_limited'],
    );
  });

  test('a day limit holds across minutes', () => {
    const times = Array.from({ length: 6 }, (_, i) => day0_ms + i * minute_ms);
    const results = play({ per_user_per_minute: 2, per_user_per_day: 5 }, times);
    assert.deepEqual(
      results.map((r) => r?.code ?? 'ok'),
      ['ok', 'ok', 'ok', 'ok', 'ok', 'rate_limited'],
    );
    assert.equal(results[5]?.retry_after_s, (day_ms - 5 * minute_ms) / 1000);
  });

  test('retry_after_s rounds up to whole seconds and is at least 1', () => {
    const bucket = (resets_at_ms: number): VelocityBucket => ({
      key: 'k',
      limit: 1,
      window_ms: minute_ms,
      resets_at_ms,
    });
    assert.equal(checkVelocity([bucket(day0_ms + 60_000)], [1], day0_ms)?.retry_after_s, 60);
    assert.equal(checkVelocity([bucket(day0_ms + 60_000)], [1], day0_ms + 1)?.retry_after_s, 60);
    assert.equal(checkVelocity([bucket(day0_ms + 60_000)], [1], day0_ms + 59_001)?.retry_after_s, 1);
    assert.equal(checkVelocity([bucket(day0_ms + 60_000)], [1], day0_ms + 59_999)?.retry_after_s, 1);
    assert.equal(checkVelocity([bucket(day0_ms)], [1], day0_ms + 5)?.retry_after_s, 1);
  });

  test('with several full buckets, retry_after_s waits for the last one to reset', () => {
    const now_ms = day0_ms + 10 * minute_ms + 30_000;
    const buckets = velocityBuckets({ per_user_per_minute: 1, per_ip_per_day: 1 }, subject, 'cmp_1', now_ms);
    const refusal = checkVelocity(buckets, [1, 1], now_ms);
    assert.ok(refusal instanceof Rejection);
    assert.equal(refusal.code, 'rate_limited');
    assert.equal(refusal.retry_after_s, (day_ms - 10 * minute_ms - 30_000) / 1000);
    assert.equal(checkVelocity(buckets, [1, 0], now_ms)?.retry_after_s, 30);
  });

  test('a limit of 0 refuses everything; no buckets refuse nothing', () => {
    assert.equal(play({ per_ip_per_minute: 0 }, [day0_ms])[0]?.code, 'rate_limited');
    assert.equal(checkVelocity([], [], day0_ms), null);
  });

  test('counts must match the buckets', () => {
    const buckets = velocityBuckets(allLimits, subject, 'cmp_1', day0_ms);
    assert.throws(() => checkVelocity(buckets, [0], day0_ms), /expected 6 counts/);
  });

  test('property: refused iff some count reaches its limit, retry within the window', () => {
    const arb = fc.record({
      now_ms: fc.integer({ min: 0, max: 4_102_444_800_000 }),
      limit: fc.integer({ min: 0, max: 100 }),
      count: fc.integer({ min: 0, max: 120 }),
      day: fc.boolean(),
    });
    fc.assert(
      fc.property(arb, ({ now_ms, limit, count, day }) => {
        const velocity: Velocity = day ? { per_device_per_day: limit } : { per_device_per_minute: limit };
        const buckets = velocityBuckets(velocity, subject, 'cmp_1', now_ms);
        const refusal = checkVelocity(buckets, [count], now_ms);
        assert.equal(refusal !== null, count >= limit);
        if (refusal === null) return;
        const window_s = (day ? day_ms : minute_ms) / 1000;
        assert.ok(refusal.retry_after_s !== undefined && refusal.retry_after_s >= 1);
        assert.ok(refusal.retry_after_s <= window_s);
      }),
      { seed, numRuns: 500 },
    );
  });
});

describe('failed-attempt lockout', () => {
  test('buckets per user, device and IP over one aligned window', () => {
    const now_ms = day0_ms + 20 * minute_ms;
    const buckets = attemptBuckets(subject, now_ms);
    assert.deepEqual(
      buckets.map((b) => b.limit),
      [attemptLockout.failures_max, attemptLockout.failures_max, attemptLockout.ip_failures_max],
    );
    for (const b of buckets) assert.equal(b.resets_at_ms, day0_ms + 30 * minute_ms);
    assert.equal(attemptBuckets({ user_id: 'u1', device_id: null, ip: null }, now_ms).length, 1);
  });

  test('the 5th failure is still allowed a try; after it the subject is locked out', () => {
    const buckets = attemptBuckets(subject, day0_ms);
    assert.equal(checkAttempts(buckets, [attemptLockout.failures_max - 1, 0, 0], day0_ms), null);
    const refusal = checkAttempts(buckets, [attemptLockout.failures_max, 0, 0], day0_ms + 60_000);
    assert.ok(refusal instanceof Rejection);
    assert.equal(refusal.code, 'too_many_attempts');
    assert.equal(refusal.retry_after_s, 14 * 60);
    assert.equal(checkAttempts(buckets, [0, attemptLockout.failures_max, 0], day0_ms)?.code, 'too_many_attempts');
  });

  test('an IP tolerates more failures than one user, then locks too', () => {
    const buckets = attemptBuckets(subject, day0_ms);
    assert.equal(checkAttempts(buckets, [0, 0, attemptLockout.ip_failures_max - 1], day0_ms), null);
    assert.equal(checkAttempts(buckets, [0, 0, attemptLockout.ip_failures_max], day0_ms)?.code, 'too_many_attempts');
  });

  test("an IPv6 address's failures count against its /64, an IPv4 address's against itself", () => {
    for (const [ip, network] of [
      ['203.0.113.77', '203.0.113.77'],
      ['2001:db8:1:2:aaaa:bbbb:cccc:dddd', '2001:db8:1:2::/64'],
      ['2001:db8:1:2::1', '2001:db8:1:2::/64'],
      ['2001:db8::1', '2001:db8:0:0::/64'],
      ['2001:db8:0:0:1::', '2001:db8:0:0::/64'],
      ['::1', '0:0:0:0::/64'],
      ['fe80:0:0:0:1:2:3:4', 'fe80:0:0:0::/64'],
    ] as const) {
      assert.equal(ipNetwork(ip), network, ip);
    }
    const key = (ip: string) => attemptBuckets({ user_id: 'u1', device_id: null, ip }, day0_ms)[1]?.key;
    assert.equal(key('2001:db8:1:2::1'), key('2001:db8:1:2:ffff::9'));
    assert.notEqual(key('2001:db8:1:2::1'), key('2001:db8:1:3::1'));
    assert.notEqual(key('203.0.113.77'), key('203.0.113.78'));
  });

  test("per-IP velocity counts an IPv6 address's /64 and an IPv4 address itself", () => {
    const key = (ip: string) =>
      velocityBuckets({ per_ip_per_minute: 1 }, { user_id: 'u1', device_id: null, ip }, 'c', day0_ms)[0]?.key;
    assert.equal(key('2001:db8:1:2::1'), key('2001:db8:1:2:ffff::9'));
    assert.notEqual(key('2001:db8:1:2::1'), key('2001:db8:1:3::1'));
    assert.notEqual(key('203.0.113.77'), key('203.0.113.78'));
  });

  test('attempt keys do not collide with velocity keys and roll over with the window', () => {
    const attempt = attemptBuckets(subject, day0_ms)[0]?.key;
    const velocity = velocityBuckets({ per_user_per_minute: 1 }, subject, 'att', day0_ms)[0]?.key;
    assert.notEqual(attempt, velocity);
    assert.notEqual(attemptBuckets(subject, day0_ms + attemptLockout.window_ms)[0]?.key, attempt);
  });
});
