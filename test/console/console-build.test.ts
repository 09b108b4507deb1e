import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { fastify } from 'fastify';
import { ensureConsoleBuilt } from '../../scripts/build-console.ts';
import { consoleDistDir, consoleRoutes } from '../../src/http/console.ts';
import { type HttpHarness, httpHarness } from '../http/harness.ts';

const KiB = 1024;
/** The console's JavaScript, uncompressed: Preact, uPlot and openapi-fetch fit well inside. */
const js_bytes_max = 160 * KiB;

before(async () => {
  assert.ok(await ensureConsoleBuilt(), 'the console must build');
});

test('the console typechecks with its own tsconfig (JSX, DOM)', () => {
  const tsc = fileURLToPath(new URL('../../node_modules/typescript/bin/tsc', import.meta.url));
  const root = fileURLToPath(new URL('../..', import.meta.url));
  execFileSync(process.execPath, [tsc, '-p', 'src/console'], { cwd: root, stdio: 'pipe' });
});

test('the built shell has no inline script or style, and the bundle stays small', () => {
  const html = readFileSync(join(consoleDistDir, 'index.html'), 'utf8');
  const scripts = [...html.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/g)];
  assert.ok(scripts.length > 0);
  for (const [tag, body] of scripts) {
    assert.match(tag, /\ssrc="\/console\/assets\/[^"]+\.js"/, 'every script is a file under /console/assets');
    assert.equal(body?.trim(), '', 'no inline script');
  }
  assert.doesNotMatch(html, /<style\b|\sstyle="|\son[a-z]+="/i, 'no inline style or event handler attribute');
  const assets = join(consoleDistDir, 'assets');
  const js_bytes = readdirSync(assets)
    .filter((f) => f.endsWith('.js'))
    .reduce((n, f) => n + statSync(join(assets, f)).size, 0);
  assert.ok(js_bytes > 0 && js_bytes <= js_bytes_max, `console JavaScript is ${js_bytes} bytes (max ${js_bytes_max})`);
});

describe('served at /console', () => {
  let h: HttpHarness;
  before(async () => {
    h = await httpHarness();
  });
  after(() => h.app.close());

  test('the shell, deep links and hashed assets, with the console CSP', async () => {
    for (const url of ['/console', '/console/', '/console/campaigns/cmp_123', '/console/incidents/inc_1']) {
      const res = await h.app.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 200, url);
      assert.match(String(res.headers['content-type']), /^text\/html/);
      assert.equal(res.headers['cache-control'], 'no-cache');
      const csp = String(res.headers['content-security-policy']);
      assert.match(csp, /default-src 'self'/);
      assert.match(csp, /script-src 'self'(;|$)/, 'scripts only from this origin, nothing inline');
      assert.match(csp, /frame-ancestors 'none'/);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
    }
    const shell = await h.app.inject({ method: 'GET', url: '/console' });
    const js = /src="(\/console\/assets\/[^"]+\.js)"/.exec(shell.body)?.[1] ?? '';
    const asset = await h.app.inject({ method: 'GET', url: js });
    assert.equal(asset.statusCode, 200);
    assert.match(String(asset.headers['cache-control']), /immutable/);
    const missing = await h.app.inject({ method: 'GET', url: '/console/assets/nope.js' });
    assert.equal(missing.statusCode, 404);
    const traversal = await h.app.inject({ method: 'GET', url: '/console/assets/..%2f..%2f..%2fpackage.json' });
    assert.notEqual(traversal.statusCode, 200);
  });

  test('the console policy is scoped to the console: API answers do not get it', async () => {
    const res = await h.call('GET', '/v1/campaigns');
    assert.equal(res.status, 200);
    assert.doesNotMatch(String(res.headers['content-security-policy'] ?? ''), /script-src 'self'/);
  });
});

test('an unbuilt console answers 503 with how to build it', async () => {
  const empty = mkdtempSync(join(tmpdir(), 'vs-no-console-'));
  const app = fastify();
  await app.register(consoleRoutes, { dist_dir: empty });
  try {
    const res = await app.inject({ method: 'GET', url: '/console' });
    assert.equal(res.statusCode, 503);
    assert.match(res.body, /npm run build:console/);
  } finally {
    await app.close();
    rmSync(empty, { recursive: true, force: true });
  }
});
