import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { CampaignWire } from '../../src/http/views.ts';
import { assertRefused, badValues, common, mightAccept, setup, snapshot, withValue } from './fuzz-targets.ts';
import { assertError, assertInvariants, campaignBody, type ErrorWire } from './harness.ts';

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

  test('numbers written with a fraction or exponent (1000.0, 1e3, 1000.00000000000001) are 400 naming the field', async () => {
    const { h, targets } = await setup();
    const before = await snapshot(h);
    const integerKinds = new Set(['money', 'count', 'nullable_count']);
    const literals = (n: number) => [`${n}.0`, `${n}.00000000000001`, `${n}e0`, `${n}E+0`, `${n * 10}e-1`, `${n}.5`];
    let tried = 0;
    for (const t of targets) {
      for (const field of t.fields.filter((x) => integerKinds.has(x.kind))) {
        const base = withValue(t.base, field.path, '@number@');
        const written = field.path.reduce<unknown>((node, k) => (node as Record<string, unknown>)[k], t.base);
        for (const literal of literals(typeof written === 'number' ? written : 1)) {
          const raw = JSON.stringify(base).replace('"@number@"', literal);
          const res = await h.call<ErrorWire>(t.method, t.url, { key: t.key, raw });
          const param = field.path.join('.');
          assertError(res, 400, 'invalid_request', param);
          assert.match(res.body.error.message, /must be written as integers/, `${t.label} ${param}=${literal}`);
          tried += 1;
        }
      }
    }
    assert.ok(tried >= 60, `${tried} literals tried`);
    // Nested and in an array: the path names the element.
    const tiered = JSON.stringify(
      campaignBody({ discount: { type: 'tiered', tiers: [{ min_spend_minor: 100, amount_minor: '@n@' }] } }),
    ).replace('"@n@"', '3000.0');
    assertError(
      await h.call('POST', '/v1/campaigns', { raw: tiered }),
      400,
      'invalid_request',
      'discount.tiers[0].amount_minor',
    );
    // Broken JSON stays broken JSON, whatever numbers it holds.
    const broken = await h.call<ErrorWire>('POST', '/v1/redemptions', { key: 'checkout', raw: '{"a": 1.5,' });
    assertError(broken, 400, 'invalid_request');
    assert.match(broken.body.error.message, /not valid JSON/);
    assert.deepEqual(await snapshot(h), before, 'no refused number changed anything');
    // Digits, dots and exponents inside strings (names, IPs, fractional seconds, escaped quotes) are text.
    const texts = campaignBody({
      name: 'v1.5e3 \\"2.0" \u0031.0',
      starts_at: '2026-01-01T00:00:00.250Z',
      product_kinds: ['merchandise', '1e3'],
    });
    const ok = await h.call<CampaignWire>('POST', '/v1/campaigns', { body: texts });
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    assert.equal(ok.body.name, texts.name);
    const spaced = JSON.stringify(campaignBody({ name: 'spaced' }), null, 2);
    assert.equal((await h.call('POST', '/v1/campaigns', { raw: spaced })).status, 201);
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
