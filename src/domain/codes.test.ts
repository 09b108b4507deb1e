import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  CodeKey,
  codeAlphabet,
  codeCheckChars,
  codeEntropyBits,
  codeLength,
  codeRandomBytesNeeded,
  codeRandomChars,
  formatCode,
  hasValidCheck,
  issuedCodeLength,
  issuedCodePrefix,
  makeCode,
  normalizeCode,
} from './codes.ts';

const seed = Number(process.env.FC_SEED ?? 20_190_119);
console.log(`fast-check seed: ${seed}`);

const key = randomBytes(32);

/** An independent reading of the spec: BigInt bit slicing and node:crypto's own HMAC. */
function referenceCode(random: Uint8Array, k: Uint8Array | string): string {
  let n = 0n;
  for (const byte of random) n = (n << 8n) | BigInt(byte);
  let code = '';
  for (let i = 1; i <= codeRandomChars; i++) {
    code += codeAlphabet.charAt(Number((n >> BigInt(random.length * 8 - 5 * i)) & 31n));
  }
  const bits = createHmac('sha256', k).update(code, 'ascii').digest().readUInt16BE(0) >>> 1;
  return code + [bits >>> 10, bits >>> 5, bits].map((b) => codeAlphabet.charAt(b & 31)).join('');
}

function sampleCodes(count: number): string[] {
  const random = randomBytes(count * codeRandomBytesNeeded);
  return Array.from({ length: count }, (_, i) =>
    makeCode(random.subarray(i * codeRandomBytesNeeded, (i + 1) * codeRandomBytesNeeded), key),
  );
}

/** Share of `candidates` that pass the check; each candidate is a wrong code. */
function acceptRate(candidates: readonly string[]): number {
  return candidates.filter((c) => hasValidCheck(c, key)).length / candidates.length;
}

describe('code shape', () => {
  test('alphabet is Crockford base32: 32 distinct symbols, no I, L, O or U', () => {
    assert.equal(new Set(codeAlphabet).size, 32);
    assert.doesNotMatch(codeAlphabet, /[ILOU]/);
  });

  test('the random part carries at least 60 bits', () => {
    const entropy_bits = codeRandomChars * Math.log2(codeAlphabet.length);
    assert.ok(entropy_bits >= 60, `${entropy_bits} bits`);
    assert.equal(entropy_bits, codeEntropyBits);
    assert.ok(codeRandomBytesNeeded * 8 >= entropy_bits);
    assert.equal(codeLength, codeRandomChars + codeCheckChars);
  });

  test('fixed vector (guards alphabet, bit order and check derivation)', () => {
    const random = Uint8Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    const code = makeCode(random, 'vouchsafe-test-key-0001');
    assert.equal(code, referenceCode(random, 'vouchsafe-test-key-0001'));
    // Cross-checked with Python's hmac module.
    assert.equal(code, '000G40R40M30EWJ2');
  });

  test('each of the first 65 random bits changes the code; the 7 spare bits do not', () => {
    const random = randomBytes(codeRandomBytesNeeded);
    const base = makeCode(random, key);
    for (let bit = 0; bit < codeRandomBytesNeeded * 8; bit++) {
      const flipped = Uint8Array.from(random);
      flipped[bit >> 3] = (flipped[bit >> 3] ?? 0) ^ (0x80 >> (bit & 7));
      assert.equal(makeCode(flipped, key) !== base, bit < codeEntropyBits, `bit ${bit}`);
    }
  });

  test('property: makeCode equals HMAC-SHA256 computed by node:crypto, for any key length', () => {
    const arb = fc.record({
      random: fc.uint8Array({ minLength: codeRandomBytesNeeded, maxLength: codeRandomBytesNeeded }),
      key: fc.oneof(fc.uint8Array({ minLength: 16, maxLength: 200 }), fc.string({ minLength: 16, maxLength: 80 })),
    });
    fc.assert(
      fc.property(arb, ({ random, key: k }) => {
        const code = makeCode(random, k);
        assert.equal(code, referenceCode(random, k));
        assert.ok(hasValidCheck(code, k));
        assert.ok(hasValidCheck(code, new CodeKey(k)));
      }),
      { seed, numRuns: 2000 },
    );
  });

  test('refuses short keys and the wrong amount of randomness', () => {
    assert.throws(() => makeCode(randomBytes(codeRandomBytesNeeded), 'short'), /at least 16 bytes/);
    assert.throws(() => makeCode(randomBytes(codeRandomBytesNeeded - 1), key), /random bytes/);
    assert.throws(() => makeCode(randomBytes(codeRandomBytesNeeded + 1), key), /random bytes/);
  });

  test('a key changed in place is not served from the cache', () => {
    const k = Uint8Array.from(randomBytes(32));
    const random = randomBytes(codeRandomBytesNeeded);
    const before = makeCode(random, k);
    k[0] = (k[0] ?? 0) ^ 1;
    assert.equal(makeCode(random, k), referenceCode(random, k));
    assert.notEqual(makeCode(random, k), before);
  });
});

