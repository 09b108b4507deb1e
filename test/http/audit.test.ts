import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { type AuditDigest, digestDefect } from '../../src/engine/audit-digest.ts';
import { verifyStore } from '../../src/engine/verify.ts';
import { activeCampaign, assertError, claim, httpHarness, type ListWire } from './harness.ts';

type EntryWire = {
  seq: number;
  chain: string;
  chain_seq: number;
  at: string;
  actor: string | null;
  action: string;
  subject: string;
  data: unknown;
  prev_hash: string;
  hash: string;
};

test('GET /v1/audit pages every chain newest first, data parsed; admin and read', async () => {
  const h = await httpHarness();
  const c = await activeCampaign(h);
  await claim(h, c.id, 'u1');
  const all = await h.call<ListWire<EntryWire>>('GET', '/v1/audit?limit=100');
  assert.equal(all.status, 200);
  const seqs = all.body.data.map((e) => e.seq);
  assert.deepEqual(
    seqs,
    [...seqs].sort((a, b) => b - a),
  );
  const [newest] = all.body.data;
  assert.ok(newest);
  assert.deepEqual(Object.keys(newest), [
    'seq',
    'chain',
    'chain_seq',
    'at',
    'actor',
    'action',
    'subject',
    'data',
    'prev_hash',
    'hash',
  ]);
  assert.equal(newest.action, 'batch');
  assert.equal(newest.chain, c.id);
  assert.equal(newest.actor, h.keys.checkout.id);
  assert.equal(newest.at, '2026-01-01T00:01:00Z');
  assert.deepEqual(
    (newest.data as { changes: Array<{ action: string }> }).changes.map((ch) => ch.action),
    ['coupon.claimed'],
  );
  const created = all.body.data.find((e) => e.action === 'campaign.created');
  assert.ok(created);
  assert.equal((created.data as { budget_minor: number }).budget_minor, 100_000);
  assert.ok(all.body.data.some((e) => e.chain === 'platform' && e.action === 'api_key.created'));

  const p1 = await h.call<ListWire<EntryWire>>('GET', '/v1/audit?limit=2');
  assert.deepEqual(p1.body.data, all.body.data.slice(0, 2));
  assert.equal(p1.body.has_more, true);
  const p2 = await h.call<ListWire<EntryWire>>('GET', `/v1/audit?limit=100&starting_after=${seqs[1]}`);
  assert.deepEqual(p2.body.data, all.body.data.slice(2));
  assert.equal(p2.body.has_more, false);

  // API.md: `read` may call every GET endpoint outside detection and incidents.
  const asRead = await h.call<ListWire<EntryWire>>('GET', '/v1/audit?limit=100', { key: 'read' });
  assert.equal(asRead.status, 200);
  assert.deepEqual(asRead.body, all.body);
  const verified = await h.call('GET', '/v1/audit/verify', { key: 'read' });
  assert.equal(verified.status, 200);
  assert.equal((verified.body as { ok: boolean }).ok, true);
  assertError(await h.call('GET', '/v1/audit', { key: 'checkout' }), 403, 'forbidden');
  assertError(await h.call('GET', '/v1/audit/verify', { key: 'approver' }), 403, 'forbidden');
  assertError(await h.call('GET', '/v1/audit?starting_after=abc'), 400, 'invalid_request', 'starting_after');
  assertError(await h.call('GET', '/v1/audit?limit=101'), 400, 'invalid_request', 'limit');
});

test('GET /v1/audit/verify walks every chain', async () => {
  const h = await httpHarness();
  const c = await activeCampaign(h);
  await claim(h, c.id, 'u1');
  const entries = (await h.call<ListWire<EntryWire>>('GET', '/v1/audit?limit=100')).body.data.length;
  const v = await h.call('GET', '/v1/audit/verify');
  assert.equal(v.status, 200);
  assert.deepEqual(v.body, { ok: true, entries, chains: 2, first_bad_seq: null, bad_chain: null });
});

