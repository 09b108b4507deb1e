import { createHash, randomBytes } from 'node:crypto';
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

/**
 * KEYS: the buckets, then the take's token. All below their limits -> count each and keep the
 * token (ARGV: limits, windows, the token's lifetime); else change nothing. Returns the counts
 * before, then 1 or 0.
 */
const takeLua = `
local n = #KEYS - 1
local out = {}
local admit = 1
for i = 1, n do
  local c = tonumber(redis.call('GET', KEYS[i]) or '0')
  out[i] = c
  if c >= tonumber(ARGV[i]) then admit = 0 end
end
if admit == 1 then
  for i = 1, n do
    if redis.call('INCR', KEYS[i]) == 1 then redis.call('PEXPIRE', KEYS[i], ARGV[n + i]) end
  end
  redis.call('SET', KEYS[n + 1], '1', 'PX', ARGV[2 * n + 1])
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

/** KEYS: the buckets, then the take's token. Gives back only while the token is there, and takes it: once. */
const undoLua = `
local n = #KEYS - 1
if redis.call('DEL', KEYS[n + 1]) == 0 then return 0 end
for i = 1, n do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    if redis.call('DECR', KEYS[i]) <= 0 then redis.call('DEL', KEYS[i]) end
  end
end
return 1`;

/** A take to undo once Redis answers: its answer was lost, or its give-back failed. */
interface Undo {
  keys: CounterKey[];
  /** Its token has expired in Redis by then: nothing left to undo. */
  until_ms: number;
}

interface Script {
  lua: string;
  sha: string;
}

function script(lua: string): Script {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

const scripts = {
  incr: script(incrLua),
  take: script(takeLua),
  giveBack: script(giveBackLua),
  undo: script(undoLua),
};

const undo_retry_ms = 1_000;

function tokenKey(token: string): CounterKey {
  return { key: `undo:${token}`, window_ms: 0 };
}

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
  /** By token, in the order they failed; sent again until Redis answers (see take). */
  private readonly undos = new Map<string, Undo>();
  private undoTimer: NodeJS.Timeout | null = null;
  private undoing = false;

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
      void this.sendUndos();
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

  /**
   * A take whose answer does not come (a slow Redis past the command timeout, a dropped
   * connection) may still have been counted: its request is refused all the same (503), so the
   * take is undone, by its token, as soon as Redis answers. Only a take never sent (no connection)
   * has nothing to undo.
   */
  async take(keys: readonly CounterLimit[]): Promise<Take> {
    if (keys.length === 0) return { admitted: true, counts: [] };
    const token = randomBytes(12).toString('hex');
    const lasts_ms = Math.min(limits.counter_undo_ms_max, Math.max(...keys.map((k) => k.window_ms)));
    const args = [...keys.map((k) => k.limit), ...keys.map((k) => k.window_ms), lasts_ms];
    const sent = this.client.status === 'ready';
    let out: number[];
    try {
      out = (await this.run(scripts.take, [...keys, tokenKey(token)], args)).map(Number);
    } catch (err) {
      if (sent) this.undoLater(token, keys, lasts_ms);
      throw err;
    }
    const admitted = out[keys.length] === 1;
    return { admitted, counts: out.slice(0, keys.length), ...(admitted ? { token } : {}) };
  }

  /** With the take's token, at most once; a give-back that fails is sent again once Redis answers. */
  async giveBack(keys: readonly CounterKey[], token?: string): Promise<void> {
    if (keys.length === 0) return;
    if (token === undefined) {
      await this.run(scripts.giveBack, keys, []);
      return;
    }
    try {
      await this.run(scripts.undo, [...keys, tokenKey(token)], []);
    } catch (err) {
      this.undoLater(token, keys, limits.counter_undo_ms_max);
      throw err;
    }
  }

  /** Undos waiting for Redis to answer. */
  get pendingUndos(): number {
    return this.undos.size;
  }

  /** Queues an undo and sends it at once: on the same connection it runs after the command it undoes. */
  private undoLater(token: string, keys: readonly CounterKey[], lasts_ms: number): void {
    if (this.undos.size >= limits.counter_undos_max) {
      const oldest = this.undos.keys().next();
      if (!oldest.done) this.undos.delete(oldest.value);
    }
    this.undos.set(token, { keys: [...keys], until_ms: Date.now() + lasts_ms });
    this.undoTimer ??= setInterval(() => void this.sendUndos(), undo_retry_ms).unref();
    void this.sendUndos();
  }

  /** Sends the waiting undos in order, until one fails (Redis still away: the timer or 'ready' tries again). */
  private async sendUndos(): Promise<void> {
    if (this.undoing) return;
    this.undoing = true;
    try {
      for (const [token, undo] of [...this.undos]) {
        if (undo.until_ms > Date.now()) {
          try {
            // The script itself, not its SHA: a NOSCRIPT answer late from a slow Redis would delay the undo.
            const names = [...undo.keys, tokenKey(token)].map((k) => this.prefix + k.key);
            await this.call(() => this.client.eval(undoLua, names.length, ...names));
          } catch {
            return;
          }
        }
        this.undos.delete(token);
      }
    } finally {
      this.undoing = false;
      if (this.undos.size === 0 && this.undoTimer !== null) {
        clearInterval(this.undoTimer);
        this.undoTimer = null;
      }
    }
  }

  async close(): Promise<void> {
    if (this.undoTimer !== null) clearInterval(this.undoTimer);
    this.undoTimer = null;
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
