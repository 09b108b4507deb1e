import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvariantViolation } from '../errors.ts';
import { cusumNext, cusumUpdate } from './cusum.ts';

const params = { k: 1, h: 8 };

/** Runs z samples through the CUSUM; returns the 1-based index of each signal. */
function signals(zs: number[]): number[] {
  let s = 0;
  const at: number[] = [];
  zs.forEach((z, i) => {
    const step = cusumUpdate(s, z, params);
    s = step.s;
    if (step.signal) at.push(i + 1);
  });
  return at;
}

describe('cusum', () => {
  test('in control (z never above the slack) it never accumulates', () => {
    let s = 0;
    for (let i = 0; i < 10_000; i++) {
      const step = cusumUpdate(s, Math.sin(i), params);
      assert.equal(step.signal, false);
      s = step.s;
    }
    assert.equal(s, 0);
  });

  test('a persistent 3-sigma shift signals on the 5th sample (2+2+2+2+2 > 8), then starts over', () => {
    assert.deepEqual(signals(new Array(10).fill(3)), [5, 10]);
  });

  test('a small persistent shift a threshold on z would miss is caught', () => {
    const zs = new Array(100).fill(1.5);
    assert.ok(zs.every((z) => z < 3));
    assert.deepEqual(signals(zs).slice(0, 1), [17]);
  });

  test('one huge sample signals at once; evidence below zero is not banked', () => {
    assert.deepEqual(signals([10]), [1]);
    assert.equal(cusumNext(0, -50, params), 0);
    assert.deepEqual(signals([...new Array(100).fill(-5), 3, 3, 3, 3]), []);
  });

  test('rejects bad parameters and state', () => {
    assert.throws(() => cusumUpdate(0, 1, { k: -1, h: 8 }), InvariantViolation);
    assert.throws(() => cusumUpdate(0, 1, { k: 1, h: 0 }), InvariantViolation);
    assert.throws(() => cusumUpdate(-1, 1, params), InvariantViolation);
    assert.throws(() => cusumUpdate(0, Number.POSITIVE_INFINITY, params), InvariantViolation);
  });
});