describe('issued codes (claims, grabs): a time prefix, then a bearer-strength code', () => {
  const random = () => randomBytes(codeRandomBytesNeeded);

  test('the check is HMAC-SHA256 over prefix and random part, as node:crypto computes it', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: codeRandomBytesNeeded, maxLength: codeRandomBytesNeeded }),
        fc.nat(),
        (r, t) => {
          const prefix = issuedCodePrefix(t * 100);
          const code = makeCode(r, key, prefix);
          assert.equal(code.length, issuedCodeLength);
          assert.ok(code.startsWith(prefix));
          const body = code.slice(0, issuedCodeLength - codeCheckChars);
          assert.equal(body.slice(prefix.length), referenceCode(r, key).slice(0, codeRandomChars));
          const bits = createHmac('sha256', key).update(body, 'ascii').digest().readUInt16BE(0) >>> 1;
          assert.equal(
            code.slice(-codeCheckChars),
            [bits >>> 10, bits >>> 5, bits].map((b) => codeAlphabet.charAt(b & 31)).join(''),
          );
          assert.ok(hasValidCheck(code, key));
        },
      ),
      { seed, numRuns: 300 },
    );
  });

  test('the check covers the prefix: changing any prefix symbol fails it (but about 1 in 32,768)', () => {
    const changed: string[] = [];
    for (let n = 0; n < 500; n++) {
      const code = makeCode(random(), key, issuedCodePrefix(Date.now() + n * 100));
      for (let i = 0; i < 4; i++) {
        for (const c of codeAlphabet) if (c !== code[i]) changed.push(code.slice(0, i) + c + code.slice(i + 1));
      }
    }
    assert.ok(acceptRate(changed) < 0.001, `accept rate ${acceptRate(changed)}`);
  });

  test('a bearer code with a prefix glued on, or an issued code cut to 16, does not check', () => {
    const bearer = sampleCodes(2000);
    assert.ok(acceptRate(bearer.map((c) => issuedCodePrefix(Date.now()) + c)) < 0.002);
    const issued = bearer.map(() => makeCode(random(), key, issuedCodePrefix(Date.now())));
    assert.ok(acceptRate(issued.map((c) => c.slice(4))) < 0.002);
  });

  test('the prefix counts tenths of a second, so codes minted later sort later (until it wraps, ~29 h)', () => {
    const cycle_ms = 32 ** 4 * 100;
    const t0 = 19_000 * cycle_ms + 12_345; // early in a cycle: 5,000 steps do not wrap
    assert.equal(issuedCodePrefix(t0), issuedCodePrefix(t0 + 99 - (t0 % 100)));
    for (let k = 1; k < 5000; k++) {
      const [before, after] = [issuedCodePrefix(t0 + (k - 1) * 100), issuedCodePrefix(t0 + k * 100)];
      assert.ok(after > before, `${before} then ${after}`);
    }
    assert.equal(issuedCodePrefix(32 ** 4 * 100), issuedCodePrefix(0));
  });

  test('a prefix outside the alphabet or of the wrong length is refused', () => {
    assert.throws(() => makeCode(random(), key, 'ABC'), /4 symbols/);
    assert.throws(() => makeCode(random(), key, 'ABCU'), /Crockford/);
  });
});

describe('one million codes', () => {
  test('are unique, valid and fast to make', () => {
    const count = 1_000_000;
    const random = randomBytes(count * codeRandomBytesNeeded);
    const started_ms = performance.now();
    const codes = new Set<string>();
    for (let i = 0; i < count; i++) {
      codes.add(makeCode(random.subarray(i * codeRandomBytesNeeded, (i + 1) * codeRandomBytesNeeded), key));
    }
    const elapsed_ms = performance.now() - started_ms;
    console.log(`1,000,000 codes in ${Math.round(elapsed_ms)} ms (including the uniqueness set)`);
    assert.equal(codes.size, count);
    let checked = 0;
    for (const code of codes) {
      if (checked++ === 10_000) break;
      assert.ok(hasValidCheck(code, key), code);
    }
  });
});

