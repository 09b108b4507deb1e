import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { createVouchsafeClient } from '../../client/index.ts';
import { openApiDocument, openApiText } from '../../src/http/openapi-document.ts';
import { schemaTypes } from '../../tools/client-gen/schema-types.ts';

const committed = (name: string) => readFileSync(new URL(`../../client/${name}`, import.meta.url), 'utf8');
const regenerate = 'the committed client is stale: run `npm run client:generate` and commit client/';

test('client/openapi.json is the OpenAPI document the app serves', async () => {
  const fresh = openApiText(await openApiDocument());
  // Compare parsed first so a failure names the difference, then the text so formatting cannot drift either.
  assert.deepEqual(JSON.parse(committed('openapi.json')), JSON.parse(fresh), regenerate);
  assert.equal(committed('openapi.json'), fresh, regenerate);
});

test('client/schema.d.ts is generated from client/openapi.json', async () => {
  const fresh = await schemaTypes(JSON.parse(committed('openapi.json')));
  assert.equal(committed('schema.d.ts'), fresh, regenerate);
});

test('the client sends the key as a Bearer token to the typed path', async () => {
  const seen: { url: string; auth: string | null }[] = [];
  const fetch = async (request: Request) => {
    seen.push({ url: request.url, auth: request.headers.get('authorization') });
    return new Response(JSON.stringify({ ok: true }), { headers: { 'content-type': 'application/json' } });
  };
  const client = createVouchsafeClient('http://vouchsafe.test', 'vs_key', { fetch });
  const res = await client.GET('/healthz');
  assert.deepEqual(res.data, { ok: true });
  assert.deepEqual(seen, [{ url: 'http://vouchsafe.test/healthz', auth: 'Bearer vs_key' }]);
});
