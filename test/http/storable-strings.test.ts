import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { Store } from '../../src/store/port.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { createTestDatabase, freshPostgresStore, pg_unavailable_message } from '../support/pg.ts';
import { activeCampaign, assertError, assertInvariants, campaignBody, httpHarness, orderBody } from './harness.ts';

/**
 * A JSON body can spell strings neither store keeps as sent: a lone surrogate (`\ud800`), which
 * both stores write as replacement characters, and NUL (`\u0000`), which PostgreSQL refuses.
 */
function redeemRaw(code: string, over: { user_id?: string; order?: Record<string, unknown> } = {}): string {
  return JSON.stringify({ user_id: over.user_id ?? 'u1', code, order: orderBody(over.order ?? {}) });
}

const pgDb = await createTestDatabase();
after(() => pgDb?.drop());

const stores: Array<[string, () => Promise<Store> | null]> = [
  ['SQLite', () => Promise.resolve(new SqliteStore({ path: ':memory:' }))],
  ['PostgreSQL', () => (pgDb ? freshPostgresStore(pgDb) : null)],
];

for (const [name, open] of stores) {
  describe(`strings a store cannot keep as sent are refused at the edge (${name})`, () => {
    const opening = open();
    if (opening === null) {
      test.skip(pg_unavailable_message);
      return;
    }

    test('two order ids that differ only in a lone surrogate never give one order two discounts', async () => {
      const h = await httpHarness({}, {}, await opening);
      const c = await activeCampaign(h, { code_mode: 'shared_code', code: 'LONE', per_user_limit: null });
      for (const id of ['o\uD800', 'o\uDBFF']) {
        const res = await h.call('POST', '/v1/redemptions', {
          key: 'checkout',
          raw: redeemRaw(c.code ?? '', { order: { id } }),
        });
        assertError(res, 400, 'invalid_request', 'order.id');
      }
      const scoped = await h.call('POST', '/v1/campaigns', {
        raw: JSON.stringify(campaignBody({ merchant_ids: ['m\uDC00'] })),
      });
      assertError(scoped, 400, 'invalid_request', 'merchant_ids[0]');
      const user = await h.call('POST', '/v1/redemptions', {
        key: 'checkout',
        raw: redeemRaw(c.code ?? '', { user_id: 'u\uDC00' }),
      });
      assertError(user, 400, 'invalid_request', 'user_id');
      await assertInvariants(h.store);
      await h.engine.close();
    });

    test('names are 1-128 characters counted as code points: 128 emoji are kept as sent, 129 are refused', async () => {
      const h = await httpHarness({}, {}, await opening);
      const c = await activeCampaign(h, { code_mode: 'shared_code', code: 'WIDE', per_user_limit: null });
      const wide = (ch: string, n: number) => ch.repeat(n);
      const user_id = wide('💥', 128);
      const order = { id: wide('𠀀', 128), merchant_id: wide('红', 128) };
      const ok = await h.call<{ id: string; status: string; discount_minor: number }>('POST', '/v1/redemptions', {
        key: 'checkout',
        raw: redeemRaw('WIDE', { user_id, order }),
      });
      assert.equal(ok.status, 201, JSON.stringify(ok.body));
      const stored = await h.store.getRedemption(ok.body.id);
      assert.deepEqual(
        [stored?.user_id, stored?.order_id, stored?.merchant_id],
        [user_id, order.id, order.merchant_id],
      );
      for (const [param, over] of [
        ['user_id', { user_id: wide('💥', 129) }],
        ['order.id', { order: { id: wide('𠀀', 129) } }],
        ['order.merchant_id', { order: { merchant_id: wide('m', 129) } }],
      ] as const) {
        const res = await h.call('POST', '/v1/redemptions', { key: 'checkout', raw: redeemRaw('WIDE', over) });
        assertError(res, 400, 'invalid_request', param);
        assert.equal((res.body as { error: { message: string } }).error.message, `${param}: expected 1-128 characters`);
      }
      assert.equal((await h.engine.getCampaign(c.id)).reserved_minor, ok.body.discount_minor, 'only the one hold');
      await assertInvariants(h.store);
      await h.engine.close();
    });

    test('incident titles (1-200) and reasons (1-500) are counted in code points too', async () => {
      const h = await httpHarness({}, {}, await opening);
      const c = await activeCampaign(h, { code_mode: 'shared_code', code: 'TEXT', per_user_limit: null });
      const pause = (reason: string) =>
        h.call<{ status: string }>('POST', `/v1/campaigns/${c.id}/pause`, { body: { reason } });
      const long = await pause('⛔'.repeat(501));
      assertError(long, 400, 'invalid_request', 'reason');
      assert.equal(
        (long.body as unknown as { error: { message: string } }).error.message,
        'reason: expected 1-500 characters',
      );
      assert.equal(
        (await h.call<{ status: string }>('GET', `/v1/campaigns/${c.id}`)).body.status,
        'active',
        'not paused',
      );
      const paused = await pause('🧯'.repeat(500));
      assert.equal(paused.status, 200, JSON.stringify(paused.body));
      assert.equal(paused.body.status, 'paused');
      const open = (title: string) =>
        h.call<{ title: string }>('POST', '/v1/incidents', {
          body: { title, scope: { campaign_ids: [c.id] }, actions: ['pause_campaigns'] },
        });
      const tooLong = await open('🔥'.repeat(201));
      assertError(tooLong, 400, 'invalid_request', 'title');
      assert.equal(
        (tooLong.body as unknown as { error: { message: string } }).error.message,
        'title: expected 1-200 characters',
      );
      assert.equal((await h.call<{ data: unknown[] }>('GET', '/v1/incidents')).body.data.length, 0, 'nothing opened');
      const opened = await open('🔥'.repeat(200));
      assert.equal(opened.status, 201, JSON.stringify(opened.body));
      assert.equal(opened.body.title, '🔥'.repeat(200));
      await assertInvariants(h.store);
      await h.engine.close();
    });

    test('a NUL in one request fails only that request, never the batch it would have shared', async () => {
      const h = await httpHarness({}, {}, await opening);
      const c = await activeCampaign(h, { code_mode: 'shared_code', code: 'NUL', per_user_limit: null });
      const code = c.code ?? '';
      const innocent = Array.from({ length: 20 }, (_, i) =>
        h.call('POST', '/v1/redemptions', { key: 'checkout', raw: redeemRaw(code, { user_id: `u${i}` }) }),
      );
      const poisoned = h.call('POST', '/v1/redemptions', {
        key: 'checkout',
        raw: redeemRaw(code, { user_id: 'evil', order: { id: 'x\u0000y' } }),
      });
      const [bad, ...good] = await Promise.all([poisoned, ...innocent]);
      assert.deepEqual(
        good.map((r) => r.status),
        good.map(() => 201),
      );
      assert.ok(bad);
      assertError(bad, 400, 'invalid_request', 'order.id');
      await assertInvariants(h.store);
      await h.engine.close();
    });

    test('a NUL in a path or query parameter is 400 naming it, not a failed store read', async () => {
      const h = await httpHarness({}, {}, await opening);
      const c = await activeCampaign(h, { code_mode: 'shared_code', code: 'PATH', per_user_limit: null });
      const reads: Array<[string, string]> = [
        ['/v1/redemptions/r%00x', 'id'],
        ['/v1/campaigns/c%00', 'id'],
        [`/v1/redemptions?campaign_id=${c.id}&merchant_id=m%00`, 'merchant_id'],
        ['/v1/alerts?campaign_id=%00', 'campaign_id'],
      ];
      for (const [url, param] of reads) assertError(await h.call('GET', url), 400, 'invalid_request', param);
      const confirm = await h.call('POST', '/v1/redemptions/r%00x/confirm', { key: 'checkout' });
      assertError(confirm, 400, 'invalid_request', 'id');
      // The same reads without the NUL answer as usual.
      assert.equal((await h.call('GET', `/v1/redemptions?campaign_id=${c.id}&merchant_id=m`)).status, 200);
      assert.equal((await h.call('GET', '/v1/redemptions/rx')).status, 404);
      await assertInvariants(h.store);
      await h.engine.close();
    });
  });
}
