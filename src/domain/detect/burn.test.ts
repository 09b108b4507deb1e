import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvariantViolation } from '../errors.ts';
import { type BudgetSnapshot, checkBurn } from './burn.ts';

const params = { factor: 5, elapsed_fraction_min: 0.1 };
const window_ms = 1_000_000;
const budget = (spent_minor: number): BudgetSnapshot => ({
  budget_minor: 1_000_000,
  spent_minor,
  starts_at_ms: 0,
  ends_at_ms: window_ms,
});
const at = (elapsed_fraction: number): number => Math.round(window_ms * elapsed_fraction);

describe('checkBurn', () => {
  test('more than half the budget in the first tenth alarms', () => {
    assert.equal(checkBurn(budget(500_001), at(0.05), params).alarm, true);
    assert.equal(checkBurn(budget(500_001), at(0.1), params).alarm, true);
    assert.equal(checkBurn(budget(900_000), 0, params).alarm, true);
  });

  test('exactly half in the first tenth does not (strictly more)', () => {
    assert.equal(checkBurn(budget(500_000), at(0.05), params).alarm, false);
  });

  test('spend on plan never alarms, nor does the whole budget at the end', () => {
    for (let f = 0; f <= 1; f += 0.01) assert.equal(checkBurn(budget(Math.floor(f * 1e6)), at(f), params).alarm, false);
    assert.equal(checkBurn(budget(1_000_000), at(1), params).alarm, false);
    assert.equal(checkBurn(budget(1_000_000), at(2), params).alarm, false);
  });

  test('past the minimum, the allowance grows with time: factor x elapsed', () => {
    assert.equal(checkBurn(budget(900_000), at(0.15), params).alarm, true);
    assert.equal(checkBurn(budget(700_000), at(0.15), params).alarm, false);
    assert.equal(checkBurn(budget(1_000_000), at(0.2), params).alarm, false);
  });

  test('reports fractions and the plan', () => {
    const check = checkBurn(budget(250_000), at(0.25), params);
    assert.deepEqual(check, { alarm: false, spent_fraction: 0.25, elapsed_fraction: 0.25, planned_minor: 250_000 });
    assert.equal(checkBurn(budget(0), -5, params).elapsed_fraction, 0);
  });

  test('rejects an empty budget, an empty window and bad parameters', () => {
    assert.throws(() => checkBurn({ ...budget(0), budget_minor: 0 }, 0, params), InvariantViolation);
    assert.throws(() => checkBurn({ ...budget(0), ends_at_ms: 0 }, 0, params), InvariantViolation);
    assert.throws(() => checkBurn(budget(-1), 0, params), InvariantViolation);
    assert.throws(() => checkBurn(budget(0), 0, { factor: 0, elapsed_fraction_min: 0.1 }), InvariantViolation);
    assert.throws(() => checkBurn(budget(0), 0, { factor: 5, elapsed_fraction_min: 0 }), InvariantViolation);
  });
});
