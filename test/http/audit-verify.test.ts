import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { activeCampaign, claim, type HttpHarness, httpHarness } from './harness.ts';

type VerifyWire = { ok: boolean; entries: number; chains: number; first_bad_seq: number | null };

/** A server over a SQLite file (an in-memory database cannot be read from a second connection). */
async function fileHarness(t: { after: (fn: () => Promise<void>) => void }, campaigns: number): Promise<HttpHarness> {
  const dir = mkdtempSync(join(tmpdir(), 'vouchsafe-verify-'));
  const store = new SqliteStore({ path: join(dir, 'vouchsafe.db') });
  const h = await httpHarness({}, {}, store);
  t.after(async () => {
    await h.app.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  for (let i = 0; i < campaigns; i++) await activeCampaign(h, { name: `c${i}` });
  return h;
}

/** Counts SqliteStore.auditChains calls (on any connection: the walk may read through one of its own). */
function countWalks(t: { after: (fn: () => void) => void }, gate: Promise<void> = Promise.resolve()) {
  const original = SqliteStore.prototype.auditChains;
  const walks = { count: 0 };
  SqliteStore.prototype.auditChains = async function (this: SqliteStore) {
    walks.count += 1;
    await gate;
    return original.call(this);
  };
  t.after(() => {
    SqliteStore.prototype.auditChains = original;
  });
  return walks;
}

test('parallel GET /v1/audit/verify calls share one run and get its answer', async (t) => {
  const h = await fileHarness(t, 3);
  const callers = 4;
  // The first walk waits a while before it reads, so that every caller is at the route while it runs
  // (the callers are sent at once; a second is plenty even for a loaded machine).
  const walks = countWalks(t, new Promise((resolve) => setTimeout(resolve, 1_000)));
  const answers = await Promise.all(
    Array.from({ length: callers }, () => h.call<VerifyWire>('GET', '/v1/audit/verify', { key: 'read' })),
  );
  assert.equal(walks.count, 1, 'one walk for every caller');
  for (const a of answers) {
    assert.equal(a.status, 200);
    assert.deepEqual(a.body, answers[0]?.body);
  }
  assert.equal(answers[0]?.body.ok, true);
  // A call after the run ended starts a new one.
  assert.equal((await h.call<VerifyWire>('GET', '/v1/audit/verify', { key: 'read' })).body.ok, true);
  assert.equal(walks.count, 2);
});

test('GET /v1/audit/verify yields between chains: other requests are answered and commit meanwhile, outside its snapshot', async (t) => {
  const h = await fileHarness(t, 30);
  const c = await activeCampaign(h, { name: 'busy' });
  const entries = async () => (await h.call<VerifyWire>('GET', '/v1/audit/verify', { key: 'read' })).body.entries;
  const before = await entries();
  let started = () => {};
  const walkStarted = new Promise<void>((resolve) => {
    started = resolve;
  });
  countWalks(
    t,
    Promise.resolve().then(() => started()),
  );
  const order: string[] = [];
  const verify = h.call<VerifyWire>('GET', '/v1/audit/verify', { key: 'read' }).then((a) => {
    order.push('verify');
    return a;
  });
  await walkStarted;
  const health = h.call('GET', '/healthz', { key: null }).then(() => order.push('healthz'));
  const claimed = claim(h, c.id, 'u-meanwhile').then(() => order.push('claim'));
  await Promise.all([verify, health, claimed]);
  assert.deepEqual(order.at(-1), 'verify', `answered in the order ${order.join(', ')}`);
  const answer = await verify;
  assert.equal(answer.status, 200);
  // The claim committed while the walk read; its entry is not in the walk's snapshot, and no
  // half-seen batch looks like tampering.
  assert.deepEqual(answer.body, { ...answer.body, ok: true, entries: before, first_bad_seq: null });
  assert.ok((await entries()) > before, 'the next run sees the claim');
});
