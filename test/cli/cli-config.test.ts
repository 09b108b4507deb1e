import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/config.ts';
import { runCli } from '../support/node-process.ts';

test('a bad setting in the environment is one `vouchsafe:` line and exit 1, not a stack trace; --help still works', async () => {
  for (const [name, value] of [
    ['PORT', 'abc'],
    ['VOUCHSAFE_APPROVAL_THRESHOLD_MINOR', '-5'],
  ] as const) {
    const run = await runCli(['keys', 'list'], { [name]: value });
    assert.equal(run.code, 1, run.out);
    assert.equal(run.out, `vouchsafe: ${name} must be a non-negative integer, got ${value}\n`);
  }
  const help = await runCli(['--help'], { PORT: 'abc' });
  assert.equal(help.code, 0, help.out);
  assert.match(help.out, /^Usage: vouchsafe /);
});

test("PORT is 0-65535 (0: any free port) and LOG_LEVEL one of pino's levels; the same for serve --port", async () => {
  assert.equal(loadConfig({ PORT: '0' }).port, 0);
  assert.equal(loadConfig({ PORT: '65535' }).port, 65535);
  assert.throws(() => loadConfig({ PORT: '65536' }), /^Error: PORT must be a port, 0-65535, got 65536$/);
  assert.equal(loadConfig({ LOG_LEVEL: 'debug' }).log_level, 'debug');
  assert.equal(loadConfig({}).log_level, 'info');
  assert.throws(() => loadConfig({ LOG_LEVEL: 'bogus' }), /LOG_LEVEL must be one of fatal, error, warn, info/);
  const flag = await runCli(['serve', '--port', '70000'], {});
  assert.equal(flag.code, 64, `wrong usage is EX_USAGE: ${flag.out}`);
  assert.match(flag.out, /--port .* must be a port, 0-65535, got 70000/);
  // Whole decimal numbers only: Number() reads ' ' as 0 (any free port; digests off), '0x50' as 80, '1e3' as 1000.
  for (const bad of [' ', '0x50', '1e3', '+80', '80 ', '0b1']) {
    for (const name of ['PORT', 'VOUCHSAFE_APPROVAL_THRESHOLD_MINOR', 'VOUCHSAFE_AUDIT_DIGEST_INTERVAL_S']) {
      assert.throws(
        () => loadConfig({ [name]: bad }),
        (err: Error) => err.message === `${name} must be a non-negative integer, got ${bad}`,
        `${name}=${JSON.stringify(bad)}`,
      );
    }
  }
  const env = await runCli(['keys', 'list'], { PORT: '99999' });
  assert.equal(env.code, 1, env.out);
  assert.equal(env.out, 'vouchsafe: PORT must be a port, 0-65535, got 99999\n');
});

test('VOUCHSAFE_TRUST_PROXY: off by default; true or proxy addresses and ranges; anything else is refused', async () => {
  assert.equal(loadConfig({}).trust_proxy, false);
  assert.equal(loadConfig({ VOUCHSAFE_TRUST_PROXY: '' }).trust_proxy, false);
  assert.equal(loadConfig({ VOUCHSAFE_TRUST_PROXY: 'false' }).trust_proxy, false);
  assert.equal(loadConfig({ VOUCHSAFE_TRUST_PROXY: 'true' }).trust_proxy, true);
  assert.deepEqual(loadConfig({ VOUCHSAFE_TRUST_PROXY: 'loopback' }).trust_proxy, ['loopback']);
  assert.deepEqual(loadConfig({ VOUCHSAFE_TRUST_PROXY: '10.0.0.0/8, 192.0.2.7,2001:db8::/32' }).trust_proxy, [
    '10.0.0.0/8',
    '192.0.2.7',
    '2001:db8::/32',
  ]);
  // A hop count is refused too: Fastify no longer honours one.
  for (const bad of ['yes', '2', '10.0.0.0/33', 'lb.internal', '1.5', '-1', '10.0.0.1,']) {
    assert.throws(() => loadConfig({ VOUCHSAFE_TRUST_PROXY: bad }), /VOUCHSAFE_TRUST_PROXY/, bad);
  }
  const run = await runCli(['keys', 'list'], { VOUCHSAFE_TRUST_PROXY: 'yes' });
  assert.equal(run.code, 1, run.out);
  assert.match(run.out, /^vouchsafe: VOUCHSAFE_TRUST_PROXY must be /);
});

