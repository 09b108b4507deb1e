import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvariantViolation } from '../errors.ts';
import { assertConcentrationParams, isConcentrated, usualShare } from './concentration.ts';

const params = { share_delta: 0.25, z_min: 4 };

describe('merchant concentration', () => {
  test('a merchant that had nothing and takes most of the interval is concentrated', () => {
    assert.equal(isConcentrated(10, 12, 0, params), true);
    assert.equal(isConcentrated(258, 300, 0.03, params), true);
  });

  test('a merchant keeping its usual share while everything rises is not', () => {
    assert.equal(isConcentrated(11, 300, 0.037, params), false);
    assert.equal(isConcentrated(100, 300, 0.33, params), false);
    assert.equal(isConcentrated(300, 300, 1, params), false, 'the only merchant of a campaign');
  });

  test('the share must rise by share_delta: a featured merchant doubling 4% -> 8% is not a leak', () => {
    assert.equal(isConcentrated(24, 300, 0.04, params), false);
    // 0.04 + 0.25 = 0.29 of 300 is 87 redemptions: one fewer is not enough.
    assert.equal(isConcentrated(86, 300, 0.04, params), false);
    assert.equal(isConcentrated(87, 300, 0.04, params), true);
  });

  test('a small early count needs z_min standard deviations too, not only the share', () => {
    // 10 of 17 is 0.59 >= 0.33 + 0.25, but only about 2 sd above the 5.6 expected.
    assert.equal(isConcentrated(10, 17, 0.33, params), false);
    assert.equal(isConcentrated(16, 17, 0.33, params), true);
    assert.equal(isConcentrated(0, 0, 0, params), false);
  });

  test('usual share is the ratio of the baselines, clamped to [0, 1]; bad input is refused', () => {
    assert.equal(usualShare(2, 10), 0.2);
    assert.equal(usualShare(3, 0), 0);
    assert.equal(usualShare(12, 10), 1);
    assert.throws(() => isConcentrated(5, 4, 0.1, params), InvariantViolation);
    assert.throws(() => isConcentrated(1, 4, 1.5, params), InvariantViolation);
    assert.throws(() => assertConcentrationParams({ share_delta: 2, z_min: 4 }), InvariantViolation);
    assert.throws(() => assertConcentrationParams({ share_delta: 0.2, z_min: Number.NaN }), InvariantViolation);
  });
});
