import { randomBytes } from 'node:crypto';
import { createConnection } from 'node:net';
import { RedisCounters } from '../../src/engine/redis-counters.ts';

/** The Redis server tests use; each test gets its own key prefix, so nothing is flushed. */
export const redis_test_url = process.env.VOUCHSAFE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A port nothing listens on: counters pointed here are "Redis down". */
export const dead_redis_url = 'redis://127.0.0.1:1';

export const redis_unavailable_message = `Redis not reachable at ${redis_test_url}: start it or point VOUCHSAFE_TEST_REDIS_URL at one (under CI, or with that variable set, this fails instead of skipping)`;

/** Redis tests must run, not skip, under CI and whenever VOUCHSAFE_TEST_REDIS_URL is set on purpose. */
function mustRun(): boolean {
  const ci = process.env.CI?.trim().toLowerCase();
  const inCi = ci !== undefined && ci !== '' && ci !== '0' && ci !== 'false';
  return inCi || Boolean(process.env.VOUCHSAFE_TEST_REDIS_URL);
}

function reachable(url: string, timeout_ms = 2000): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const socket = createConnection({ host: u.hostname, port: Number(u.port || 6379) });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeout_ms, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** True when the test Redis answers; throws when it must run but does not (CI). */
export async function redisAvailable(): Promise<boolean> {
  if (await reachable(redis_test_url)) return true;
  if (mustRun()) throw new Error(redis_unavailable_message);
  return false;
}

/** Counters on the test Redis under a fresh prefix (several of them with one prefix act as several nodes). */
export function testRedisCounters(prefix = freshPrefix(), url = redis_test_url): RedisCounters {
  return new RedisCounters({ url, key_prefix: prefix });
}

export function freshPrefix(): string {
  return `vouchsafe-test:${randomBytes(6).toString('hex')}:`;
}

/** Resolves once the client is connected (commands fail fast before that: no offline queue). */
export async function connected(counters: RedisCounters, timeout_ms = 5000): Promise<void> {
  if (!(await counters.ready(timeout_ms))) throw new Error(redis_unavailable_message);
}
