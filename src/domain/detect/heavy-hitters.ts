import { assert } from '../errors.ts';

/** One tracked key: its true weight lies in [count - error, count]. */
export interface HitterEntry {
  key: string;
  count: number;
  error: number;
}

export interface AddResult extends HitterEntry {
  /** The key pushed out to make room, so callers can drop state they keep beside it. */
  evicted: string | null;
}

/** Plain data for a shared store: [key, count, error] triples. */
export interface SpaceSavingState {
  total: number;
  items: [string, number, number][];
}

/**
 * Space-Saving top-k (Metwally et al. 2005) with at most `capacity` entries whatever the number of distinct keys.
 * Any key heavier than total / capacity is guaranteed to be tracked. Entries sit in a min-heap on count, so
 * evicting the lightest costs O(log capacity). Counts can be decayed so the sketch follows recent traffic.
 */
export class SpaceSaving {
  private readonly keys: string[] = [];
  private readonly counts: number[] = [];
  private readonly errors: number[] = [];
  private readonly slots = new Map<string, number>();
  private total_weight = 0;

  constructor(readonly capacity: number) {
    assert(Number.isSafeInteger(capacity) && capacity >= 1, `capacity must be a positive integer, got ${capacity}`);
  }

  get size(): number {
    return this.keys.length;
  }

  /** Weight seen since creation (after decay): the denominator for shares. */
  get total(): number {
    return this.total_weight;
  }

  add(key: string, weight = 1): AddResult {
    assert(Number.isFinite(weight) && weight >= 0, `weight must be finite and >= 0, got ${weight}`);
    this.total_weight += weight;
    const slot = this.slots.get(key);
    if (slot !== undefined) return this.raise(slot, weight, null);
    if (this.keys.length < this.capacity) {
      const fresh = this.push(key, weight, 0);
      const entry = this.entryAt(fresh);
      this.siftUp(fresh);
      return { ...entry, evicted: null };
    }
    // The newcomer replaces the lightest entry and inherits its count as a possible overestimate.
    const evicted = this.keyAt(0);
    this.slots.delete(evicted);
    this.keys[0] = key;
    this.errors[0] = this.countAt(0);
    this.slots.set(key, 0);
    return this.raise(0, weight, evicted);
  }

  get(key: string): HitterEntry | undefined {
    const slot = this.slots.get(key);
    return slot === undefined ? undefined : this.entryAt(slot);
  }

  /** Multiplies every weight by factor in [0, 1] (0 after a long idle gap); order holds, so the heap stays valid. */
  decay(factor: number): void {
    assert(Number.isFinite(factor) && factor >= 0 && factor <= 1, `decay factor must be in [0, 1], got ${factor}`);
    if (factor === 1) return;
    this.total_weight *= factor;
    for (let i = 0; i < this.keys.length; i++) {
      this.counts[i] = this.countAt(i) * factor;
      this.errors[i] = (this.errors[i] ?? 0) * factor;
    }
  }

  /** The n heaviest entries, heaviest first. */
  top(n: number): HitterEntry[] {
    const all = this.keys.map((_, i) => this.entryAt(i));
    return all.sort((a, b) => b.count - a.count).slice(0, Math.max(0, n));
  }

  toJSON(): SpaceSavingState {
    return { total: this.total_weight, items: this.keys.map((key, i) => [key, this.countAt(i), this.errors[i] ?? 0]) };
  }

  static fromJSON(state: SpaceSavingState, capacity: number): SpaceSaving {
    const sketch = new SpaceSaving(capacity);
    assert(Number.isFinite(state.total) && state.total >= 0, 'sketch total must be finite and >= 0');
    assert(Array.isArray(state.items) && state.items.length <= capacity, 'sketch holds more items than its capacity');
    for (const [key, count, error] of state.items) {
      assert(typeof key === 'string' && !sketch.slots.has(key), 'sketch keys must be distinct strings');
      assert(Number.isFinite(count) && Number.isFinite(error) && error >= 0 && error <= count, `bad entry ${key}`);
      sketch.siftUp(sketch.push(key, count, error));
    }
    sketch.total_weight = state.total;
    return sketch;
  }

  private raise(slot: number, weight: number, evicted: string | null): AddResult {
    this.counts[slot] = this.countAt(slot) + weight;
    const entry = this.entryAt(slot);
    this.siftDown(slot);
    return { ...entry, evicted };
  }

  private push(key: string, count: number, error: number): number {
    const slot = this.keys.length;
    this.keys.push(key);
    this.counts.push(count);
    this.errors.push(error);
    this.slots.set(key, slot);
    return slot;
  }

  private keyAt(i: number): string {
    const key = this.keys[i];
    assert(key !== undefined, `no heap slot ${i}`);
    return key;
  }

  private countAt(i: number): number {
    return this.counts[i] ?? 0;
  }

  private entryAt(i: number): HitterEntry {
    return { key: this.keyAt(i), count: this.countAt(i), error: this.errors[i] ?? 0 };
  }

  private swap(i: number, j: number): void {
    const key_i = this.keyAt(i);
    const key_j = this.keyAt(j);
    [this.keys[i], this.keys[j]] = [key_j, key_i];
    [this.counts[i], this.counts[j]] = [this.countAt(j), this.countAt(i)];
    [this.errors[i], this.errors[j]] = [this.errors[j] ?? 0, this.errors[i] ?? 0];
    this.slots.set(key_j, i);
    this.slots.set(key_i, j);
  }

  private siftDown(start: number): void {
    let i = start;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < this.keys.length && this.countAt(left) < this.countAt(smallest)) smallest = left;
      if (right < this.keys.length && this.countAt(right) < this.countAt(smallest)) smallest = right;
      if (smallest === i) return;
      this.swap(i, smallest);
      i = smallest;
    }
  }

  private siftUp(start: number): void {
    let i = start;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.countAt(parent) <= this.countAt(i)) return;
      this.swap(i, parent);
      i = parent;
    }
  }
}
