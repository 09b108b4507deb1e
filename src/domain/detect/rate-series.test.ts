import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { defaultDetectorConfig } from './config.ts';
import { closeRateInterval, partialSpike, type RateSeries, rateScale, rateSeriesEmpty } from './rate-series.ts';

const seed = Number(process.env.FC_SEED ?? 20_190_119);
console.log(`fast-check seed: ${seed}`);

const params = defaultDetectorConfig.merchant_rate;

/** Closes one interval per count; returns the final series and the 1-based intervals that spiked. */
function run(counts: number[], warm = true, start: RateSeries = rateSeriesEmpty()) {
  let series = start;
  const spikes: number[] = [];
  counts.forEach((count, i) => {
    const closed = closeRateInterval({ ...series, count }, params, warm);
    series = closed.series;
    if (closed.verdict.spike) spikes.push(i + 1);
  });
  return { series, spikes };
}

const learned = run(new Array(120).fill(4), false).series;

describe('rate series', () => {
  test('a steady rate with ordinary wobble never spikes', () => {
    const counts = Array.from({ length: 3600 }, (_, i) => 40 + Math.round(8 * Math.sin(i / 3)));
    assert.deepEqual(run(counts, true, run(counts.slice(0, 120), false).series).spikes, []);
  });

  test('a jump from 4 to 40 a second spikes in the first interval', () => {
    assert.deepEqual(run([40], true, learned).spikes, [1]);
  });

  test('below the floor nothing spikes, however unusual', () => {
    const quiet = run(new Array(120).fill(0), false).series;
    assert.deepEqual(run(new Array(100).fill(params.floor_per_interval - 1), true, quiet).spikes, []);
  });

  test('before warm-up it only learns: no spike, no CUSUM evidence carried over', () => {
    const { series, spikes } = run([0, 0, 500, 500], false);
    assert.deepEqual(spikes, []);
    assert.equal(series.cusum_s, 0);
  });

  test('once warm, a spike cannot teach itself: the baseline moves at most alpha x clip_z x scale', () => {
    const after = run([10_000], true, learned).series;
    const step = params.alpha * params.clip_z * rateScale(learned.baseline, params);
    assert.ok(after.baseline.mean - learned.baseline.mean <= step + 1e-9, `moved to ${after.baseline.mean}`);
  });

  test('doubling every two minutes is growth, not a spike', () => {
    const counts = Array.from({ length: 720 }, (_, i) => Math.round(12 * 2 ** (i / 120)));
    assert.deepEqual(run(counts, true, run(new Array(120).fill(12), false).series).spikes, []);
  });

  test('property: the mid-interval check never fires where the close would not', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 400 }), (base, count) => {
        const series = { ...run(new Array(120).fill(base), false).series, count };
        if (partialSpike(series, params)) assert.ok(closeRateInterval(series, params, true).verdict.spike);
      }),
      { seed, numRuns: 300 },
    );
  });
});
