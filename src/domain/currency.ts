/**
 * ISO 4217 codes of the currencies in circulation, as this runtime's ICU data knows them
 * (Intl.supportedValuesOf: CNY, USD, JPY, XOF... about 160; not fund or test codes such as USN or
 * XXX). The console formats amounts with the same data (its minor-unit digits), so every accepted
 * currency also displays right. A newer Node.js may know a currency more (or one withdrawn less);
 * campaigns already stored keep theirs whatever it knows.
 */
const in_circulation: ReadonlySet<string> = new Set(Intl.supportedValuesOf('currency'));

export function isCurrencyCode(code: string): boolean {
  return in_circulation.has(code);
}
