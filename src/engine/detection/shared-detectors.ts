import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { type DetectorConfig, defaultDetectorConfig } from '../../domain/detect/config.ts';
import { type Alarm, CampaignDetector } from '../../domain/detect/detector.ts';
import { asError } from '../../domain/errors.ts';

/** Runs one step on a campaign's detector with exclusive access, across every node. */
export interface SharedDetectors {
  /** The step's alarms, or null when the state could not be locked or saved (the caller retries later). */
  update(campaign_id: string, step: (detector: CampaignDetector) => Alarm[]): Promise<Alarm[] | null>;
  close(): Promise<void>;
}

export interface RedisDetectorsOptions {
  url: string;
  /** Prepended to every key, so several installations (or test runs) can share one Redis. */
  key_prefix?: string;
  config?: DetectorConfig;
  /** The lock outlives a stalled holder by at most this; a save after it is refused (fenced by token). */
  lock_ms?: number;
  /** An idle campaign's state is forgotten after this (bounded Redis memory). */
  state_ttl_ms?: number;
  onError?: (err: Error) => void;
}

/** Saves the state only while our lock token still holds, then releases the lock: a late writer cannot clobber. */
const saveScript = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
  redis.call('DEL', KEYS[1])
  return 1
end
return 0`;

const releaseScript = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

const lock_attempts_max = 20;

/**
 * Detector state shared through Redis: each campaign's detector JSON under one key, read,
 * advanced and written back under a short per-campaign lock. Nodes buffer observations and
 * apply them in one step per flush, so Redis sees a few commands per flush, not per redemption,
 * and a burst spread over many nodes is judged as the one burst it is.
 */
export class RedisDetectors implements SharedDetectors {
  private readonly client: Redis;
  private readonly prefix: string;
  private readonly config: DetectorConfig;
  private readonly lock_ms: number;
  private readonly state_ttl_ms: number;
  private reported = false;

  constructor(private readonly opts: RedisDetectorsOptions) {
    this.prefix = opts.key_prefix ?? 'vouchsafe:detector:';
    this.config = opts.config ?? defaultDetectorConfig;
    this.lock_ms = opts.lock_ms ?? 2_000;
    this.state_ttl_ms = opts.state_ttl_ms ?? 3_600_000;
    this.client = new Redis(opts.url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: 1_000,
      connectTimeout: 2_000,
      retryStrategy: (times) => Math.min(times * 100, 2000),
    });
    // An 'error' event without a listener would crash the process.
    this.client.on('error', (err: Error) => {
      if (this.reported) return;
      this.reported = true;
      opts.onError?.(err);
    });
    this.client.on('ready', () => {
      this.reported = false;
    });
  }

  async update(campaign_id: string, step: (detector: CampaignDetector) => Alarm[]): Promise<Alarm[] | null> {
    const key = this.prefix + campaign_id;
    const lock = `${key}:lock`;
    const token = randomBytes(12).toString('hex');
    if (!(await this.acquire(lock, token))) return null;
    try {
      const detector = this.parse(await this.client.get(key));
      const alarms = step(detector);
      const state = JSON.stringify(detector.toJSON());
      const saved = await this.client.eval(saveScript, 2, lock, key, token, state, this.state_ttl_ms);
      return saved === 1 ? alarms : null;
    } catch (err) {
      await this.client.eval(releaseScript, 1, lock, token).catch(() => undefined);
      throw err;
    }
  }

  async close(): Promise<void> {
    this.client.disconnect();
  }

  /** Waits for the lock a few times (another node's step takes milliseconds), then gives up for now. */
  private async acquire(lock: string, token: string): Promise<boolean> {
    for (let i = 0; i < lock_attempts_max; i++) {
      if ((await this.client.set(lock, token, 'PX', this.lock_ms, 'NX')) === 'OK') return true;
      await sleep(2 + Math.floor(Math.random() * 8));
    }
    return false;
  }

  /** A missing or unreadable state starts a cold detector (it warms up again) rather than blinding it for good. */
  private parse(raw: string | null): CampaignDetector {
    if (raw === null) return new CampaignDetector(this.config);
    try {
      return CampaignDetector.fromJSON(JSON.parse(raw), this.config);
    } catch (err) {
      this.opts.onError?.(asError(err));
      return new CampaignDetector(this.config);
    }
  }
}
