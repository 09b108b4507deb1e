import type { Logger } from 'pino';
import { RedisCounters } from '../engine/redis-counters.ts';

/**
 * Shared velocity counters when REDIS_URL is set (a cluster); otherwise none: the engine
 * counts in process. Waits briefly for the connection; the server starts either way.
 */
export async function redisCounters(url: string | undefined, logger: Logger): Promise<RedisCounters | undefined> {
  if (url === undefined) return undefined;
  const counters = new RedisCounters({
    url,
    onError: (err) =>
      logger.warn(
        { err: { name: err.name, message: err.message } },
        'Redis counters unavailable: velocity-limited campaigns answer 503 until it is back',
      ),
  });
  if (!(await counters.ready()))
    logger.warn('Redis is not reachable yet; velocity-limited campaigns answer 503 until it is');
  return counters;
}
