import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { codeAlphabet, codeKey, codeRandomBytesNeeded, hasValidCheck, makeCode } from '../src/domain/codes.ts';
import { fmt, ratio, type Section } from './report.ts';

function perSecond(n: number, body: () => void): number {
  const t = process.hrtime.bigint();
  body();
  return n / (Number(process.hrtime.bigint() - t) / 1e9);
}

/** Unique codes with a keyed check part against plain UUIDs and a per-code createHmac check. */
export async function codesSection(): Promise<Section> {
  const n = 1_000_000;
  const key = codeKey(randomBytes(32));
  const pool = randomBytes(n * codeRandomBytesNeeded);
  const codes: string[] = new Array(n);
  const ours = perSecond(n, () => {
    for (let i = 0; i < n; i++)
      codes[i] = makeCode(pool.subarray(i * codeRandomBytesNeeded, (i + 1) * codeRandomBytesNeeded), key);
  });
  const unique = new Set(codes).size;
  const uuid = perSecond(n, () => {
    for (let i = 0; i < n; i++) codes[i] = randomUUID();
  });
  const secret = randomBytes(32);
  const hmac = perSecond(n / 10, () => {
    for (let i = 0; i < n / 10; i++)
      createHmac('sha256', secret)
        .update(pool.subarray(i * 9, i * 9 + 9))
        .digest();
  });
  const guesses = 1_000_000;
  let accepted = 0;
  const check = perSecond(guesses, () => {
    for (let i = 0; i < guesses; i++) {
      // A fixed random part with every possible check part in turn, then the next random part.
      const c = i % 32768;
      const check = (codeAlphabet[c >> 10] ?? '') + (codeAlphabet[(c >> 5) & 31] ?? '') + (codeAlphabet[c & 31] ?? '');
      if (hasValidCheck(`ABCDEFGHJKMN${codeAlphabet[(i >> 15) & 31]}${check}`, key)) accepted++;
    }
  });
  return {
    title: 'Unique codes',
    method: `${fmt(n)} codes of 13 random Crockford base32 characters (65 bits from the CSPRNG) plus a 3-character keyed check (HMAC-SHA256 over a prepared key). Baselines in the same run: crypto.randomUUID() (no check part) and a per-code createHmac (what the check would cost done naively).`,
    rows: [
      {
        what: 'generate code + check part',
        figure: `${fmt(ours)} /s`,
        baseline: `${fmt(uuid)} /s randomUUID`,
        ratio: ratio(ours, uuid),
        target: '1M in a few seconds',
      },
      {
        what: 'generate code + check part',
        figure: `${fmt(ours)} /s`,
        baseline: `${fmt(hmac)} /s createHmac per code`,
        ratio: ratio(ours, hmac),
      },
      {
        what: 'reject a guess without a store read',
        figure: `${fmt(check)} /s`,
        baseline: `${fmt(hmac)} /s createHmac per code`,
        ratio: ratio(check, hmac),
      },
    ],
    notes: [
      `${fmt(unique)} distinct codes out of ${fmt(n)}; ${fmt(accepted)} of ${fmt(guesses)} systematic guesses passed the check (expected about 1 in 32,768)`,
    ],
  };
}
