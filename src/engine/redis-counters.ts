import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { limits } from '../config/limits.ts';
import { type CounterKey, type CounterLimit, type Counters, CountersUnavailable, type Take } from './counters.ts';

/** INCR, and PEXPIRE when the key is new: the window's key lives at least one window. */
const incrLua = `
local out = {}
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('PEXPIRE', key, ARGV[i]) end
  out[i] = n
end
return out`;

/** All below their limits -> count each; else change nothing. Returns the counts before, then 1 or 0. */
const takeLua = `
local n = #KEYS
local out = {}
local admit = 1
for i, key in ipairs(KEYS) do
  local c = tonumber(redis.call('GET', key) or '0')
  out[i] = c
  if c >= tonumber(ARGV[i]) then admit = 0 end
end
if admit == 1 then
  for i, key in ipairs(KEYS) do
    if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, ARGV[n + i]) end
  end
end
out[n + 1] = admit
return out`;

/** DECR only keys that still exist; delete at zero, so an expired window is never recreated. */
const giveBackLua = `
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    if redis.call('DECR', key) <= 0 then redis.call('DEL', key) end
  end
end
return 0`;

interface Script {
  lua: string;
  sha: string;
}

function script(lua: string): Script {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

const scripts = { incr: script(incrLua), take: script(takeLua), giveBack: script(giveBackLua) };

export interface RedisCountersOptions {
  url: string;
  /** Prepended to every key, so several installations can share one Redis. */
  key_prefix?: string;
  /** How long one command may take before the request fails (fail closed, fast). */
  command_timeout_ms?: number;
  /** Told about connection errors (at most one per reconnect cycle); never thrown. */
  onError?: (err: Error) => void;
}

/**
 * Counters in Redis, shared by every node. Each operation is one Lua script (atomic on the
 * server). Nothing is queued while disconnected and no command waits on reconnects, so a
 * Redis outage fails the requests that need it at once instead of piling them up.
 */
export class RedisCounters implements Counters {
  readonly kind = 'redis' as const;
  private readonly client: Redis;
  private readonly prefix: string;
  private reported = false;

  constructor(opts: RedisCountersOptions) {
    this.prefix = opts.key_prefix ?? 'vouchsafe:';
    this.client = new Redis(opts.url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: opts.command_timeout_ms ?? limits.counter_command_timeout_ms,
      connectTimeout: limits.counter_connect_timeout_ms,
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

  /** Waits until connected, at most `timeout_ms`; false when not (commands fail fast until then). */
  async ready(timeout_ms: number = limits.counter_connect_timeout_ms): Promise<boolean> {
    if (this.client.status === 'ready') return true;
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.client.removeListener('ready', onReady);
        resolve(ok);
      };
      const onReady = () => done(true);
      const timer = setTimeout(() => done(false), timeout_ms);
      this.client.once('ready', onReady);
    });
  }

  async get(keys: readonly CounterKey[]): Promise<number[]> {
    if (keys.length === 0) return [];
    const values = await this.call(() => this.client.mget(keys.map((k) => this.prefix + k.key)));
    return values.map((v) => (v === null ? 0 : Math.max(0, Number(v))));
  }

  async incr(keys: readonly CounterKey[]): Promise<number[]> {
    if (keys.length === 0) return [];
    const out = await this.run(
      scripts.incr,
      keys,
      keys.map((k) => k.window_ms),
    );
    return out.map(Number);
  }

  async take(keys: readonly CounterLimit[]): Promise<Take> {
    if (keys.length === 0) return { admitted: true, counts: [] };
    const args = [...keys.map((k) => k.limit), ...keys.map((k) => k.window_ms)];
    const out = (await this.run(scripts.take, keys, args)).map(Number);
    return { admitted: out[keys.length] === 1, counts: out.slice(0, keys.length) };
  }

  async giveBack(keys: readonly CounterKey[]): Promise<void> {
    if (keys.length === 0) return;
    await this.run(scripts.giveBack, keys, []);
  }

  async close(): Promise<void> {
    this.client.disconnect();
  }

  /** EVALSHA, loading the script on the first NOSCRIPT (a fresh or flushed server). */
  private async run(s: Script, keys: readonly CounterKey[], args: readonly number[]): Promise<unknown[]> {
    const names = keys.map((k) => this.prefix + k.key);
    const out = await this.call(async () => {
      try {
        return await this.client.evalsha(s.sha, names.length, ...names, ...args);
      } catch (err) {
        if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
        return this.client.eval(s.lua, names.length, ...names, ...args);
      }
    });
    return Array.isArray(out) ? out : [];
  }

  private async call<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new CountersUnavailable(`Redis counters unavailable: ${why}`);
    }
  }
}
