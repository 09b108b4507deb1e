import assert from 'node:assert/strict';
import type { KeyOrigin } from '../../domain/key-lineage.ts';
import { linkAudit, verifyChain } from '../../engine/audit.ts';
import type { ApiKeyRecord, AuditEntry, OutboxEvent } from '../port.ts';
import { type Build, batch, emptyLoad, type OpenStore, seedCampaign, unpackOutbox, withoutSeq } from './builders.ts';
import { storeTest } from './campaign-contract.ts';

/** A platform entry maker, as the engine passes to the store. */
function platform(b: Build, action: string, data: unknown = {}): (prev: { seq: number; hash: string }) => AuditEntry {
  return (prev) =>
    linkAudit({ chain: 'platform', at_ms: b.now_ms, actor: 'key_admin', action, subject: 'platform', data }, prev);
}

function apiKey(b: Build, name: string, origin: Partial<KeyOrigin> = {}): ApiKeyRecord {
  return {
    id: b.id('key'),
    name,
    hash: `hash-${name}`,
    scopes: ['admin', 'read'],
    created_at_ms: b.now_ms,
    revoked_at_ms: null,
    created_by: origin.created_by ?? null,
    replaces: origin.replaces ?? null,
  };
}

/** Platform-wide state: idempotency records, the platform audit chain, API keys, secrets, outbox. */
export function platformContract(open: OpenStore): void {
  storeTest('putIdempotency keeps the first record; getIdempotency reads it back', open, async (store, b) => {
    assert.equal(await store.getIdempotency('k'), null);
    const first = b.idem('k', {
      ok: false,
      error: { code: 'budget_exhausted', message: 'no', nested: [1, null, 'x'] },
    });
    assert.deepEqual(await store.putIdempotency(first), first);
    const second = { ...b.idem('k', { ok: true }), fingerprint: 'other' };
    assert.deepEqual(await store.putIdempotency(second), first);
    assert.deepEqual(await store.getIdempotency('k'), first);
  });

  storeTest(
    'swapIdempotency replaces or deletes a record only while it holds the expected result',
    open,
    async (store, b) => {
      const claim = { pending: 'token-a' };
      await store.putIdempotency({ ...b.idem('s', claim), created_at_ms: 1_000 });
      assert.equal(
        await store.swapIdempotency('s', { pending: 'token-b' }, { result: { x: 1 }, created_at_ms: 2_000 }),
        false,
      );
      assert.deepEqual((await store.getIdempotency('s'))?.result, claim, 'another expected value changes nothing');
      assert.equal(await store.swapIdempotency('s', claim, { result: { done: true }, created_at_ms: 2_000 }), true);
      const done = await store.getIdempotency('s');
      assert.deepEqual(
        [done?.result, done?.created_at_ms, done?.fingerprint],
        [{ done: true }, 2_000, b.idem('s').fingerprint],
      );
      assert.equal(await store.swapIdempotency('s', claim, null), false, 'the claim is gone: no delete');
      assert.notEqual(await store.getIdempotency('s'), null);
      assert.equal(await store.swapIdempotency('s', { done: true }, null), true);
      assert.equal(await store.getIdempotency('s'), null);
      assert.equal(await store.swapIdempotency('absent', claim, { result: 1, created_at_ms: 1 }), false);
      assert.equal(await store.getIdempotency('absent'), null, 'a swap never inserts');
    },
  );

  storeTest(
    'pruneIdempotency deletes records older than the cutoff, oldest first, up to the limit',
    open,
    async (store, b) => {
      for (let i = 0; i < 5; i++) await store.putIdempotency({ ...b.idem(`old${i}`), created_at_ms: 1_000 + i });
      await store.putIdempotency({ ...b.idem('edge'), created_at_ms: 2_000 });
      await store.putIdempotency({ ...b.idem('new'), created_at_ms: 3_000 });
      assert.equal(await store.pruneIdempotency(2_000, 3), 3);
      for (let i = 0; i < 3; i++) assert.equal(await store.getIdempotency(`old${i}`), null, `old${i} pruned first`);
      assert.notEqual(await store.getIdempotency('old3'), null);
      assert.equal(await store.pruneIdempotency(2_000, 10), 2);
      assert.equal(await store.getIdempotency('old4'), null);
      assert.notEqual(await store.getIdempotency('edge'), null, 'created at the cutoff: kept');
      assert.notEqual(await store.getIdempotency('new'), null);
      assert.equal(await store.pruneIdempotency(2_000, 10), 0);
    },
  );

  storeTest('the platform chain appends in order, also under concurrency, and verifies', open, async (store, b) => {
    const e1 = await store.appendPlatformAudit(platform(b, 'global.stop', { reason: 'drill' }));
    assert.equal(e1.chain_seq, 1);
    const e2 = await store.appendPlatformAudit(platform(b, 'global.resume'));
    assert.equal(e2.chain_seq, 2);
    assert.equal(e2.prev_hash, e1.hash);
    await Promise.all(
      Array.from({ length: 10 }, (_, i) => store.appendPlatformAudit(platform(b, 'webhook.created', { i }))),
    );
    const chain = await store.auditChain('platform');
    assert.equal(chain.length, 12);
    assert.deepEqual(verifyChain(chain), { ok: true, entries: 12, first_bad_seq: null });
    assert.deepEqual(withoutSeq(chain)[0], e1);
  });

  storeTest('listAudit pages every chain newest first by seq; auditChains names them', open, async (store, b) => {
    const campaign = await seedCampaign(store, b);
    await store.appendPlatformAudit(platform(b, 'a'));
    await store.appendPlatformAudit(platform(b, 'b'));
    await batch(store, campaign.id, emptyLoad(), (_, w) => w.audit.push(b.audit(w.campaign, 'campaign.paused', {})));
    const p1 = await store.listAudit({ limit: 3 });
    assert.deepEqual(
      p1.data.map((e) => e.action),
      ['campaign.paused', 'b', 'a'],
    );
    assert.equal(p1.has_more, true);
    const seqs = p1.data.map((e) => e.seq);
    assert.deepEqual(
      seqs,
      [...seqs].sort((x, y) => y - x),
    );
    const p2 = await store.listAudit({ limit: 3, starting_after: String(seqs[2]) });
    assert.deepEqual(
      p2.data.map((e) => e.action),
      ['campaign.created'],
    );
    assert.equal(p2.has_more, false);
    assert.deepEqual(await store.auditChains(), [campaign.id, 'platform'].sort());
    assert.deepEqual(await store.auditChain('nobody'), []);
  });

  storeTest('listAudit with page_bytes_max ends a page before the entry that would pass it', open, async (store, b) => {
    // The cap counts UTF-8 bytes on every store: e3 and e4 are mostly 3- and 4-byte characters.
    const pads = ['x'.repeat(100), 'x'.repeat(300), 'x'.repeat(200), '🧧'.repeat(75), '红'.repeat(400)];
    for (const [i, pad] of pads.entries()) await store.appendPlatformAudit(platform(b, `e${i}`, { pad }));
    const all = await store.listAudit({ limit: 100 });
    const bytes = all.data.map((e) => Buffer.byteLength(e.data_json, 'utf8')); // newest first: e4, e3, e2, e1, e0
    const page = (limit: number, page_bytes_max: number, starting_after?: number) =>
      store.listAudit({
        limit,
        page_bytes_max,
        ...(starting_after === undefined ? {} : { starting_after: String(starting_after) }),
      });
    const actions = (p: { data: Array<{ action: string }> }) => p.data.map((e) => e.action);
    const [b4 = 0, b3 = 0, b2 = 0] = bytes;
    // e4 alone is over a tiny cap but always comes; e4 + e3 fit exactly, e2 would pass.
    const tiny = await page(100, 1);
    assert.deepEqual([actions(tiny), tiny.has_more], [['e4'], true]);
    const underTwo = await page(100, b4 + b3 - 1);
    assert.deepEqual([actions(underTwo), underTwo.has_more], [['e4'], true]);
    const two = await page(100, b4 + b3);
    assert.deepEqual([actions(two), two.has_more], [['e4', 'e3'], true]);
    const rest = await page(100, b2 + 10_000, two.data[1]?.seq);
    assert.deepEqual([actions(rest), rest.has_more], [['e2', 'e1', 'e0'], false]);
    // The limit still applies under a large cap; a cap that fits everything leaves has_more to the limit.
    const limited = await page(2, 1_000_000);
    assert.deepEqual([actions(limited), limited.has_more], [['e4', 'e3'], true]);
    const everything = await page(100, 1_000_000);
    assert.deepEqual([everything.data, everything.has_more], [all.data, false]);
  });

  storeTest(
    'api keys: insert, find by hash, list, revoke once, count; each change is audited',
    open,
    async (store, b) => {
      assert.equal(await store.countApiKeys(), 0);
      const k1 = apiKey(b, 'ops');
      const k2 = apiKey(b, 'checkout', { created_by: k1.id });
      await store.insertApiKey(k1, platform(b, 'key.created', { id: k1.id }));
      await store.insertApiKey(k2, platform(b, 'key.created', { id: k2.id }));
      assert.deepEqual(await store.findApiKeyByHash('hash-ops'), k1);
      assert.equal(await store.findApiKeyByHash('hash-none'), null);
      assert.deepEqual(await store.listApiKeys(), [k2, k1]);
      assert.equal(await store.revokeApiKey(k1.id, b.now_ms + 5, platform(b, 'key.revoked', { id: k1.id })), true);
      assert.equal(await store.revokeApiKey(k1.id, b.now_ms + 9, platform(b, 'key.revoked', { id: k1.id })), false);
      assert.equal(await store.revokeApiKey('key_none', b.now_ms, platform(b, 'key.revoked')), false);
      assert.equal((await store.findApiKeyByHash('hash-ops'))?.revoked_at_ms, b.now_ms + 5);
      assert.equal(await store.countApiKeys(), 2);
      const chain = await store.auditChain('platform');
      assert.deepEqual(chain.map((e) => e.action).slice(0, 3), ['key.created', 'key.created', 'key.revoked']);
      assert.equal(verifyChain(chain).ok, true);
    },
  );

  storeTest("a batch that asks for key_origins reads every key's creator and predecessor", open, async (store, b) => {
    const campaign = await seedCampaign(store, b);
    const root = apiKey(b, 'root');
    const made = apiKey(b, 'made', { created_by: root.id });
    const rotated = apiKey(b, 'rotated', { created_by: made.id, replaces: made.id });
    for (const k of [root, made, rotated]) await store.insertApiKey(k, platform(b, 'key.created', { id: k.id }));
    const seen = await batch(store, campaign.id, emptyLoad({ key_origins: true }), () => undefined);
    assert.deepEqual(
      seen.key_origins,
      new Map([
        [root.id, { created_by: null, replaces: null }],
        [made.id, { created_by: root.id, replaces: null }],
        [rotated.id, { created_by: made.id, replaces: made.id }],
      ]),
    );
    assert.equal((await batch(store, campaign.id, emptyLoad(), () => undefined)).key_origins, undefined);
  });

  storeTest(
    'insertFirstApiKey inserts only into a store with no key; refused, it writes nothing',
    open,
    async (store, b) => {
      const first = apiKey(b, 'first');
      assert.equal(await store.insertFirstApiKey(first, platform(b, 'key.created', { id: first.id })), true);
      assert.equal(await store.insertFirstApiKey(apiKey(b, 'second'), platform(b, 'key.created')), false);
      assert.deepEqual(await store.listApiKeys(), [first]);
      assert.deepEqual(
        (await store.auditChain('platform')).map((e) => e.action),
        ['key.created'],
      );
    },
  );

  storeTest('a duplicate api key hash is refused and leaves no key and no audit entry', open, async (store, b) => {
    await store.insertApiKey(apiKey(b, 'ops'), platform(b, 'key.created'));
    const dup = { ...apiKey(b, 'other'), hash: 'hash-ops' };
    await assert.rejects(store.insertApiKey(dup, platform(b, 'key.created')));
    assert.equal(await store.countApiKeys(), 1);
    assert.equal((await store.auditChain('platform')).length, 1);
  });

  storeTest('getOrCreateSecret creates once and then returns the same value', open, async (store) => {
    const first = await store.getOrCreateSecret('code_check_key', () => 'secret-1');
    assert.equal(first, 'secret-1');
    assert.equal(await store.getOrCreateSecret('code_check_key', () => 'secret-2'), 'secret-1');
    assert.equal(await store.getOrCreateSecret('other', () => 'secret-3'), 'secret-3');
  });

  storeTest(
    'outbox: every event a batch writes is pending, in order, until its row is marked dispatched',
    open,
    async (store, b) => {
      const campaign = await seedCampaign(store, b);
      const event = (i: number): OutboxEvent => ({
        id: b.id('evt'),
        type: 'campaign.paused',
        created_at_ms: b.now_ms,
        data: { i },
      });
      const first = [event(0), event(1)];
      await batch(store, campaign.id, emptyLoad(), (_, w) => w.outbox.push(...first));
      const second = [event(2)];
      await batch(store, campaign.id, emptyLoad(), (_, w) => w.outbox.push(...second));
      await batch(store, campaign.id, emptyLoad(), () => undefined);
      const rows = await store.pendingOutbox(10);
      assert.deepEqual(unpackOutbox(rows), [...first, ...second]);
      assert.deepEqual(unpackOutbox(await store.pendingOutbox(1)), unpackOutbox(rows.slice(0, 1)));
      const [head, ...rest] = rows;
      assert.ok(head);
      await store.markOutboxDispatched([head.id], b.now_ms);
      assert.deepEqual(await store.pendingOutbox(10), rest);
      await store.markOutboxDispatched([], b.now_ms);
      await store.markOutboxDispatched(
        rows.map((r) => r.id),
        b.now_ms,
      );
      assert.deepEqual(await store.pendingOutbox(10), []);
    },
  );
}
