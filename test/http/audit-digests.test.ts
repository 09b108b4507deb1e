import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { readDigest } from '../../src/cli/audit.ts';
import { ManualClock } from '../../src/engine/clock.ts';
import { Engine } from '../../src/engine/engine.ts';
import { verifyStore } from '../../src/engine/verify.ts';
import { verifySignature } from '../../src/events/signature.ts';
import { startAuditDigests } from '../../src/http/audit-digests.ts';
import { makeLogger } from '../../src/http/logger.ts';
import { startServer } from '../../src/http/server.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { receiver } from '../events/support.ts';

const root = mkdtempSync(join(tmpdir(), 'vs-audit-digests-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** A logger whose JSON lines are kept. */
function capture(): { logger: ReturnType<typeof makeLogger>; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: makeLogger('info', sink), lines };
}

async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await sleep(20);
  assert.ok(check(), what);
}

test('serve takes an audit digest at start and then every interval: each file sound, its value logged, the store held to it; none after close', async () => {
  const data_dir = join(root, 'data');
  const dir = join(data_dir, 'audit-digests');
  const store = new SqliteStore({ path: join(data_dir, 'vouchsafe.db') });
  const engine = await Engine.open(store);
  const { logger, lines } = capture();
  const server = await startServer({
    engine,
    port: 0,
    host: '127.0.0.1',
    handle_signals: false,
    logger,
    bootstrap: { data_dir, admin_key: 'vs_test_admin_key_for_digests_00000001', print: () => {} },
    audit_digests: { dir, interval_ms: 150 },
  });
  const files = () => (existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')) : []);
  await until('a first digest at start', () => files().length >= 1);
  // The platform chain moves on (a key), so a later digest differs.
  const res = await fetch(`${server.url}/v1/api-keys`, {
    method: 'POST',
    headers: { authorization: 'Bearer vs_test_admin_key_for_digests_00000001', 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'reader', scopes: ['read'] }),
  });
  assert.equal(res.status, 201);
  await until('more digests, every interval', () => files().length >= 3);
  await server.close();
  const written = files().sort();
  await sleep(400);
  assert.deepEqual(files().sort(), written, 'none after close');

  assert.deepEqual(
    lines.filter((l) => l.msg === 'audit digest failed'),
    [],
  );
  const taken = lines.filter((l) => l.msg === 'audit digest taken: keep its value outside the database');
  assert.ok(taken.every((l) => l.level === 30 && typeof l.file === 'string' && l.file.startsWith(dir)));
  assert.equal(taken.length, written.length);
  const digests = written.map((f) => readDigest(join(dir, f)));
  assert.deepEqual(
    digests.map((d) => d.digest),
    taken.map((l) => l.digest),
    'each file carries the value its line logged',
  );
  assert.equal(new Set(digests.map((d) => d.digest)).size > 1, true, 'the key moved the platform chain on');
  const reopened = new SqliteStore({ path: join(data_dir, 'vouchsafe.db') });
  try {
    for (const digest of digests) {
      const report = await reopened.readSnapshot(() => verifyStore(reopened, undefined, { digest }));
      assert.deepEqual(report.violations, [], digest.created_at);
    }
  } finally {
    await reopened.close();
  }
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.endsWith('.tmp')),
    [],
  );
});

