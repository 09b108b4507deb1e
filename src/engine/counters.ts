import { limits } from '../config/limits.ts';
import { assert } from '../domain/errors.ts';
import type { Clock } from './clock.ts';

/** One fixed-window counter; the key names its window, so a new window is a new key. */
export interface CounterKey {
  key: string;
  /** The window's length: a key lives at least this long after it is first counted. */
  window_ms: number;
}

/** A counter with the most it may reach (velocity buckets have this shape). */
export interface CounterLimit extends CounterKey {
  limit: number;
}

/** What `take` saw: the counts before the request, and whether it was admitted (and counted). */
export interface Take {
  admitted: boolean;
  counts: number[];
  /** Names an admitted take for `giveBack`, so it is undone at most once (shared counters only). */
  token?: string;
}

/**
 * Shared counters for velocity limits and failed-attempt lockouts: in process for one
 * node, Redis for a cluster. Every method may throw CountersUnavailable.
 */
export interface Counters {
  readonly kind: 'memory' | 'redis';
  /** Current counts (0 for a key never counted or expired). */
  get(keys: readonly CounterKey[]): Promise<number[]>;
  /** Adds one to each key; returns the counts after. */
  incr(keys: readonly CounterKey[]): Promise<number[]>;
  /**
   * Atomically: when every count is below its limit, adds one to each; otherwise changes
   * nothing. So N concurrent requests at a limit admit exactly the free places, and a
   * refused request consumes none. A take that throws counted nothing, or is undone once the
   * counters answer again: its caller refuses the request, so it must take no place.
   */
  take(keys: readonly CounterLimit[]): Promise<Take>;
  /**
   * Undoes an admitted take (never below zero, never recreating an expired key); with its
   * token, at most once, and still later when it throws (once the counters answer again).
   */
  giveBack(keys: readonly CounterKey[], token?: string): Promise<void>;
  close(): Promise<void>;
}

/** The counter store cannot be reached: limits that depend on it fail closed (503). */
export class CountersUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CountersUnavailable';
  }
}

interface Slot {
  count: number;
  expires_at_ms: number;
}

/**
 * Counters in one process. Memory is bounded: expired windows are swept as the map grows,
 * and past `keys_max` live keys the oldest are dropped first (a limit then restarts early;
 * that is the price of not growing without bound under a flood of distinct subjects).
 */
export class MemoryCounters implements Counters {
  readonly kind = 'memory' as const;
  private readonly slots = new Map<string, Slot>();
  private next_sweep_size: number;

  constructor(
    private readonly clock: Clock,
    private readonly keys_max: number = limits.memory_counter_keys_max,
  ) {
    assert(Number.isSafeInteger(keys_max) && keys_max > 0, 'keys_max must be a positive integer');
    this.next_sweep_size = Math.min(1024, keys_max);
  }

  get size(): number {
    return this.slots.size;
  }

  async get(keys: readonly CounterKey[]): Promise<number[]> {
    const now_ms = this.clock.now();
    return keys.map((k) => this.live(k.key, now_ms)?.count ?? 0);
  }

  async incr(keys: readonly CounterKey[]): Promise<number[]> {
    const now_ms = this.clock.now();
    return keys.map((k) => this.add(k, now_ms));
  }

  async take(keys: readonly CounterLimit[]): Promise<Take> {
    // Synchronous from check to increment: nothing can interleave inside one process.
    const now_ms = this.clock.now();
    const counts = keys.map((k) => this.live(k.key, now_ms)?.count ?? 0);
    const admitted = keys.every((k, i) => (counts[i] ?? 0) < k.limit);
    if (admitted) for (const k of keys) this.add(k, now_ms);
    return { admitted, counts };
  }

  async giveBack(keys: readonly CounterKey[]): Promise<void> {
    const now_ms = this.clock.now();
    for (const k of keys) {
      const slot = this.live(k.key, now_ms);
      if (slot === undefined) continue;
      slot.count -= 1;
      if (slot.count <= 0) this.slots.delete(k.key);
    }
  }

  async close(): Promise<void> {
    this.slots.clear();
  }

  private live(key: string, now_ms: number): Slot | undefined {
    const slot = this.slots.get(key);
    if (slot === undefined) return undefined;
    if (slot.expires_at_ms > now_ms) return slot;
    this.slots.delete(key);
    return undefined;
  }

  private add(k: CounterKey, now_ms: number): number {
    const slot = this.live(k.key, now_ms);
    if (slot !== undefined) {
      slot.count += 1;
      return slot.count;
    }
    if (this.slots.size >= this.next_sweep_size) this.makeRoom(now_ms);
    this.slots.set(k.key, { count: 1, expires_at_ms: now_ms + k.window_ms });
    return 1;
  }

  /** Sweeps expired keys; when that is not enough, drops the oldest. Amortized O(1) per new key. */
  private makeRoom(now_ms: number): void {
    for (const [key, slot] of this.slots) if (slot.expires_at_ms <= now_ms) this.slots.delete(key);
    if (this.slots.size >= this.keys_max) {
      // Full of live keys: drop an eighth at once, so the next sweep is far away again.
      const keep = this.keys_max - Math.max(1, Math.floor(this.keys_max / 8));
      for (const key of this.slots.keys()) {
        if (this.slots.size <= keep) break;
        this.slots.delete(key);
      }
    }
    this.next_sweep_size = Math.min(this.keys_max, Math.max(1024, this.slots.size * 2));
  }
}
