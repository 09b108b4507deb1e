import { assert } from './errors.ts';

/** Uniform integer in [lo, hi] inclusive; the engine backs it with a CSPRNG so nobody can predict a packet. */
export type RandomInt = (lo: number, hi: number) => number;

export const envelopeLimits = {
  count_max: 1_000_000,
  /** `crypto.randomInt` takes ranges below 2^48; a packet's range never exceeds the total, so this keeps it legal. */
  total_minor_max: 2 ** 48 - 1,
} as const;

/** Why an envelope cannot be split, or null when it can; checked at creation so a grab never fails on shape. */
export function validateEnvelope(total_minor: number, count: number, min_minor: number): string | null {
  if (!Number.isSafeInteger(count) || count < 1) return 'count must be an integer of at least 1';
  if (count > envelopeLimits.count_max) return `count must be at most ${envelopeLimits.count_max}`;
  // A zero-value packet would be a grab that yields nothing; it also keeps every coupon worth issuing.
  if (!Number.isSafeInteger(min_minor) || min_minor < 1) return 'min_minor must be an integer of at least 1';
  if (!Number.isSafeInteger(total_minor) || total_minor < 1) return 'total_minor must be a positive integer';
  if (total_minor > envelopeLimits.total_minor_max) {
    return `total_minor must be at most ${envelopeLimits.total_minor_max}`;
  }
  if (min_minor > total_minor || total_minor < count * min_minor) {
    return 'total_minor must be at least count x min_minor so every packet gets the minimum';
  }
  return null;
}

function assertSplittable(remaining_minor: number, remaining_count: number, min_minor: number): void {
  assert(Number.isSafeInteger(remaining_count) && remaining_count >= 1, `bad remaining_count ${remaining_count}`);
  assert(Number.isSafeInteger(min_minor) && min_minor >= 0, `bad min_minor ${min_minor}`);
  assert(Number.isSafeInteger(remaining_minor), `bad remaining_minor ${remaining_minor}`);
  assert(remaining_minor >= remaining_count * min_minor, 'remaining_minor cannot give every packet the minimum');
}

/** floor(2 * remaining / count) without forming 2 * remaining, which could leave the safe-integer range. */
function doubleMeanMinor(remaining_minor: number, remaining_count: number): number {
  const quotient = Math.floor(remaining_minor / remaining_count);
  const rest = remaining_minor % remaining_count;
  return 2 * quotient + (2 * rest >= remaining_count ? 1 : 0);
}

/**
 * The next packet of a double-mean split. Uniform in [min, 2 x mean - min] rather than [min, 2 x mean]: its
 * expected value is then the remaining mean, so early grabbers are not favoured by min/2 (25% when min is half
 * the mean). The last packet takes exactly the rest, so the envelope always pays out its total.
 */
export function nextPacketMinor(
  remaining_minor: number,
  remaining_count: number,
  min_minor: number,
  randomInt: RandomInt,
): number {
  assertSplittable(remaining_minor, remaining_count, min_minor);
  if (remaining_count === 1) return remaining_minor;
  // Never binds (remaining >= count * min implies it), but it is the money invariant, so it is written down.
  const keep_for_others_minor = (remaining_count - 1) * min_minor;
  const hi_minor = Math.min(
    doubleMeanMinor(remaining_minor, remaining_count) - min_minor,
    remaining_minor - keep_for_others_minor,
  );
  assert(hi_minor >= min_minor, `empty packet range [${min_minor}, ${hi_minor}]`);
  const packet_minor = randomInt(min_minor, hi_minor);
  assert(
    Number.isSafeInteger(packet_minor) && packet_minor >= min_minor && packet_minor <= hi_minor,
    `random source returned ${packet_minor} outside [${min_minor}, ${hi_minor}]`,
  );
  return packet_minor;
}

/** Pre-splits a whole envelope: the packets sum to exactly the total and each is at least the minimum. */
export function splitEnvelope(total_minor: number, count: number, min_minor: number, randomInt: RandomInt): number[] {
  const problem = validateEnvelope(total_minor, count, min_minor);
  assert(problem === null, `invalid envelope: ${problem}`);
  const packets_minor: number[] = [];
  let remaining_minor = total_minor;
  for (let remaining_count = count; remaining_count >= 1; remaining_count--) {
    const packet_minor = nextPacketMinor(remaining_minor, remaining_count, min_minor, randomInt);
    packets_minor.push(packet_minor);
    remaining_minor -= packet_minor;
  }
  assert(remaining_minor === 0, `split left ${remaining_minor} unpaid`);
  return packets_minor;
}