test('serve sends each digest to the webhooks that name audit.digest: its value, time, chain count and file', async () => {
  const data_dir = join(root, 'announced');
  const dir = join(data_dir, 'audit-digests');
  const store = new SqliteStore({ path: join(data_dir, 'vouchsafe.db') });
  const engine = await Engine.open(store);
  const admin_key = 'vs_test_admin_key_for_digests_00000002';
  const r = await receiver();
  const server = await startServer({
    engine,
    port: 0,
    host: '127.0.0.1',
    handle_signals: false,
    bootstrap: { data_dir, admin_key, print: () => {} },
    events: { allow_private: true },
    audit_digests: { dir, interval_ms: 150 },
  });
  try {
    const res = await fetch(`${server.url}/v1/webhooks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin_key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ url: r.url, events: ['audit.digest'] }),
    });
    assert.equal(res.status, 201);
    const { secret } = (await res.json()) as { secret: string };
    await until('two digests delivered', () => r.received.length >= 2);
    for (const got of r.received.slice(0, 2)) {
      assert.equal(got.body.type, 'audit.digest');
      const data = got.body.data as { digest: string; created_at: string; chains: number; file: string };
      assert.deepEqual(Object.keys(data).sort(), ['chains', 'created_at', 'digest', 'file']);
      assert.match(data.file, /^\d{4}-\d{2}-\d{2}T[\d-]+Z\.json$/, 'the name in the digest dir, not a server path');
      const onDisk = readDigest(join(dir, data.file));
      assert.equal(data.digest, onDisk.digest, 'the value of the file it names');
      assert.equal(data.created_at, onDisk.created_at);
      assert.equal(data.chains, onDisk.chains);
      const now_s = Math.floor(Date.now() / 1000);
      assert.ok(verifySignature(String(got.headers['vouchsafe-signature']), secret, got.raw, now_s));
    }
  } finally {
    await server.close();
    await r.close();
  }
});

test('the first digest is written before the server is up; a name taken already is a warning and the earlier file stays as it was', async () => {
  const dir = join(root, 'stuck');
  const store = new SqliteStore({ path: ':memory:' });
  const clock = new ManualClock(Date.parse('2026-11-27T06:00:00Z'));
  const engine = await Engine.open(store, { clock });
  const { logger, lines } = capture();
  const server = await startServer({
    engine,
    port: 0,
    host: '127.0.0.1',
    handle_signals: false,
    logger,
    audit_digests: { dir, interval_ms: 100 },
  });
  assert.deepEqual(readdirSync(dir), ['2026-11-27T06-00-00-000Z.json'], 'taken at start, before startServer resolved');
  const file = join(dir, '2026-11-27T06-00-00-000Z.json');
  const before = readFileSync(file, 'utf8');
  // The clock stands still, so the next digest has the same name.
  await until('a warning for the name taken', () => lines.some((l) => l.msg === 'audit digest failed'));
  const failed = lines.find((l) => l.msg === 'audit digest failed');
  assert.equal(failed?.level, 40);
  assert.match(String(failed?.error), /already exists: a digest is never written over another/);
  assert.equal(readFileSync(file, 'utf8'), before);
  assert.deepEqual(readdirSync(dir), ['2026-11-27T06-00-00-000Z.json'], 'no temporary file left');
  await server.close();
});

test('stop waits a few seconds at most for a digest whose store read never returns', async () => {
  const store = new SqliteStore({ path: ':memory:' });
  let heads = 0;
  const hanging = new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'auditHeads') {
        return () => {
          heads += 1;
          return heads === 1 ? target.auditHeads() : new Promise(() => {});
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const logs: string[] = [];
  const digests = await startAuditDigests(hanging, {
    dir: join(root, 'hanging'),
    interval_ms: 10,
    now: () => Date.now(),
    log: (msg) => logs.push(msg),
  });
  await until('the second read has begun', () => heads === 2);
  const t0 = Date.now();
  await digests.stop();
  assert.ok(Date.now() - t0 < 30_000, 'stop returned');
  assert.equal(logs.length, 1);
  await store.close();
});

test('an interval a timer cannot wait is refused', async () => {
  const store = new SqliteStore({ path: ':memory:' });
  const opts = { dir: join(root, 'never'), now: () => 0, log: () => {} };
  await assert.rejects(startAuditDigests(store, { ...opts, interval_ms: 2 ** 31 }), /must be 1 to 2147483647 ms/);
  await assert.rejects(startAuditDigests(store, { ...opts, interval_ms: 0 }), /must be 1 to/);
  assert.equal(existsSync(join(root, 'never')), false);
  await store.close();
});
