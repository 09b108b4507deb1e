import type { Velocity } from './campaign.ts';
import { assert, Rejection } from './errors.ts';

/** Who is asking: velocity and lockouts count per user, per device and per IP. */
export interface VelocitySubject {
  user_id: string;
  device_id: string | null;
  ip: string | null;
}

/** One counter the engine reads (and increments) in a shared store such as Redis. */
export interface VelocityBucket {
  /** Unique per scope, dimension, window size, window start and subject: a fresh window is a fresh key. */
  key: string;
  limit: number;
  window_ms: number;
  resets_at_ms: number;
}

export type VelocityDimension = 'user' | 'device' | 'ip';

export const minute_ms = 60_000;
export const day_ms = 24 * 60 * minute_ms;

/** Failed code lookups allowed per window before a subject is locked out of code guessing. */
export const attemptLockout = {
  failures_max: 5,
  /** Many users share one IP behind carrier NAT; locking it after 5 typos would lock them all out. */
  ip_failures_max: 50,
  window_ms: 15 * minute_ms,
} as const;

const velocityFields: readonly { field: keyof Velocity; dimension: VelocityDimension; window_ms: number }[] = [
  { field: 'per_user_per_minute', dimension: 'user', window_ms: minute_ms },
  { field: 'per_device_per_minute', dimension: 'device', window_ms: minute_ms },
  { field: 'per_ip_per_minute', dimension: 'ip', window_ms: minute_ms },
  { field: 'per_user_per_day', dimension: 'user', window_ms: day_ms },
  { field: 'per_device_per_day', dimension: 'device', window_ms: day_ms },
  { field: 'per_ip_per_day', dimension: 'ip', window_ms: day_ms },
];

/**
 * What a velocity limit counts for the subject: the user, the device, and for the IP its network
 * (ipNetwork): an IPv6 address's /64, where one subscriber may take a new address per request,
 * as for the lockout; an IPv4 address itself.
 */
function subjectId(subject: VelocitySubject, dimension: VelocityDimension): string | null {
  switch (dimension) {
    case 'user':
      return subject.user_id;
    case 'device':
      return subject.device_id;
    case 'ip':
      return subject.ip === null ? null : ipNetwork(subject.ip);
  }
}

/** Fixed windows aligned to their size (UTC minutes and days): one counter per window, no sliding log to store. */
export function windowStartMs(now_ms: number, window_ms: number): number {
  assert(Number.isSafeInteger(now_ms) && now_ms >= 0, 'now_ms must be a non-negative integer');
  assert(Number.isSafeInteger(window_ms) && window_ms > 0, 'window_ms must be a positive integer');
  return now_ms - (now_ms % window_ms);
}

/** Parts that callers choose are URI-encoded so no subject can forge another's key. */
function makeBucket(
  scope: string,
  dimension: VelocityDimension,
  id: string,
  limit: number,
  window_ms: number,
  now_ms: number,
): VelocityBucket {
  assert(Number.isSafeInteger(limit) && limit >= 0, `velocity limit must be a non-negative integer, got ${limit}`);
  const start_ms = windowStartMs(now_ms, window_ms);
  const key = `${scope}:${dimension}:${window_ms}:${start_ms}:${encodeURIComponent(id)}`;
  return { key, limit, window_ms, resets_at_ms: start_ms + window_ms };
}

/** The counters a redemption must stay under; none for a null velocity or a missing device or IP. */
export function velocityBuckets(
  velocity: Velocity | null,
  subject: VelocitySubject,
  campaign_id: string,
  now_ms: number,
): VelocityBucket[] {
  if (velocity === null) return [];
  const scope = `vel:${encodeURIComponent(campaign_id)}`;
  const buckets: VelocityBucket[] = [];
  for (const { field, dimension, window_ms } of velocityFields) {
    const limit = velocity[field];
    const id = subjectId(subject, dimension);
    if (limit === null || limit === undefined || id === null) continue;
    buckets.push(makeBucket(scope, dimension, id, limit, window_ms, now_ms));
  }
  return buckets;
}

/** Seconds until every full bucket has reset, or null when none is full. */
function retryAfterS(buckets: readonly VelocityBucket[], counts: readonly number[], now_ms: number): number | null {
  assert(counts.length === buckets.length, `expected ${buckets.length} counts, got ${counts.length}`);
  let wait_ms: number | null = null;
  for (const [i, bucket] of buckets.entries()) {
    const count = counts[i] ?? 0;
    assert(Number.isSafeInteger(count) && count >= 0, `count must be a non-negative integer, got ${count}`);
    if (count >= bucket.limit) wait_ms = Math.max(wait_ms ?? 0, bucket.resets_at_ms - now_ms);
  }
  return wait_ms === null ? null : Math.max(1, Math.ceil(wait_ms / 1000));
}

/** `counts[i]` is bucket i's count before this request: the limit-th request passes, the next is refused. */
export function checkVelocity(
  buckets: readonly VelocityBucket[],
  counts: readonly number[],
  now_ms: number,
): Rejection | null {
  const retry_after_s = retryAfterS(buckets, counts, now_ms);
  if (retry_after_s === null) return null;
  const message = `Too many redemptions in a short time; try again in ${retry_after_s} s.`;
  return new Rejection('rate_limited', message, undefined, retry_after_s);
}

/**
 * The network an address's failures and velocity count against: an IPv4 address itself, an IPv6
 * address's /64 (one subscriber's link: a guesser or redeemer there has 2^64 addresses to move between). `ip` is canonical
 * (the HTTP edge's canonicalIp: compressed, lower case, IPv4-mapped as IPv4).
 */
export function ipNetwork(ip: string): string {
  if (!ip.includes(':')) return ip;
  const [head = '', tail] = ip.split('::');
  const front = head === '' ? [] : head.split(':');
  const back = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...front, ...Array<string>(Math.max(0, 8 - front.length - back.length)).fill('0'), ...back];
  const prefix = groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, ''));
  return `${prefix.join(':')}::/64`;
}

/** Failed-attempt counters for code guessing; not per campaign, because guessers roam across campaigns. */
export function attemptBuckets(subject: VelocitySubject, now_ms: number): VelocityBucket[] {
  const { failures_max, ip_failures_max, window_ms } = attemptLockout;
  const buckets = [makeBucket('att', 'user', subject.user_id, failures_max, window_ms, now_ms)];
  if (subject.device_id !== null) {
    buckets.push(makeBucket('att', 'device', subject.device_id, failures_max, window_ms, now_ms));
  }
  if (subject.ip !== null) {
    buckets.push(makeBucket('att', 'ip', ipNetwork(subject.ip), ip_failures_max, window_ms, now_ms));
  }
  return buckets;
}

/** Locked out once failures reach the maximum: even a correct code waits until the window resets. */
export function checkAttempts(
  buckets: readonly VelocityBucket[],
  counts: readonly number[],
  now_ms: number,
): Rejection | null {
  const retry_after_s = retryAfterS(buckets, counts, now_ms);
  if (retry_after_s === null) return null;
  const message = `Too many wrong codes; try again in ${retry_after_s} s.`;
  return new Rejection('too_many_attempts', message, undefined, retry_after_s);
}