test('audit digests: hourly into <data dir>/audit-digests by default; the dir and interval can be set, 0 turns them off', () => {
  assert.equal(loadConfig({}).audit_digest_interval_s, 3600);
  assert.equal(loadConfig({}).audit_digest_dir, join('./data', 'audit-digests'));
  assert.equal(loadConfig({ VOUCHSAFE_DATA_DIR: '/srv/vs' }).audit_digest_dir, '/srv/vs/audit-digests');
  const set = loadConfig({ VOUCHSAFE_AUDIT_DIGEST_DIR: '/mnt/worm', VOUCHSAFE_AUDIT_DIGEST_INTERVAL_S: '0' });
  assert.equal(set.audit_digest_dir, '/mnt/worm');
  assert.equal(set.audit_digest_interval_s, 0);
  // A cluster node's data dir is often throwaway: on PostgreSQL only where a dir is named.
  assert.equal(loadConfig({ DATABASE_URL: 'postgres://db/vs' }).audit_digest_dir, null);
  assert.equal(
    loadConfig({ DATABASE_URL: 'postgres://db/vs', VOUCHSAFE_AUDIT_DIGEST_DIR: '/mnt/worm' }).audit_digest_dir,
    '/mnt/worm',
  );
  assert.equal(loadConfig({ VOUCHSAFE_AUDIT_DIGEST_INTERVAL_S: '2147483' }).audit_digest_interval_s, 2_147_483);
  assert.throws(() => loadConfig({ VOUCHSAFE_AUDIT_DIGEST_INTERVAL_S: '2592000' }), /at most 2147483 \(24.8 days\)/);
  for (const bad of ['-1', '1.5', 'hourly']) {
    assert.throws(
      () => loadConfig({ VOUCHSAFE_AUDIT_DIGEST_INTERVAL_S: bad }),
      /VOUCHSAFE_AUDIT_DIGEST_INTERVAL_S must be a non-negative integer/,
      bad,
    );
  }
});

test('VOUCHSAFE_ADMIN_KEY: a weak key is refused at start, one line and exit 1, never echoed', async () => {
  const hex32 = '0123456789abcdef0123456789abcdef';
  assert.equal(loadConfig({}).admin_key, undefined);
  assert.equal(loadConfig({ VOUCHSAFE_ADMIN_KEY: '' }).admin_key, undefined);
  for (const good of [hex32, 'vs_test_admin_key_for_crash_safety_0001', `vs_${'abcdefgh234567'.repeat(4)}`]) {
    assert.equal(loadConfig({ VOUCHSAFE_ADMIN_KEY: good }).admin_key, good);
  }
  const bad: Array<[string, RegExp]> = [
    ['admin', /must be 32 to 256 characters long, got 5: generate one with `openssl rand -hex 32`/],
    [hex32.slice(1), /got 31/],
    [`${hex32}x`.repeat(8), /got 264/],
    [`${hex32} with a space`, /printable ASCII without spaces/],
    [`${hex32}\u00e9`, /printable ASCII without spaces/],
    ['adminadminadminadminadminadminadmin', /must not repeat a few characters/],
  ];
  for (const [key, message] of bad) {
    assert.throws(
      () => loadConfig({ VOUCHSAFE_ADMIN_KEY: key }),
      (err: Error) => message.test(err.message) && !err.message.includes(key),
      key,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'vouchsafe-weak-key-'));
  const env = { VOUCHSAFE_ADMIN_KEY: 'admin', VOUCHSAFE_DATA_DIR: dir, PORT: '0', DATABASE_URL: '' };
  const run = await runCli(['serve'], env, { timeout_ms: 20_000 });
  assert.equal(run.code, 1, run.out);
  assert.match(run.out, /^vouchsafe: VOUCHSAFE_ADMIN_KEY must be 32 to 256 characters long, got 5: [^\n]*\n$/);
  assert.ok(!existsSync(join(dir, 'vouchsafe.db')), 'refused before any store is opened');
});

test('wrong usage exits 64, apart from a failure (1); help exits 0', async () => {
  for (const args of [['verify', '--bogus'], ['nosuch'], ['codes', 'generate'], ['verify', '--digest'], []]) {
    const run = await runCli(args, {});
    assert.equal(run.code, 64, `${args.join(' ')}: ${run.out}`);
    assert.match(run.out, /error: |Usage: /, args.join(' '));
  }
  // An invalid value is wrong usage too: a blank --port is not "any free port", nor a blank --name a key's name.
  for (const args of [
    ['keys', 'create', '--name', ''],
    ['keys', 'create', '--name', 'x'.repeat(129)],
    ['serve', '--port', ''],
  ]) {
    const data = mkdtempSync(join(tmpdir(), 'vs-usage-'));
    const run = await runCli(args, { PORT: '0', VOUCHSAFE_DATA_DIR: data }, { timeout_ms: 60_000 });
    assert.equal(run.code, 64, `${JSON.stringify(args)}: ${run.out}`);
    assert.match(
      run.out,
      /^error: option '(-p, )?--(name|port) <\w+>' argument '[^']*' is invalid\. /,
      JSON.stringify(args),
    );
  }
  for (const args of [['--help'], ['verify', '--help']]) assert.equal((await runCli(args, {})).code, 0, args.join(' '));
  const version = await runCli(['--version'], {});
  assert.equal(version.code, 0, version.out);
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  assert.equal(version.out, `${pkg.version}\n`);
  // A command that runs and fails is 1: here no store at the data dir it is given.
  const dir = mkdtempSync(join(tmpdir(), 'vs-usage-'));
  const failed = await runCli(['verify', '--data-dir', join(dir, 'none')], {});
  assert.equal(failed.code, 1, failed.out);
});

