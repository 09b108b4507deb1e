import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Lru } from '../../src/engine/detection/lru.ts';

test('Lru evicts the least recently set or got; peek, has and delete leave the order alone', () => {
  const lru = new Lru<string, number>(2);
  assert.equal(lru.set('a', 1), undefined);
  assert.equal(lru.set('b', 2), undefined);
  assert.equal(lru.peek('a'), 1, 'peek reads without touching');
  assert.equal(lru.set('c', 3), 'a', 'a was the oldest: peeking it did not save it');
  assert.equal(lru.get('b'), 2);
  assert.equal(lru.set('d', 4), 'c', 'b was touched by get, so c goes');
  assert.deepEqual([lru.has('b'), lru.has('c'), lru.size], [true, false, 2]);
  assert.equal(lru.delete('b'), true);
  assert.equal(lru.delete('b'), false);
  assert.equal(lru.set('e', 5), undefined, 'room again after a delete');
  assert.deepEqual([...lru.values()], [4, 5]);
  assert.throws(() => new Lru(0));
});