test('GET /v1/audit ends a page early once its entries carry the data cap; the cursor still visits every entry once', async () => {
  const cap = 600;
  const h = await httpHarness({}, { page_bytes_max: cap });
  const c = await activeCampaign(h);
  for (let i = 0; i < 8; i++) await claim(h, c.id, `user-${i}`);
  const stored = await h.store.listAudit({ limit: 100 });
  const chars = new Map(stored.data.map((e) => [e.seq, e.data_json.length]));
  assert.ok(stored.data.reduce((n, e) => n + e.data_json.length, 0) > 3 * cap, 'enough data for several pages');
  const seen: number[] = [];
  let after: number | undefined;
  for (let pages = 1; ; pages++) {
    const url = `/v1/audit?limit=100${after === undefined ? '' : `&starting_after=${after}`}`;
    const page = await h.call<ListWire<EntryWire>>('GET', url);
    assert.equal(page.status, 200);
    const sizes = page.body.data.map((e) => chars.get(e.seq) ?? Number.NaN);
    const total = sizes.reduce((a, b) => a + b, 0);
    assert.ok(page.body.data.length === 1 || total <= cap, `page ${pages}: ${sizes.join('+')} chars`);
    seen.push(...page.body.data.map((e) => e.seq));
    const last = page.body.data.at(-1);
    if (!page.body.has_more || last === undefined) break;
    assert.ok(
      total + (chars.get(stored.data[seen.length]?.seq ?? -1) ?? 0) > cap,
      'a page ends only when the next entry would pass the cap',
    );
    after = last.seq;
  }
  assert.deepEqual(
    seen,
    stored.data.map((e) => e.seq),
  );
});

test('GET /v1/audit/digest: the head of every chain at that moment and a sha256 over them; verify holds the store to it', async () => {
  const h = await httpHarness();
  const c = await activeCampaign(h);
  await claim(h, c.id, 'u1');
  const got = await h.call<AuditDigest>('GET', '/v1/audit/digest', { key: 'read' });
  assert.equal(got.status, 200);
  const d = got.body;
  assert.deepEqual(Object.keys(d), ['object', 'created_at', 'digest', 'chains', 'heads']);
  assert.equal(d.object, 'audit_digest');
  assert.equal(d.created_at, '2026-01-01T00:01:00.000Z');
  // Each head is its chain's newest entry, as the log itself lists them.
  const entries = (await h.call<ListWire<EntryWire>>('GET', '/v1/audit?limit=100')).body.data;
  const newest = (chain: string) => entries.find((e) => e.chain === chain);
  assert.deepEqual(
    d.heads,
    [c.id, 'platform'].map((chain) => ({ chain, chain_seq: newest(chain)?.chain_seq, hash: newest(chain)?.hash })),
  );
  assert.equal(d.chains, 2);
  // The digest is over its date and the heads' text, recomputed here by hand.
  const text = `vouchsafe audit digest 1\n${d.created_at}\n${d.heads.map((x) => `${x.chain} ${x.chain_seq} ${x.hash}\n`).join('')}`;
  assert.equal(d.digest, createHash('sha256').update(text).digest('hex'));
  assert.equal(digestDefect(d), null);

  // Chains grow past it, and a new one begins: still held.
  await claim(h, c.id, 'u2');
  const later = await activeCampaign(h);
  assert.equal((await verifyStore(h.store, undefined, { digest: d })).ok, true);
  const d2 = (await h.call<AuditDigest>('GET', '/v1/audit/digest')).body;
  assert.equal(d2.chains, 3);
  assert.ok(d2.heads.some((x) => x.chain === later.id));
  assert.notEqual(d2.digest, d.digest);

  assertError(await h.call('GET', '/v1/audit/digest', { key: 'checkout' }), 403, 'forbidden');
  assertError(await h.call('GET', '/v1/audit/digest', { key: null }), 401, 'unauthenticated');
});