test('--data-dir names the SQLite store even when DATABASE_URL is set; --data-dir with --database-url is wrong usage', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vs-data-dir-flag-'));
  // A PostgreSQL URL nothing answers at: were it used, each command would fail, or check another store.
  const env = { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', VOUCHSAFE_DATA_DIR: '', LOG_LEVEL: 'warn' };
  const migrate = await runCli(['migrate', '--data-dir', dir], env);
  assert.equal(migrate.code, 0, migrate.out);
  assert.equal(migrate.out, 'migrated the sqlite store\n');
  assert.ok(existsSync(join(dir, 'vouchsafe.db')));
  const verify = await runCli(['verify', '--data-dir', dir], env);
  assert.equal(verify.code, 0, verify.out);
  assert.match(verify.out, /^OK: 0 campaigns/);
  const digest = await runCli(['audit', 'digest', '--data-dir', dir], env);
  assert.equal(digest.code, 0, digest.out);
  assert.match(digest.out, /"object": "audit_digest"/);
  // A data dir with no store is said so, not answered for the database in the environment.
  const none = await runCli(['verify', '--data-dir', join(dir, 'none')], env);
  assert.equal(none.code, 1, none.out);
  assert.match(none.out, /^vouchsafe: no store at /);
  for (const args of [['verify'], ['audit', 'digest'], ['migrate']]) {
    const both = await runCli([...args, '--data-dir', dir, '--database-url', 'postgres://127.0.0.1:1/x'], env);
    assert.equal(both.code, 64, `${args.join(' ')}: ${both.out}`);
    assert.match(both.out, /error: option '--data-dir <dir>' cannot be used with option '--database-url <url>'/);
  }
});

test('VOUCHSAFE_WEBHOOK_ALLOW_PRIVATE is 1 or 0 (or unset); anything else is refused at start, not taken as 0', async () => {
  assert.equal(loadConfig({}).webhook_allow_private, false);
  assert.equal(loadConfig({ VOUCHSAFE_WEBHOOK_ALLOW_PRIVATE: '' }).webhook_allow_private, false);
  assert.equal(loadConfig({ VOUCHSAFE_WEBHOOK_ALLOW_PRIVATE: '0' }).webhook_allow_private, false);
  assert.equal(loadConfig({ VOUCHSAFE_WEBHOOK_ALLOW_PRIVATE: '1' }).webhook_allow_private, true);
  for (const bad of ['true', 'yes', 'on', '2', ' 1', 'false']) {
    assert.throws(
      () => loadConfig({ VOUCHSAFE_WEBHOOK_ALLOW_PRIVATE: bad }),
      (err: Error) => err.message === `VOUCHSAFE_WEBHOOK_ALLOW_PRIVATE must be 1 or 0, got ${bad}`,
      bad,
    );
  }
  const run = await runCli(['keys', 'list'], { VOUCHSAFE_WEBHOOK_ALLOW_PRIVATE: 'true' });
  assert.equal(run.code, 1, run.out);
  assert.equal(run.out, 'vouchsafe: VOUCHSAFE_WEBHOOK_ALLOW_PRIVATE must be 1 or 0, got true\n');
});

test('REDIS_URL with a scheme other than redis:// or rediss:// is refused at start, without its password', async () => {
  assert.equal(loadConfig({}).redis_url, undefined);
  for (const good of [
    'redis://cache:6379',
    'rediss://u:pw@cache:6380/2',
    'REDIS://cache',
    'cache:6379',
    '/run/redis.sock',
  ]) {
    assert.equal(loadConfig({ REDIS_URL: good }).redis_url, good);
  }
  // ioredis reads http://host:6379 as a Unix socket path: every velocity-limited campaign would answer 503.
  for (const [bad, scheme] of [
    ['http://cache:6379', 'http'],
    ['postgres://u:secret@db/vs', 'postgres'],
    ['nats://u:secret@cache:4222', 'nats'],
  ]) {
    assert.throws(
      () => loadConfig({ REDIS_URL: bad }),
      (err: Error) =>
        err.message === `REDIS_URL must start with redis:// or rediss://, got ${scheme}://...` &&
        !err.message.includes('secret'),
      bad,
    );
  }
  const run = await runCli(['keys', 'list'], { REDIS_URL: 'http://cache:6379' });
  assert.equal(run.code, 1, run.out);
  assert.equal(run.out, 'vouchsafe: REDIS_URL must start with redis:// or rediss://, got http://...\n');
});
