import { createHash } from 'node:crypto';
import { assert } from './errors.ts';

/** Crockford base32: no I, L, O or U, so no code has two readings and few spell words. */
export const codeAlphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** 13 symbols of 5 bits: 65 bits of randomness, beyond guessing and birthday collisions at our volumes. */
export const codeRandomChars = 13;
/** 15 keyed bits: a random guess or a typo passes the check once in 32,768 tries, without a store read. */
export const codeCheckChars = 3;
export const codeLength = codeRandomChars + codeCheckChars;
export const codeEntropyBits = codeRandomChars * 5;
export const codeRandomBytesNeeded = Math.ceil(codeEntropyBits / 8);
/** A shorter key would make the check part forgeable by brute force on the key. */
export const codeKeyBytesMin = 16;

const symbolByAscii = new Int8Array(128).fill(-1);
for (let i = 0; i < codeAlphabet.length; i++) symbolByAscii[codeAlphabet.charCodeAt(i)] = i;

// SHA-256 (FIPS 180-4). Node's createHmac costs ~5 µs per call in setup alone; a code's
// message is one block, so HMAC from precomputed key midstates is two compressions (~1.4 µs).
// Tests check every output against node:crypto createHmac.
const roundConstants = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);
const initialState = new Int32Array([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);
/** Scratch space reused by every call (synchronous, so never shared between two calls). */
const schedule = new Int32Array(64);
const innerState = new Int32Array(8);
const outerState = new Int32Array(8);

const rotr = (x: number, n: number): number => (x >>> n) | (x << (32 - n));
const word = (a: Int32Array, i: number): number => a[i] ?? 0;

/** One SHA-256 compression of the block in schedule[0..15] into `state`. */
function compress(state: Int32Array): void {
  const w = schedule;
  for (let i = 16; i < 64; i++) {
    const x = word(w, i - 15);
    const y = word(w, i - 2);
    const s0 = rotr(x, 7) ^ rotr(x, 18) ^ (x >>> 3);
    const s1 = rotr(y, 17) ^ rotr(y, 19) ^ (y >>> 10);
    w[i] = (word(w, i - 16) + s0 + word(w, i - 7) + s1) | 0;
  }
  let a = word(state, 0);
  let b = word(state, 1);
  let c = word(state, 2);
  let d = word(state, 3);
  let e = word(state, 4);
  let f = word(state, 5);
  let g = word(state, 6);
  let h = word(state, 7);
  for (let i = 0; i < 64; i++) {
    const t1 =
      (h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + word(roundConstants, i) + word(w, i)) | 0;
    const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  state[0] = (word(state, 0) + a) | 0;
  state[1] = (word(state, 1) + b) | 0;
  state[2] = (word(state, 2) + c) | 0;
  state[3] = (word(state, 3) + d) | 0;
  state[4] = (word(state, 4) + e) | 0;
  state[5] = (word(state, 5) + f) | 0;
  state[6] = (word(state, 6) + g) | 0;
  state[7] = (word(state, 7) + h) | 0;
}

/** A prepared HMAC-SHA256 key: the states after its ipad and opad blocks. */
export class CodeKey {
  readonly #inner: Int32Array;
  readonly #outer: Int32Array;

  constructor(key: Uint8Array | string) {
    let bytes = typeof key === 'string' ? new TextEncoder().encode(key) : key;
    assert(bytes.length >= codeKeyBytesMin, `a code key needs at least ${codeKeyBytesMin} bytes`);
    if (bytes.length > 64) bytes = createHash('sha256').update(bytes).digest();
    this.#inner = CodeKey.#padState(bytes, 0x36);
    this.#outer = CodeKey.#padState(bytes, 0x5c);
  }

  static #padState(bytes: Uint8Array, pad: number): Int32Array {
    for (let i = 0; i < 16; i++) {
      let v = 0;
      for (let j = 0; j < 4; j++) v = (v << 8) | ((bytes[4 * i + j] ?? 0) ^ pad);
      schedule[i] = v;
    }
    const state = Int32Array.from(initialState);
    compress(state);
    return state;
  }

  /** The first 32 bits of HMAC-SHA256(key, message), for messages of at most 55 bytes. */
  mac32(message: Uint8Array): number {
    assert(message.length <= 55, 'message must fit one block');
    schedule.fill(0, 0, 16);
    for (let i = 0; i < message.length; i++)
      schedule[i >> 2] = word(schedule, i >> 2) | ((message[i] ?? 0) << (24 - 8 * (i & 3)));
    const end = message.length;
    schedule[end >> 2] = word(schedule, end >> 2) | (0x80 << (24 - 8 * (end & 3)));
    schedule[15] = (64 + end) * 8;
    innerState.set(this.#inner);
    compress(innerState);
    schedule.set(innerState);
    schedule.fill(0, 8, 16);
    schedule[8] = 0x80000000 | 0;
    schedule[15] = (64 + 32) * 8;
    outerState.set(this.#outer);
    compress(outerState);
    return word(outerState, 0) >>> 0;
  }
}

let cachedKey: { raw: string | Uint8Array; prepared: CodeKey } | null = null;

function sameRawKey(a: string | Uint8Array, b: string | Uint8Array): boolean {
  if (typeof a === 'string' || typeof b === 'string') return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Keeps the last prepared key, so a loop calling makeCode(…, key) pays the key setup once. */
export function codeKey(key: Uint8Array | string | CodeKey): CodeKey {
  if (key instanceof CodeKey) return key;
  if (cachedKey !== null && sameRawKey(cachedKey.raw, key)) return cachedKey.prepared;
  const prepared = new CodeKey(key);
  cachedKey = { raw: typeof key === 'string' ? key : Uint8Array.from(key), prepared };
  return prepared;
}

/**
 * Codes the engine issues to one user (claims, red-envelope grabs) start with a time prefix:
 * 4 symbols of the time in tenths of a second (wrapping every ~29 hours). The prefix adds
 * nothing to guess and takes nothing away (the 13 random symbols and the check follow it, and
 * the check covers it), but codes minted together sort together, so the code index grows at a
 * few pages instead of dirtying one random page per code (a red-envelope stampede: +50%).
 * Bearer codes (unique codes, often printed) stay 16 symbols.
 */
export const issuedPrefixChars = 4;
export const issuedCodeLength = issuedPrefixChars + codeLength;

/** The prefix of codes issued at `now_ms`. */
export function issuedCodePrefix(now_ms: number): string {
  let v = Math.floor(now_ms / 100) % 32 ** issuedPrefixChars;
  let out = '';
  for (let i = 0; i < issuedPrefixChars; i++) {
    out = codeAlphabet.charAt(v % 32) + out;
    v = Math.floor(v / 32);
  }
  return out;
}

/** The MAC's message: the prefix (if any) and the random symbols, as ASCII. */
const bearerMessage = new Uint8Array(codeRandomChars);
const issuedMessage = new Uint8Array(issuedPrefixChars + codeRandomChars);

/** The three check symbols of a message. */
function checkSymbols(key: CodeKey, message: Uint8Array): [number, number, number] {
  const bits = key.mac32(message) >>> (32 - 5 * codeCheckChars);
  return [(bits >>> 10) & 31, (bits >>> 5) & 31, bits & 31];
}

/**
 * A new code from `codeRandomBytesNeeded` CSPRNG bytes (the first 65 bits are used), after
 * `prefix` (empty for a bearer code, `issuedCodePrefix(now)` for an issued one).
 */
export function makeCode(random: Uint8Array, key: Uint8Array | string | CodeKey, prefix = ''): string {
  assert(random.length === codeRandomBytesNeeded, `makeCode needs exactly ${codeRandomBytesNeeded} random bytes`);
  assert(prefix.length === 0 || prefix.length === issuedPrefixChars, 'a code prefix has 4 symbols');
  const message = prefix.length === 0 ? bearerMessage : issuedMessage;
  for (let i = 0; i < prefix.length; i++) {
    const ascii = prefix.charCodeAt(i);
    assert((symbolByAscii[ascii] ?? -1) >= 0, 'a code prefix is Crockford base32');
    message[i] = ascii;
  }
  let acc = 0;
  let bits = 0;
  let n = 0;
  let code = prefix;
  for (let i = 0; i < random.length && n < codeRandomChars; i++) {
    acc = ((acc << 8) | (random[i] ?? 0)) & 0xfff;
    bits += 8;
    while (bits >= 5 && n < codeRandomChars) {
      bits -= 5;
      const symbol = (acc >>> bits) & 31;
      message[prefix.length + n++] = codeAlphabet.charCodeAt(symbol);
      code += codeAlphabet.charAt(symbol);
    }
  }
  for (const symbol of checkSymbols(codeKey(key), message)) code += codeAlphabet.charAt(symbol);
  return code;
}

/**
 * True when a normalized code has the shape of a bearer (16) or issued (20) code and its check
 * part matches: no store read needed.
 */
export function hasValidCheck(code: string, key: Uint8Array | string | CodeKey): boolean {
  const message = code.length === codeLength ? bearerMessage : code.length === issuedCodeLength ? issuedMessage : null;
  if (message === null) return false;
  for (let i = 0; i < code.length; i++) {
    const ascii = code.charCodeAt(i);
    if ((symbolByAscii[ascii] ?? -1) < 0) return false;
    if (i < message.length) message[i] = ascii;
  }
  const expected = checkSymbols(codeKey(key), message);
  let diff = 0;
  for (let i = 0; i < codeCheckChars; i++) {
    diff |= (expected[i] ?? 0) ^ (symbolByAscii[code.charCodeAt(message.length + i)] ?? -1);
  }
  return diff === 0;
}

const lookAlikes: Readonly<Record<string, string>> = { O: '0', I: '1', L: '1' };

/**
 * What a person typed, as the code it most likely is: compatibility forms folded (NFKC: the
 * full-width letters and digits a CJK input method types), upper case, no separators (spaces,
 * any dash), look-alikes mapped.
 */
export function normalizeCode(input: string): string {
  return input
    .normalize('NFKC')
    .toUpperCase()
    .replace(/[\s\p{Pd}]+/gu, '')
    .replace(/[OIL]/g, (c) => lookAlikes[c] ?? c);
}

/** Groups of four for reading aloud and typing: XXXX-XXXX-XXXX-XXXX. */
export function formatCode(code: string): string {
  return code.match(/.{1,4}/g)?.join('-') ?? code;
}
