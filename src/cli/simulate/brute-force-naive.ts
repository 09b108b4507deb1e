import { prng } from './prng.ts';

/**
 * The baseline, labelled as a model and not the engine: what the same guesses win against
 * 6-digit numeric codes with no check part and no lockout (a common home-grown scheme).
 */
export interface NaiveResult {
  label: string;
  code_space: number;
  codes: number;
  guesses: number;
  /** Distinct uniform guesses among `code_space` values of which `codes` are real: guesses x codes / space. */
  expected_hits: number;
  /** Hits of the same number of seeded distinct guesses against a Set of seeded distinct codes. */
  hits: number;
  loss_minor: number;
  /** A holder of one sequential code who counts upward hits every guess until the range runs out. */
  sequential_hits: number;
  sequential_loss_minor: number;
  /** Loss (minor) after each second at `guesses_per_s`, for the report's chart. */
  loss_over_time: number[];
}

const code_space = 1_000_000;

function distinctDraws(rand: () => number, count: number, space: number, into: Set<number>): void {
  while (into.size < count) into.add(Math.floor(rand() * space));
}

/** Guesses past the code space are not distinct any more; the model caps them at the space. */
export function naiveBaseline(
  codes: number,
  guesses: number,
  guesses_per_s: number,
  discount_minor: number,
  seed: number,
): NaiveResult {
  const rand = prng(seed ^ 0x5eed);
  const real = new Set<number>();
  distinctDraws(rand, Math.min(codes, code_space), code_space, real);
  const g = Math.min(guesses, code_space);
  const tried = new Set<number>();
  let hits = 0;
  const loss_over_time: number[] = [];
  while (tried.size < g) {
    const guess = Math.floor(rand() * code_space);
    if (tried.has(guess)) continue;
    tried.add(guess);
    // A hit is redeemed at once, so it cannot be hit twice.
    if (real.delete(guess)) hits++;
    if (tried.size % guesses_per_s === 0 || tried.size === g) loss_over_time.push(hits * discount_minor);
  }
  const sequential_hits = Math.min(g, codes - 1);
  return {
    label: 'model, not the engine: 6-digit numeric codes, no check part, no lockout',
    code_space,
    codes,
    guesses: g,
    expected_hits: (g * Math.min(codes, code_space)) / code_space,
    hits,
    loss_minor: hits * discount_minor,
    sequential_hits,
    sequential_loss_minor: sequential_hits * discount_minor,
    loss_over_time,
  };
}
