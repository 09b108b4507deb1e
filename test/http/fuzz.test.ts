import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { assertRefused, badValues, common, mightAccept, setup, snapshot, withValue } from './fuzz-targets.ts';
import { assertInvariants } from './harness.ts';

describe('malformed input', () => {
  test('every field with wrong types, negatives, floats, 1e300, huge strings, nulls: 4xx, nothing changes', async () => {
    const { h, targets } = await setup();
    const before = await snapshot(h);
    for (const t of targets) {
      for (const field of t.fields) {
        for (const value of badValues[field.kind]) {
          const res = await h.call(t.method, t.url, { key: t.key, body: withValue(t.base, field.path, value) });
          assertRefused(res, `${t.label} ${field.path.join('.')}=${JSON.stringify(value).slice(0, 40)}`);
        }
        if (field.required) {
          const res = await h.call(t.method, t.url, {
            key: t.key,
            body: withValue(t.base, field.path, undefined, true),
          });
          assertRefused(res, `${t.label} without ${field.path.join('.')}`);
        }
      }
      for (const whole of [[], null, 'body', 1, true, [t.base], { ...t.base, unexpected_field: 1 }, ...common]) {
        if (JSON.stringify(whole) === '{}' && t.fields.every((x) => !x.required)) continue;
        const res = await h.call(t.method, t.url, { key: t.key, body: whole });
        assertRefused(res, `${t.label} body=${JSON.stringify(whole).slice(0, 40)}`);
      }
    }
    assert.deepEqual(await snapshot(h), before, 'no malformed request changed anything');
    for (const t of targets.filter((x) => x.label !== 'reverse')) {
      const ok = await h.call(t.method, t.url, { key: t.key, body: t.base });
      assert.ok(ok.status < 300, `the unmutated ${t.label} body is valid: ${ok.status} ${JSON.stringify(ok.body)}`);
    }
    await assertInvariants(h.store);
  });

  test('broken JSON, wrong content types, deep nesting, prototype poisoning and bodies over 1 MiB', async () => {
    const { h } = await setup();
    const before = await snapshot(h);
    const raws = [
      '{',
      '{"user_id":',
      '[1,2',
      'nul',
      '{"user_id": "u1",}',
      "{'user_id': 'u1'}",
      '\u0000',
      '{"__proto__": {"admin": true}}',
      '{"constructor": {"prototype": {"admin": true}}}',
      `${'['.repeat(100_000)}${']'.repeat(100_000)}`,
      `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`,
      '"just a string"',
      '123456789012345678901234567890',
      '   ',
      `{"user_id": "${'x'.repeat(900_000)}"}`,
    ];
    for (const raw of raws) {
      assertRefused(await h.call('POST', '/v1/redemptions', { key: 'checkout', raw }), `raw ${raw.slice(0, 30)}`);
    }
    const tooBig = await h.call('POST', '/v1/redemptions', {
      key: 'checkout',
      raw: `{"user_id": "${'x'.repeat(1024 * 1024)}"}`,
    });
    assert.equal(tooBig.status, 413);
    assert.equal((tooBig.body as { error: { code: string } }).error.code, 'payload_too_large');
    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'application/xml',
      'multipart/form-data; boundary=x',
    ]) {
      const res = await h.call('POST', '/v1/redemptions', {
        key: 'checkout',
        raw: 'user_id=u1',
        headers: { 'content-type': type },
      });
      assertRefused(res, `content-type ${type}`);
    }
    for (const q of [
      'limit=0',
      'limit=-1',
      'limit=1.5',
      'limit=1e300',
      'limit=abc',
      'limit=101',
      `starting_after=${'x'.repeat(200)}`,
      'status=nope',
    ]) {
      assertRefused(await h.call('GET', `/v1/redemptions?${q}`, { key: 'read' }), `query ${q}`);
    }
    assertRefused(await h.call('GET', `/v1/campaigns/${'x'.repeat(300)}`, { key: 'read' }), 'long id');
    assert.equal((await h.call('GET', '/healthz', { key: null })).status, 200, 'the server is still up');
    assert.deepEqual(await snapshot(h), before);
    assert.equal(({} as Record<string, unknown>).admin, undefined, 'no prototype was polluted');
    await assertInvariants(h.store);
  });

  const seed = Number(process.env.FC_SEED ?? 20261125);
  test(`random invalid values in random fields are refused (fast-check seed ${seed})`, async () => {
    const { h, targets } = await setup();
    const before = await snapshot(h);
    const cases = targets.flatMap((t) => t.fields.map((field) => ({ t, field })));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...cases), fc.jsonValue({ maxDepth: 3 }), async ({ t, field }, value) => {
        fc.pre(!mightAccept(field.kind, value));
        const res = await h.call(t.method, t.url, { key: t.key, body: withValue(t.base, field.path, value) });
        assertRefused(res, `${t.label} ${field.path.join('.')}=${JSON.stringify(value).slice(0, 60)}`);
      }),
      { seed, numRuns: 400 },
    );
    assert.deepEqual(await snapshot(h), before);
    await assertInvariants(h.store);
  });
});
