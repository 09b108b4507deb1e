import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { InvariantViolation } from './errors.ts';
import { envelopeLimits, nextPacketMinor, type RandomInt, splitEnvelope, validateEnvelope } from './red-envelope.ts';

const seed = Number(process.env.FC_SEED ?? 20_190_119);
console.log(`fast-check seed: ${seed}`);

/** mulberry32: a tiny seeded PRNG, so statistical tests are reproducible. */
function mulberry32(state: number): () => number {
  let s = state >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** Uniform integers from 53 random bits: enough for ranges up to 2^48. */
function seededRandomInt(state: number): RandomInt {
  const next = mulberry32(state);
  return (lo, hi) => {
    const unit = ((next() >>> 5) * 2 ** 26 + (next() >>> 6)) / 2 ** 53;
    return Math.min(hi, lo + Math.floor(unit * (hi - lo + 1)));
  };
}

const alwaysLow: RandomInt = (lo) => lo;
const alwaysHigh: RandomInt = (_lo, hi) => hi;

const envelopeArb = fc
  .record({
    count: fc.integer({ min: 1, max: 2000 }),
    min_minor: fc.integer({ min: 1, max: 10_000 }),
    extra_minor: fc.integer({ min: 0, max: 1e12 }),
    source: fc.constantFrom('seeded', 'low', 'high'),
    prng_seed: fc.integer(),
  })
  .filter(({ count, min_minor, extra_minor }) => count * min_minor + extra_minor <= 1e12);

function sourceFor(source: string, prng_seed: number): RandomInt {
  if (source === 'low') return alwaysLow;
  if (source === 'high') return alwaysHigh;
  return seededRandomInt(prng_seed);
}

describe('splitEnvelope', () => {
  test('property: sum is exactly the total, every packet is >= min and <= total', () => {
    fc.assert(
      fc.property(envelopeArb, ({ count, min_minor, extra_minor, source, prng_seed }) => {
        const total_minor = count * min_minor + extra_minor;
        const packets = splitEnvelope(total_minor, count, min_minor, sourceFor(source, prng_seed));
        assert.equal(packets.length, count);
        assert.equal(
          packets.reduce((sum, p) => sum + p, 0),
          total_minor,
        );
        for (const p of packets) {
          assert.ok(Number.isSafeInteger(p) && p >= min_minor && p <= total_minor, `packet ${p}`);
        }
      }),
      { seed, numRuns: 300 },
    );
  });

  test('exact fit: total == count x min gives every packet exactly min', () => {
    assert.deepEqual(splitEnvelope(500, 5, 100, seededRandomInt(1)), [100, 100, 100, 100, 100]);
  });

  test('one packet takes the whole total without asking the random source', () => {
    const never: RandomInt = () => assert.fail('random source must not be called');
    assert.deepEqual(splitEnvelope(12_345, 1, 1, never), [12_345]);
  });

  test('the random source is asked for count - 1 packets, each within [min, 2 x mean - min]', () => {
    const ranges: [number, number][] = [];
    const spy: RandomInt = (lo, hi) => {
      ranges.push([lo, hi]);
      return lo;
    };
    splitEnvelope(10_000, 4, 100, spy);
    assert.deepEqual(ranges, [
      [100, 4900],
      [100, 6500],
      [100, 9700],
    ]);
  });

  test('early and late grabbers get the same mean (20,000 splits of 100 yuan into 10)', () => {
    const total_minor = 10_000;
    const count = 10;
    const runs = 20_000;
    const randomInt = seededRandomInt(seed);
    const sums = new Array<number>(count).fill(0);
    for (let r = 0; r < runs; r++) {
      splitEnvelope(total_minor, count, 1, randomInt).forEach((p, i) => {
        sums[i] = (sums[i] ?? 0) + p;
      });
    }
    const fair = total_minor / count;
    const means = sums.map((s) => s / runs);
    for (const [i, mean] of means.entries()) {
      assert.ok(Math.abs(mean - fair) / fair < 0.03, `packet ${i + 1} mean ${mean} vs ${fair}`);
    }
  });

  test('a large minimum does not favour early grabbers (min is half the mean)', () => {
    const randomInt = seededRandomInt(seed + 1);
    const runs = 20_000;
    let first = 0;
    let last = 0;
    for (let r = 0; r < runs; r++) {
      const packets = splitEnvelope(10_000, 10, 500, randomInt);
      first += packets[0] ?? 0;
      last += packets[9] ?? 0;
    }
    assert.ok(Math.abs(first / runs - 1000) < 20, `first mean ${first / runs}`);
    assert.ok(Math.abs(last / runs - 1000) < 20, `last mean ${last / runs}`);
  });
});

describe('nextPacketMinor', () => {
  test('the last packet takes exactly the rest', () => {
    assert.equal(nextPacketMinor(777, 1, 1, alwaysLow), 777);
    assert.equal(nextPacketMinor(777, 1, 777, alwaysHigh), 777);
  });

  test('property: every remaining packet can still get the minimum', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 1_000_000 }),
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.integer({ min: 0, max: 1e9 }),
        fc.constantFrom(alwaysLow, alwaysHigh),
        (remaining_count, min_minor, extra_minor, randomInt) => {
          const remaining_minor = remaining_count * min_minor + extra_minor;
          const packet = nextPacketMinor(remaining_minor, remaining_count, min_minor, randomInt);
          assert.ok(packet >= min_minor);
          assert.ok(packet <= remaining_minor - (remaining_count - 1) * min_minor);
          assert.ok(packet <= Math.floor((2 * remaining_minor) / remaining_count));
        },
      ),
      { seed, numRuns: 500 },
    );
  });

  test('works near the safe-integer limit without overflow', () => {
    const remaining_minor = Number.MAX_SAFE_INTEGER;
    assert.equal(nextPacketMinor(remaining_minor, 2, 1, alwaysHigh), remaining_minor - 1);
    assert.equal(nextPacketMinor(remaining_minor, 3, 1, alwaysHigh), 6_004_799_503_160_659);
  });

  test('a random source that answers outside the range is a bug, not a payout', () => {
    assert.throws(() => nextPacketMinor(1000, 2, 1, (_lo, hi) => hi + 1), InvariantViolation);
    assert.throws(() => nextPacketMinor(1000, 2, 1, (lo) => lo - 1), InvariantViolation);
    assert.throws(() => nextPacketMinor(1000, 2, 1, () => 1.5), InvariantViolation);
  });

  test('remaining money below count x min is refused', () => {
    assert.throws(() => nextPacketMinor(9, 10, 1, alwaysLow), InvariantViolation);
    assert.throws(() => nextPacketMinor(100, 0, 1, alwaysLow), InvariantViolation);
  });
});

