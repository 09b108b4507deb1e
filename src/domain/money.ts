import { assert } from './errors.ts';

/** ISO 4217: three upper-case letters. */
export const currencyPattern = /^[A-Z]{3}$/;

export function isMinor(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

export function assertMinor(value: number, what = 'amount'): void {
  assert(isMinor(value), `${what} must be a non-negative safe integer in minor units, got ${value}`);
}

/** Adds minor units, refusing to leave the safe-integer range. */
export function addMinor(a: number, b: number): number {
  const sum = a + b;
  assert(Number.isSafeInteger(sum), `minor-unit sum overflow: ${a} + ${b}`);
  return sum;
}
