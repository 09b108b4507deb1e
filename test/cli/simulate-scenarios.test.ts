import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runBruteForce } from '../../src/cli/simulate/brute-force.ts';
import { naiveBaseline } from '../../src/cli/simulate/brute-force-naive.ts';
import { runFlashSale } from '../../src/cli/simulate/flash-sale.ts';
import { attemptLockout } from '../../src/domain/velocity.ts';
import { runCli } from '../support/node-process.ts';

const seed = Number(process.env.SIM_SEED ?? 20_260_301);
console.log(`simulate scenarios seed: ${seed}`);

describe('vouchsafe simulate brute-force', () => {
  test('no guess names a real code, every attacker account is locked out, every holder redeems', async () => {
    const r = await runBruteForce({ codes: 1000, legit: 200, guesses: 6000, guesses_per_s: 600, seed });
    assert.equal(r.guesses, 6000);
    assert.equal(r.hits, 0);
    assert.equal(r.loss_minor, 0);
    assert.equal(r.locked_out_attackers, r.attackers);
    assert.equal(r.attackers, 53);
    for (const g of [r.groups.few, r.groups.distributed]) assert.equal(g.locked_out, g.identities, g.description);
    // However many guesses an account has in flight at once, exactly the limit is looked up before its 429.
    assert.equal(r.groups.distributed.answered_before_lockout_max, attemptLockout.failures_max);
    assert.equal(r.groups.few.answered_before_lockout_max, attemptLockout.failures_max);
    assert.ok(r.refused_locked_out > 0);
    // Sybil identities guess once each: nothing locks them, every guess is answered coupon_not_found.
    assert.equal(r.groups.sybil.not_found, r.groups.sybil.guesses);
    // Every answered guess was either refused by the check part without a store read or cost one lookup.
    const answered = Object.values(r.groups).reduce((n, g) => n + g.not_found + g.hits, 0);
    assert.equal(r.rejected_by_check + r.store_lookups, answered);
    assert.ok(r.rejected_by_check > 0.8 * answered, `${r.rejected_by_check} of ${answered} refused by the check`);
    assert.ok(r.passed_check <= 3, `${r.passed_check} guesses passed the 15-bit check`);
    assert.equal(r.legit_ok, r.legit_total);
    assert.equal(r.legit_total, 200);
    assert.equal(r.legit_typos, 20, 'one holder in ten mistyped first and still redeemed');
    assert.deepEqual(r.legit_refused, {});
    assert.equal(r.invariants_ok, true);
  });

  test('the naive baseline (a model) loses money to the same number of guesses', () => {
    const naive = naiveBaseline(10_000, 50_000, 1000, 2000, seed);
    assert.equal(naive.expected_hits, 500);
    assert.ok(naive.hits > 400 && naive.hits < 600, `${naive.hits} hits`);
    assert.equal(naive.loss_minor, naive.hits * 2000);
    assert.equal(naive.loss_over_time.length, 50);
    assert.equal(naive.loss_over_time.at(-1), naive.loss_minor);
    assert.equal(naive.sequential_hits, 9999);
  });

  test('end to end: the CLI prints one JSON line and exits 0', async () => {
    const args = ['simulate', 'brute-force', '--codes', '500', '--legit', '50', '--guesses', '3000', '--rate', '600'];
    const run = await runCli([...args, '--json'], { LOG_LEVEL: 'warn' });
    assert.equal(run.code, 0, run.out);
    const lines = run.out.trim().split('\n');
    assert.equal(lines.length, 1, run.out);
    const s = JSON.parse(lines[0] ?? '');
    assert.equal(s.scenario, 'brute-force');
    assert.equal(s.guesses, 3000);
    assert.equal(s.hits, 0);
    assert.equal(s.loss_minor, 0);
    assert.equal(s.locked_out_attackers, s.attackers);
    assert.equal(s.legit_ok, 50);
    assert.equal(s.invariants_ok, true);
    assert.ok(s.naive.hits >= 0 && s.naive.label.startsWith('model'));
  });
});

describe('vouchsafe simulate flash-sale', () => {
  test('a 30x sale over 300 merchants is alerted as a rate spike but never paused; budget exact', async () => {
    const r = await runFlashSale({
      quiet_s: 90,
      quiet_per_s: 10,
      peak_multiplier: 30,
      ramp_s: 10,
      peak_s: 40,
      merchants: 300,
      seed,
    });
    console.log(`flash sale: ${r.accepted}/${r.sent}, peak ${r.peak_per_s}/s, alerts ${JSON.stringify(r.alerts)}`);
    assert.ok(r.peak_per_s >= 240, `peak ${r.peak_per_s}/s`);
    assert.equal(r.paused, false);
    assert.deepEqual(
      r.alerts.filter((a) => a.action === 'paused'),
      [],
    );
    // The detector did see the surge: the campaign-wide spike is reported, for people to look at.
    assert.ok(r.alerts.some((a) => a.kind === 'rate_spike' && a.at_s >= 0));
    assert.ok(
      r.alerts.every((a) => a.kind === 'rate_spike'),
      JSON.stringify(r.alerts),
    );
    assert.deepEqual(r.refused, {});
    assert.equal(r.accepted, r.sent);
    assert.equal(r.spent_minor, r.discounts_minor);
    assert.ok(r.spent_minor < r.budget_minor);
    assert.equal(r.invariants_ok, true);
  });
});
