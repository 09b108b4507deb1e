import type { Logger } from 'pino';
import { Detection } from '../engine/detection/detection.ts';
import { RedisDetectors } from '../engine/detection/shared-detectors.ts';
import type { Engine } from '../engine/engine.ts';

/**
 * The anomaly detector for `serve`: detector state shared through Redis when REDIS_URL is set
 * (a cluster judges one burst spread over its nodes as one), in process otherwise.
 */
export function startDetection(engine: Engine, redis_url: string | undefined, logger: Logger): Detection {
  const shared =
    redis_url === undefined
      ? null
      : new RedisDetectors({
          url: redis_url,
          onError: (err) =>
            logger.warn({ err: { name: err.name, message: err.message } }, 'Redis detector state unavailable'),
        });
  const log = (level: 'info' | 'warn' | 'error', msg: string, data: Record<string, unknown>) =>
    logger[level](data, msg);
  return new Detection(engine, { shared, log }).start();
}