describe('hasValidCheck', () => {
  test('rejects every single-character typo at a rate near 1/32768', () => {
    const typos: string[] = [];
    for (const code of sampleCodes(300)) {
      for (let i = 0; i < codeLength; i++) {
        for (const c of codeAlphabet) if (c !== code[i]) typos.push(code.slice(0, i) + c + code.slice(i + 1));
      }
    }
    assert.equal(typos.length, 300 * codeLength * 31);
    const rate = acceptRate(typos);
    assert.ok(rate < 0.001, `typo accept rate ${rate}`);
  });

  test('rejects every adjacent transposition at a rate near 1/32768', () => {
    const swaps: string[] = [];
    for (const code of sampleCodes(2000)) {
      for (let i = 0; i + 1 < codeLength; i++) {
        if (code[i] === code[i + 1]) continue;
        swaps.push(code.slice(0, i) + code.charAt(i + 1) + code.charAt(i) + code.slice(i + 2));
      }
    }
    const rate = acceptRate(swaps);
    assert.ok(rate < 0.001, `transposition accept rate ${rate}`);
  });

  test('random guesses pass far less than 1% of the time', () => {
    const guesses = 200_000;
    const random = randomBytes(guesses * codeLength);
    const candidates = Array.from({ length: guesses }, (_, g) =>
      Array.from(random.subarray(g * codeLength, (g + 1) * codeLength), (b) => codeAlphabet.charAt(b & 31)).join(''),
    );
    const rate = acceptRate(candidates);
    console.log(`guess accept rate ${rate} (expected ${2 ** -15})`);
    assert.ok(rate < 0.01, `guess accept rate ${rate}`);
    assert.ok(rate < 0.0005, `guess accept rate ${rate}`);
  });

  test('a code made with another key does not check', () => {
    const other = randomBytes(32);
    const random = randomBytes(5000 * codeRandomBytesNeeded);
    const foreign = Array.from({ length: 5000 }, (_, i) =>
      makeCode(random.subarray(i * codeRandomBytesNeeded, (i + 1) * codeRandomBytesNeeded), other),
    );
    assert.ok(acceptRate(foreign) < 0.002);
  });

  test('false for wrong length, characters outside the alphabet, or unnormalized input', () => {
    const [code = ''] = sampleCodes(1);
    assert.ok(hasValidCheck(code, key));
    assert.equal(hasValidCheck('', key), false);
    assert.equal(hasValidCheck(code.slice(1), key), false);
    assert.equal(hasValidCheck(`${code}0`, key), false);
    assert.equal(hasValidCheck(code.toLowerCase(), key), code === code.toLowerCase());
    assert.equal(hasValidCheck(formatCode(code), key), false);
    for (const bad of ['I', 'L', 'O', 'U', '-', ' ', 'é', '\u0000']) {
      assert.equal(hasValidCheck(bad + code.slice(1), key), false, bad);
    }
  });
});

describe('normalizeCode and formatCode', () => {
  test('upper-cases, strips separators and maps look-alikes like Crockford', () => {
    assert.equal(normalizeCode(' abcd-efgh\tjkmn-pqrs '), 'ABCDEFGHJKMNPQRS');
    assert.equal(normalizeCode('oOiIlL'), '001111');
    assert.equal(normalizeCode('--'), '');
    assert.equal(normalizeCode('u'), 'U');
  });

  test('full-width forms (a CJK input method) and Unicode dashes are the ASCII a person meant', () => {
    const fullWidth = (s: string) => s.replace(/[!-~]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0));
    assert.equal(normalizeCode(fullWidth('abcd-efgh-jkmn-pqrs')), 'ABCDEFGHJKMNPQRS');
    assert.equal(normalizeCode('ABCD\u2013EFGH\u2014JKMN\u2010PQRS'), 'ABCDEFGHJKMNPQRS');
    assert.equal(normalizeCode(`\u3000${fullWidth('o1l')}\u3000`), '011');
    for (const code of sampleCodes(50)) {
      assert.ok(hasValidCheck(normalizeCode(fullWidth(formatCode(code).toLowerCase())), key));
    }
  });

  test('format groups of four; normalize undoes it, also after look-alike typing', () => {
    for (const code of sampleCodes(200)) {
      const shown = formatCode(code);
      assert.match(shown, /^[0-9A-Z]{4}(-[0-9A-Z]{4}){3}$/);
      assert.equal(normalizeCode(shown), code);
      const typed = shown.toLowerCase().replace(/0/g, 'o').replace(/1/g, 'l').replace(/-/g, ' ');
      assert.equal(normalizeCode(typed), code);
      assert.ok(hasValidCheck(normalizeCode(typed), key));
    }
  });

  test('property: normalization is idempotent and yields no separators or lower case', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (input) => {
        const once = normalizeCode(input);
        assert.equal(normalizeCode(once), once);
        assert.doesNotMatch(once, /[\s\-a-zOIL]/);
      }),
      { seed, numRuns: 1000 },
    );
  });
});
