import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
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

type Operation = {
  parameters?: Array<{ in: string; name: string; required?: boolean; schema?: { default?: unknown } }>;
  requestBody?: { required?: boolean };
};

test('the document says what may be left out: ?limit= (default 20) on every list, and bodies that require nothing', async () => {
  const paths = (await openApiDocument()).paths as Record<string, Record<string, Operation>>;
  const limits = Object.entries(paths).flatMap(([path, ops]) =>
    Object.entries(ops).flatMap(([method, op]) =>
      (op.parameters ?? [])
        .filter((p) => p.in === 'query' && p.name === 'limit')
        .map((p) => ({ at: `${method} ${path}`, required: p.required, default: p.schema?.default })),
    ),
  );
  assert.equal(limits.length, 9, 'every list');
  for (const l of limits) assert.deepEqual(l, { at: l.at, required: false, default: 20 });
  const optionalBodies = Object.entries(paths).flatMap(([path, ops]) =>
    Object.entries(ops)
      .filter(([, op]) => op.requestBody !== undefined && op.requestBody.required !== true)
      .map(([method]) => `${method} ${path}`),
  );
  const id = '/v1/campaigns/{id}';
  assert.deepEqual(optionalBodies.sort(), [
    'post /v1/api-keys/{id}/revoke',
    'post /v1/api-keys/{id}/rotate',
    `post ${id}`,
    `post ${id}/approve`,
    `post ${id}/pause`,
    `post ${id}/resume`,
    `post ${id}/revoke`,
    `post ${id}/submit`,
    'post /v1/redemptions/{id}/confirm',
    'post /v1/redemptions/{id}/release',
    'post /v1/redemptions/{id}/reverse',
  ]);
});

test('the generated client lets a caller leave out what the API lets it leave out (tsc over a fixture)', () => {
  const tsc = fileURLToPath(new URL('../../node_modules/typescript/bin/tsc', import.meta.url));
  const root = fileURLToPath(new URL('../..', import.meta.url));
  try {
    execFileSync(process.execPath, [tsc, '-p', 'test/client/fixtures'], { cwd: root, stdio: 'pipe' });
  } catch (err) {
    const out = err as { stdout?: Buffer };
    assert.fail(
      `test/client/fixtures/optional-inputs.ts does not typecheck:\n${out.stdout?.toString() ?? String(err)}`,
    );
  }
});
