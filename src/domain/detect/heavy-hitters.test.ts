import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { InvariantViolation } from '../errors.ts';
import { SpaceSaving } from './heavy-hitters.ts';

const seed = Number(process.env.FC_SEED ?? 20_190_119);
console.log(`fast-check seed: ${seed}`);

function exactCounts(stream: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const key of stream) counts.set(key, (counts.get(key) ?? 0) + 1);
  return counts;
}

/** Skewed streams: a few keys repeat a lot, many appear once or twice. */
const streamArb = fc.array(
  fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom('hot-a', 'hot-b', 'hot-c') },
    { weight: 7, arbitrary: fc.integer({ min: 0, max: 500 }).map((i) => `k${i}`) },
  ),
  { maxLength: 2000 },
);

describe('SpaceSaving', () => {
  test('property: bounded size, true count within [count - error, count], heavy keys always kept', () => {
    fc.assert(
      fc.property(streamArb, fc.integer({ min: 1, max: 40 }), (stream, capacity) => {
        const sketch = new SpaceSaving(capacity);
        for (const key of stream) sketch.add(key);
        const exact = exactCounts(stream);
        assert.ok(sketch.size <= capacity);
        assert.equal(sketch.total, stream.length);
        for (const { key, count, error } of sketch.top(capacity)) {
          const truth = exact.get(key) ?? 0;
          assert.ok(count - error <= truth && truth <= count, `${key}: ${truth} not in [${count - error}, ${count}]`);
        }
        for (const [key, truth] of exact) {
          if (truth > stream.length / capacity) assert.ok(sketch.get(key) !== undefined, `heavy ${key} lost`);
        }
      }),
      { seed, numRuns: 200 },
    );
  });

  test('finds the one heavy key among 100,000 one-off keys with 50 entries', () => {
    const sketch = new SpaceSaving(50);
    for (let i = 0; i < 100_000; i++) {
      sketch.add(`once-${i}`);
      if (i % 20 === 0) sketch.add('abuser');
    }
    assert.equal(sketch.size, 50);
    const [top] = sketch.top(1);
    assert.equal(top?.key, 'abuser');
    assert.ok(top !== undefined && top.count - top.error >= 5000 - 1, `abuser lower bound ${top?.count}`);
  });

  test('uniform traffic makes no key look heavy: lower bounds stay tiny', () => {
    const sketch = new SpaceSaving(20);
    for (let round = 0; round < 50; round++) for (let i = 0; i < 1000; i++) sketch.add(`k${i}`);
    for (const { count, error } of sketch.top(20)) assert.ok(count - error <= 50, `lower bound ${count - error}`);
  });

  test('reports the evicted key so callers can drop what they keep beside it', () => {
    const sketch = new SpaceSaving(2);
    assert.equal(sketch.add('a', 5).evicted, null);
    assert.equal(sketch.add('b', 3).evicted, null);
    const result = sketch.add('c');
    assert.equal(result.evicted, 'b');
    assert.deepEqual({ count: result.count, error: result.error }, { count: 4, error: 3 });
    assert.equal(sketch.get('b'), undefined);
  });

  test('decay scales every weight and keeps the order', () => {
    const sketch = new SpaceSaving(3);
    sketch.add('a', 8);
    sketch.add('b', 4);
    sketch.decay(0.5);
    assert.deepEqual(sketch.top(3), [
      { key: 'a', count: 4, error: 0 },
      { key: 'b', count: 2, error: 0 },
    ]);
    assert.equal(sketch.total, 6);
    sketch.decay(0);
    assert.equal(sketch.total, 0);
    assert.throws(() => sketch.decay(1.5), InvariantViolation);
  });

  test('toJSON / fromJSON round-trips and keeps working', () => {
    const sketch = new SpaceSaving(5);
    for (let i = 0; i < 100; i++) sketch.add(`k${i % 9}`, 1 + (i % 3));
    const copy = SpaceSaving.fromJSON(JSON.parse(JSON.stringify(sketch.toJSON())), 5);
    assert.deepEqual(copy.top(5), sketch.top(5));
    assert.deepEqual(copy.add('new'), sketch.add('new'));
    assert.deepEqual(copy.top(5), sketch.top(5));
  });

  test('fromJSON refuses state that breaks the sketch', () => {
    const items: [string, number, number][] = [
      ['a', 1, 0],
      ['b', 1, 0],
    ];
    assert.throws(() => SpaceSaving.fromJSON({ total: 2, items }, 1), InvariantViolation);
    assert.throws(() => SpaceSaving.fromJSON({ total: 2, items: [...items, ['a', 1, 0]] }, 5), InvariantViolation);
    assert.throws(() => SpaceSaving.fromJSON({ total: 2, items: [['a', 1, 2]] }, 5), InvariantViolation);
    assert.throws(() => SpaceSaving.fromJSON({ total: -1, items: [] }, 5), InvariantViolation);
    assert.throws(() => new SpaceSaving(0), InvariantViolation);
  });
});
