import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvariantViolation } from '../errors.ts';
import { type CashShareState, cashShareAdd, cashShareDecay, cashShareEmpty, checkCashShare } from './cash-share.ts';
import { defaultDetectorConfig } from './config.ts';

const params = defaultDetectorConfig.cash_share;

/** One simulated second per entry: [merchandise redemptions, cash-equivalent redemptions], 1,000 minor each. */
function play(seconds: [number, number][], state: CashShareState = cashShareEmpty): CashShareState {
  let s = state;
  for (const [goods, cash] of seconds) {
    for (let i = 0; i < goods; i++) s = cashShareAdd(s, 1000, false);
    for (let i = 0; i < cash; i++) s = cashShareAdd(s, 1000, true);
    s = cashShareDecay(s, 1, params);
  }
  return s;
}

const normal = play(new Array(1800).fill([19, 1]));

describe('cash-equivalent share', () => {
  test('normal traffic (5% top-ups) is quiet', () => {
    const check = checkCashShare(normal, params);
    assert.equal(check.alarm, false);
    assert.ok(Math.abs(check.observed - 0.05) < 0.01 && Math.abs(check.baseline - 0.05) < 0.01);
  });

  test('a swing to top-ups alarms within seconds', () => {
    let state = normal;
    let seconds = 0;
    while (!checkCashShare(state, params).alarm && seconds < 600) {
      state = play([[4, 16]], state);
      seconds++;
    }
    assert.ok(seconds <= 30, `alarm after ${seconds} s`);
  });

  test('a campaign that is all top-ups is not flagged for being one', () => {
    assert.equal(checkCashShare(play(new Array(1800).fill([0, 20])), params).alarm, false);
  });

  test('a handful of top-ups never alarms, whatever the share', () => {
    const quiet = play(new Array(1800).fill([1, 0]));
    assert.equal(checkCashShare(play(new Array(5).fill([0, 3]), quiet), params).alarm, false);
  });

  test('decay halves the recent sums every recent half-life', () => {
    const state = cashShareDecay(cashShareAdd(cashShareEmpty, 800, true), params.recent_half_life_s, params);
    assert.equal(state.recent_cash, 400);
    assert.ok(state.long_cash > 790);
  });

  test('rejects a negative or fractional discount', () => {
    assert.throws(() => cashShareAdd(cashShareEmpty, -1, true), InvariantViolation);
    assert.throws(() => cashShareAdd(cashShareEmpty, 1.5, true), InvariantViolation);
  });
});
