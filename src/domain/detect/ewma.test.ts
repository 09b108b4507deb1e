import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { InvariantViolation } from '../errors.ts';
import { type EwmaState, ewmaEmpty, ewmaStd, ewmaUpdate } from './ewma.ts';

const seed = Number(process.env.FC_SEED ?? 20_190_119);
console.log(`fast-check seed: ${seed}`);

function feed(samples: number[], alpha: number, state: EwmaState = ewmaEmpty): EwmaState {
  return samples.reduce((s, x) => ewmaUpdate(s, x, alpha), state);
}

describe('ewma', () => {
  test('a constant rate becomes the mean with no spread', () => {
    const state = feed(new Array(300).fill(12), 0.1);
    assert.ok(Math.abs(state.mean - 12) < 1e-9);
    assert.ok(ewmaStd(state) < 1e-3);
    assert.equal(state.samples, 300);
  });

  test('an alternating 0 / 10 rate has mean 5 and spread about 5', () => {
    const state = feed(
      Array.from({ length: 400 }, (_, i) => (i % 2) * 10),
      0.05,
    );
    assert.ok(Math.abs(state.mean - 5) < 0.3, `mean ${state.mean}`);
    assert.ok(Math.abs(ewmaStd(state) - 5) < 0.3, `std ${ewmaStd(state)}`);
  });

  test('starts from 0, so an opening burst is not adopted as normal at once', () => {
    assert.equal(ewmaUpdate(ewmaEmpty, 100, 0.1).mean, 10);
  });

  test('forgets: after a step the mean follows within a few memories', () => {
    const before = feed(new Array(200).fill(10), 0.1);
    const after = feed(new Array(50).fill(20), 0.1, before);
    assert.ok(after.mean > 19.9 && after.mean <= 20, `mean ${after.mean}`);
  });

  test('property: the mean stays within [min(0, samples), max(0, samples)]', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 1e6 }), { minLength: 1, maxLength: 200 }),
        fc.double({ min: 0.001, max: 1, noNaN: true }),
        (samples, alpha) => {
          const state = feed(samples, alpha);
          assert.ok(state.mean >= -1e-9 && state.mean <= Math.max(...samples) + 1e-6);
          assert.ok(state.variance >= 0);
        },
      ),
      { seed, numRuns: 200 },
    );
  });

  test('rejects a bad alpha or a non-finite sample', () => {
    assert.throws(() => ewmaUpdate(ewmaEmpty, 1, 0), InvariantViolation);
    assert.throws(() => ewmaUpdate(ewmaEmpty, 1, 1.5), InvariantViolation);
    assert.throws(() => ewmaUpdate(ewmaEmpty, Number.NaN, 0.1), InvariantViolation);
  });
});
