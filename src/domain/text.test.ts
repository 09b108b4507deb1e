import assert from 'node:assert/strict';
import { test } from 'node:test';
import { atMostChars, charCount } from './text.ts';

test('charCount counts code points: a surrogate pair is one character, a lone surrogate one', () => {
  assert.equal(charCount(''), 0);
  assert.equal(charCount('abc'), 3);
  assert.equal(charCount('红包'), 2);
  assert.equal(charCount('💥'), 1);
  assert.equal(charCount('a💥b💥'), 4);
  assert.equal(charCount('\ud800'), 1);
  assert.equal(charCount('\udc00\ud800'), 2);
  assert.equal(charCount('\ud800💥'), 2);
  for (const s of ['x', '💥💥', 'é', '𠀀a', '\ud83d']) assert.equal(charCount(s), [...s].length, s);
});

test('atMostChars bounds by code points, deciding short strings by length alone', () => {
  assert.equal(atMostChars('💥'.repeat(128), 128), true);
  assert.equal(atMostChars('💥'.repeat(129), 128), false);
  assert.equal(atMostChars('a'.repeat(128), 128), true);
  assert.equal(atMostChars('a'.repeat(129), 128), false);
  assert.equal(atMostChars(`${'💥'.repeat(127)}ab`, 128), false);
  assert.equal(atMostChars('a'.repeat(1_000_000), 128), false);
});
