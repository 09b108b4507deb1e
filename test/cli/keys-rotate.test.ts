import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { hashApiKey } from '../../src/http/api-keys.ts';
import { openStore } from '../../src/store/open-store.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { runCli } from '../support/node-process.ts';

test('vouchsafe keys rotate <id>: a new key with the same name and scopes, shown once; the old one revoked', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vs-rotate-'));
  const env = { VOUCHSAFE_DATA_DIR: dir };
  try {
    assert.equal((await runCli(['migrate'], env)).code, 0, 'a store to make keys in');
    const tooLong = await runCli(['keys', 'create', '--name', 'n'.repeat(129)], env);
    assert.equal(tooLong.code, 64, tooLong.out);
    assert.match(tooLong.out, /--name <name>' argument '[n]+' is invalid\. must be 1-128 characters/);
    const created = await runCli(['keys', 'create', '--name', 'pos', '--scope', 'checkout', 'read'], env);
    assert.equal(created.code, 0, created.out);
    const old = JSON.parse(created.out) as { id: string; key: string };
    const rotated = await runCli(['keys', 'rotate', old.id], env);
    assert.equal(rotated.code, 0, rotated.out);
    const fresh = JSON.parse(rotated.out) as {
      id: string;
      key: string;
      name: string;
      scopes: string[];
      replaces: string;
    };
    assert.notEqual(fresh.id, old.id);
    assert.notEqual(fresh.key, old.key);
    assert.equal(fresh.name, 'pos');
    assert.deepEqual(fresh.scopes, ['checkout', 'read']);
    assert.equal(fresh.replaces, old.id);

    const list = await runCli(['keys', 'list'], env);
    assert.ok(!list.out.includes(fresh.key) && !list.out.includes(old.key), 'list never shows secrets');
    const line = (id: string) => list.out.split('\n').find((l) => l.startsWith(id)) ?? '';
    assert.match(line(old.id), /\tpos\tcheckout,read\trevoked /);
    assert.match(line(fresh.id), /\tpos\tcheckout,read\tactive$/);

    const again = await runCli(['keys', 'rotate', old.id], env);
    assert.equal(again.code, 1, 'a revoked key cannot be rotated');
    assert.match(again.out, /already revoked/);
    assert.equal((await runCli(['keys', 'rotate', 'key_nope'], env)).code, 1);

    const store = new SqliteStore({ path: join(dir, 'vouchsafe.db') });
    assert.notEqual((await store.findApiKeyByHash(hashApiKey(old.key)))?.revoked_at_ms ?? null, null);
    assert.equal((await store.findApiKeyByHash(hashApiKey(fresh.key)))?.revoked_at_ms, null);
    const chain = await store.auditChain('platform');
    assert.ok(
      chain.some((e) => e.action === 'api_key.revoked' && e.subject === old.id && e.data_json.includes(fresh.id)),
    );
    await store.close();
    const verify = await runCli(['verify', '--data-dir', dir], {});
    assert.equal(verify.code, 0, verify.out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('keys create, list, revoke and rotate and codes generate refuse a data dir with no store, and create none there', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vs-nostore-'));
  const missing = join(dir, 'mistyped');
  writeFileSync(join(dir, 'earlier.csv'), 'code\nAN EARLIER EXPORT\n');
  try {
    for (const args of [
      ['keys', 'create', '--name', 'ci', '--scope', 'checkout'],
      ['keys', 'list'],
      ['keys', 'revoke', 'key_x'],
      ['keys', 'rotate', 'key_x'],
      ['codes', 'generate', '--campaign', 'cmp_x', '--count', '1', '--out', join(dir, 'earlier.csv')],
    ]) {
      const run = await runCli(args, { VOUCHSAFE_DATA_DIR: missing, DATABASE_URL: '' });
      assert.equal(run.code, 1, `${args.join(' ')}: ${run.out}`);
      assert.match(run.out, /no store at/, args.join(' '));
      assert.equal(existsSync(missing), false, `${args.join(' ')} left a new store behind`);
    }
    assert.equal(
      readFileSync(join(dir, 'earlier.csv'), 'utf8'),
      'code\nAN EARLIER EXPORT\n',
      'the earlier export is kept',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a database file that holds no Vouchsafe store is refused by every command that reads one, and left as it was', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vs-foreign-'));
  const empty = join(dir, 'empty');
  const foreign = join(dir, 'foreign');
  try {
    mkdirSync(empty);
    writeFileSync(join(empty, 'vouchsafe.db'), '');
    mkdirSync(foreign);
    const other = new Database(join(foreign, 'vouchsafe.db'));
    other.exec("CREATE TABLE foo (x TEXT); INSERT INTO foo VALUES ('theirs')");
    other.close();
    for (const data_dir of [empty, foreign]) {
      const before = readFileSync(join(data_dir, 'vouchsafe.db'));
      // Every command that reads a store opens it this way (one process per case would cost seconds).
      assert.throws(() => openStore({ data_dir, existing: true }), /^Error: no store at /, data_dir);
      const run = await runCli(['verify', '--data-dir', data_dir], { DATABASE_URL: '' });
      assert.equal(run.code, 1, run.out);
      assert.match(run.out, /no store at/);
      assert.deepEqual(readFileSync(join(data_dir, 'vouchsafe.db')), before, 'the file is unchanged');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('codes generate with a wrong campaign keeps an earlier export whole', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vs-codes-'));
  const env = { VOUCHSAFE_DATA_DIR: dir, DATABASE_URL: '' };
  const csv = join(dir, 'earlier.csv');
  writeFileSync(csv, 'code\nPRECIOUS1\n');
  try {
    assert.equal((await runCli(['migrate'], env)).code, 0);
    const run = await runCli(['codes', 'generate', '--campaign', 'cmp_nope', '--count', '1', '--out', csv], env);
    assert.equal(run.code, 1, run.out);
    assert.match(run.out, /no such campaign/);
    assert.equal(readFileSync(csv, 'utf8'), 'code\nPRECIOUS1\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
