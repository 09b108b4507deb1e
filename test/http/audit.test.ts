import assert from 'node:assert/strict';
import { test } from 'node:test';
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

test('GET /v1/audit pages every chain newest first, data parsed; admin only', async () => {
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

  assertError(await h.call('GET', '/v1/audit', { key: 'read' }), 403, 'forbidden');
  assertError(await h.call('GET', '/v1/audit/verify', { key: 'read' }), 403, 'forbidden');
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
