import { assert } from '../../domain/errors.ts';

/** A Map bounded to `max` entries that evicts the least recently touched (Map keeps insertion order). */
export class Lru<K, V> {
  private readonly map = new Map<K, V>();

  constructor(readonly max: number) {
    assert(Number.isSafeInteger(max) && max >= 1, `LRU bound must be >= 1, got ${max}`);
  }

  get size(): number {
    return this.map.size;
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  /** The value, left where it is in the order. */
  peek(key: K): V | undefined {
    return this.map.get(key);
  }

  delete(key: K): boolean {
    return this.map.delete(key);
  }

  /** The value, marked as most recently used. */
  get(key: K): V | undefined {
    const value = this.map.get(key);
    if (value === undefined) return undefined;
    this.map.delete(key);
    this.map.set(key, value);
    return value;
  }

  /** Sets and marks as most recently used; returns the evicted key, if any. */
  set(key: K, value: V): K | undefined {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size <= this.max) return undefined;
    const oldest = this.map.keys().next();
    if (oldest.done) return undefined;
    this.map.delete(oldest.value);
    return oldest.value;
  }

  values(): IterableIterator<V> {
    return this.map.values();
  }
}
