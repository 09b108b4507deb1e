import assert from 'node:assert/strict';
import { test } from 'node:test';
import { duplicateKey, nonIntegerLiteral } from '../../src/http/json-text.ts';

test('nonIntegerLiteral finds fractions and exponents outside strings and names their path', () => {
  const cases: Array<[string, { found: boolean; param?: string }]> = [
    ['{"a":1}', { found: false }],
    ['{"ip":"203.0.113.9","at":"2026-01-01T00:00:00.250Z","n":5}', { found: false }],
    ['{"x":"\\"1.5\\"","y":{"z":10}}', { found: false }],
    ['{"s":"x\\\\","t":2.5}', { found: true, param: 't' }],
    ['{"a":1.0}', { found: true, param: 'a' }],
    ['{"a": "1.5", "b": -0.0}', { found: true, param: 'b' }],
    ['{ "a" : { "b" : 3 } , "c" : 4E0 }', { found: true, param: 'c' }],
    ['{"d":{"tiers":[{"m":1},{"m":1e3}]}}', { found: true, param: 'd.tiers[1].m' }],
    ['{"a":[[1],[2,3.0]]}', { found: true, param: 'a[1][1]' }],
    ['{"k\\u0061":1E2}', { found: true, param: 'ka' }],
    ['[1, 2.0]', { found: true, param: '[1]' }],
    ['1.5', { found: true }],
    [`{"${'k'.repeat(300)}":1.5}`, { found: true }],
    [`${'['.repeat(1000)}1.5${']'.repeat(1000)}`, { found: true }],
  ];
  for (const [text, want] of cases) {
    JSON.parse(text);
    assert.deepEqual(nonIntegerLiteral(text), want, text.slice(0, 60));
  }
});

test('duplicateKey finds a key named twice in one object, as decoded, and names its path', () => {
  const cases: Array<[string, { found: boolean; param?: string }]> = [
    ['{"a":1,"b":2}', { found: false }],
    ['[1,2,3]', { found: false }],
    ['{"a":{"x":1},"b":{"x":2}}', { found: false }],
    ['{"a":[{"x":1},{"x":2}]}', { found: false }],
    ['{"s":"\\"a\\":1,\\"a\\":2"}', { found: false }],
    ['{"a":1,"a":2}', { found: true, param: 'a' }],
    ['{ "budget_minor" : 50000 , "name" : "x" , "budget_minor" : 7 }', { found: true, param: 'budget_minor' }],
    ['{"order":{"id":"o1","amount_minor":5,"amount_minor":6}}', { found: true, param: 'order.amount_minor' }],
    ['{"tiers":[{"m":1},{"m":2,"m":3}]}', { found: true, param: 'tiers[1].m' }],
    ['{"a":1,"\\u0061":2}', { found: true, param: 'a' }],
    ['{"k\\\\":1,"k\\\\":2}', { found: true, param: 'k\\' }],
    [`{"${'k'.repeat(300)}":1,"${'k'.repeat(300)}":2}`, { found: true }],
  ];
  for (const [text, want] of cases) {
    assert.deepEqual(duplicateKey(text), want, text.slice(0, 60));
    // With the parsed value (the quote count fast path), the same answer.
    assert.deepEqual(duplicateKey(text, JSON.parse(text)), want, `${text.slice(0, 60)} (parsed)`);
  }
});

test('duplicateKey takes any depth and width JSON.parse takes, with and without the parsed value', () => {
  const deep = `{"name":${'['.repeat(20_000)}${']'.repeat(20_000)}}`;
  assert.deepEqual(duplicateKey(deep, JSON.parse(deep)), { found: false });
  const wide = JSON.stringify({ user_ids: Array.from({ length: 300_000 }, () => 'a') });
  assert.deepEqual(duplicateKey(wide, JSON.parse(wide)), { found: false });
  const deepDup = `{"a":${'['.repeat(5000)}{"x":1,"x":2}${']'.repeat(5000)}}`;
  assert.equal(duplicateKey(deepDup, JSON.parse(deepDup)).found, true);
});
