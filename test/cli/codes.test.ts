import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Engine } from '../../src/engine/engine.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { assertInvariants, spec } from '../support/fixtures.ts';
import { runCli } from '../support/node-process.ts';

const cliBin = fileURLToPath(new URL('../../bin/vouchsafe.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'vouchsafe-codes-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const env = { VOUCHSAFE_DATA_DIR: dir, LOG_LEVEL: 'warn' };
const db = join(dir, 'vouchsafe.db');

/** Campaigns made through the engine on the file the CLI will open. */
async function seed(): Promise<{ unique: string; claim: string }> {
  const store = new SqliteStore({ path: db });
  const engine = await Engine.open(store);
  const now_ms = Date.now();
  const window = { starts_at_ms: now_ms - 60_000, ends_at_ms: now_ms + 7 * 86_400_000 };
  const unique = await engine.createCampaign(spec({ code_mode: 'unique_codes', ...window }), { actor: 'key_test' });
  const claim = await engine.createCampaign(spec({ name: 'claims', ...window }), { actor: 'key_test' });
  await engine.close();
  await store.close();
  return { unique: unique.id, claim: claim.id };
}

describe('vouchsafe codes generate', async () => {
  const ids = await seed();

  test('writes a CSV of unique codes that the store knows, in engine batches of --chunk', async () => {
    const out = join(dir, 'codes.csv');
    const run = await runCli(
      ['codes', 'generate', '--campaign', ids.unique, '--count', '250', '--chunk', '100', '--out', out],
      env,
    );
    assert.equal(run.code, 0, run.out);
    assert.match(run.out, new RegExp(`generated 250 codes for ${ids.unique}`));
    const lines = readFileSync(out, 'utf8').trimEnd().split('\n');
    assert.equal(lines[0], 'code');
    const codes = lines.slice(1);
    assert.equal(codes.length, 250);
    assert.equal(new Set(codes).size, 250);
    for (const code of codes) assert.match(code, /^[0-9A-HJKMNP-TV-Z]{16}$/);
    assert.equal(statSync(out).mode & 0o777, 0o600, 'bearer codes are readable by their owner only');
    const store = new SqliteStore({ path: db });
    try {
      for (const code of [codes[0], codes[249]]) {
        const coupon = await store.findCouponByCode(code ?? '');
        assert.equal(coupon?.campaign_id, ids.unique);
        assert.equal(coupon?.kind, 'unique');
      }
      const chunks = (await store.auditChain(ids.unique)).filter((e) => e.action === 'codes.generated');
      assert.deepEqual(
        chunks.map((e) => (JSON.parse(e.data_json) as { count: number }).count),
        [100, 100, 50],
      );
      await assertInvariants(store);
    } finally {
      await store.close();
    }
  });

  test('without --out the CSV goes to stdout, with no progress bar when stderr is not a terminal', async () => {
    const run = await runCli(['codes', 'generate', '--campaign', ids.unique, '--count', '3'], env);
    assert.equal(run.code, 0, run.out);
    const lines = run.out.split('\n');
    assert.equal(lines[0], 'code');
    assert.equal(lines.filter((l) => /^[0-9A-Z]{16}$/.test(l)).length, 3);
    assert.ok(!run.out.includes('['), 'no progress bar');
  });

  test('an --out file that already exists is made owner-only before any code is written into it', async () => {
    const out = join(dir, 'existing.csv');
    writeFileSync(out, 'an earlier export\n', { mode: 0o644 });
    chmodSync(out, 0o644);
    const run = await runCli(['codes', 'generate', '--campaign', ids.unique, '--count', '3', '--out', out], env);
    assert.equal(run.code, 0, run.out);
    assert.equal(
      readFileSync(out, 'utf8').trimEnd().split('\n').length,
      4,
      'the header and 3 codes replace the old content',
    );
    assert.equal(statSync(out).mode & 0o777, 0o600, 'bearer codes are readable by their owner only');
  });

  test('stdout closed early (a pipe into head): stops making codes, says how many it made, exits 1; no crash', async () => {
    const child = spawn(
      process.execPath,
      [cliBin, 'codes', 'generate', '--campaign', ids.unique, '--count', '100000', '--chunk', '100'],
      {
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    // As `| head -1`: the reader takes its first chunk and goes away.
    await once(child.stdout, 'data');
    child.stdout.destroy();
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 1, err);
    assert.match(err, /output closed after \d+ codes/);
    assert.ok(!err.includes('    at '), `no stack trace: ${err}`);
    const store = new SqliteStore({ path: db });
    try {
      const made = (await store.auditChain(ids.unique))
        .filter((e) => e.action === 'codes.generated')
        .reduce((n, e) => n + (JSON.parse(e.data_json) as { count: number }).count, 0);
      assert.ok(made < 100_000, `it stopped making codes nobody reads (${made} made)`);
      await assertInvariants(store);
    } finally {
      await store.close();
    }
  });

  test('refuses other campaigns, unknown ids and bad counts with exit code 1 and a message', async () => {
    const claim = await runCli(['codes', 'generate', '--campaign', ids.claim, '--count', '5'], env);
    assert.equal(claim.code, 1);
    assert.match(claim.out, /unique_codes/);
    const missing = await runCli(['codes', 'generate', '--campaign', 'cmp_missing', '--count', '5'], env);
    assert.equal(missing.code, 1);
    assert.match(missing.out, /no such campaign/);
    const zero = await runCli(['codes', 'generate', '--campaign', ids.unique, '--count', '0'], env);
    assert.notEqual(zero.code, 0);
    assert.match(zero.out, /positive integer/);
  });
});