describe('validateEnvelope', () => {
  test('accepts sound envelopes, including the exact fit and the limits', () => {
    assert.equal(validateEnvelope(10_000, 10, 1), null);
    assert.equal(validateEnvelope(10, 10, 1), null);
    assert.equal(validateEnvelope(envelopeLimits.count_max, envelopeLimits.count_max, 1), null);
    assert.equal(validateEnvelope(envelopeLimits.total_minor_max, 1, 1), null);
  });

  test('rejects bad counts, minimums and totals', () => {
    const bad: [number, number, number][] = [
      [100, 0, 1],
      [100, -1, 1],
      [100, 1.5, 1],
      [envelopeLimits.count_max + 1, envelopeLimits.count_max + 1, 1],
      [100, 10, 0],
      [100, 10, -1],
      [100, 10, 0.5],
      [0, 1, 1],
      [-100, 1, 1],
      [100.5, 1, 1],
      [Number.NaN, 1, 1],
      [envelopeLimits.total_minor_max + 1, 1, 1],
      [9, 10, 1],
      [999, 10, 100],
      [100, 1, 101],
    ];
    for (const [total_minor, count, min_minor] of bad) {
      assert.equal(
        typeof validateEnvelope(total_minor, count, min_minor),
        'string',
        `${total_minor}/${count}/${min_minor}`,
      );
    }
  });

  test('splitEnvelope refuses what validateEnvelope refuses', () => {
    assert.throws(() => splitEnvelope(9, 10, 1, alwaysLow), InvariantViolation);
    assert.throws(() => splitEnvelope(100, 0, 1, alwaysLow), InvariantViolation);
  });
});
