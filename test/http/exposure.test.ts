import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { Store } from '../../src/store/port.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { createTestDatabase, freshPostgresStore, pg_unavailable_message } from '../support/pg.ts';
import { bulkCampaign, seedRedemptions } from '../support/seed.ts';
import { assertError, assertInvariants, httpHarness } from './harness.ts';

interface Group {
  count: number;
  discount_minor: number;
}

interface ExposureWire {
  reserved_minor: number;
  spent_minor: number;
  counts: { reserved: number; confirmed: number; frozen: number };
  by_merchant: Group[];
  by_product_kind: Group[];
}

const sum = (groups: Group[]) => ({
  count: groups.reduce((n, g) => n + g.count, 0),
  discount_minor: groups.reduce((n, g) => n + g.discount_minor, 0),
});

/** What the live groups must add up to: the campaign's holds, confirmed and frozen redemptions. */
const live = (e: ExposureWire) => ({
  count: e.counts.reserved + e.counts.confirmed + e.counts.frozen,
  discount_minor: e.reserved_minor + e.spent_minor,
});

function exposureTests(name: string, open: () => Promise<Store | null>, skip: string | false): void {
  describe(`campaign exposure while redemptions commit (${name})`, { skip }, () => {
    test('every read: the groups by merchant and by product kind sum to the counters it shows', async () => {
      const store = await open();
      assert.ok(store);
      const h = await httpHarness({}, {}, store);
      let seeded: Promise<void> = Promise.resolve();
      try {
        const c = await bulkCampaign(h.engine, 'EXPOSED');
        assertError(await h.call('GET', '/v1/campaigns/cmp_missing/exposure', { key: 'read' }), 404, 'not_found');
        let seeding = true;
        seeded = seedRedemptions(h.engine, 'EXPOSED', 4000, { merchants: 7, wave: 100 }).finally(() => {
          seeding = false;
        });
        const read = async (n: number): Promise<ExposureWire> => {
          const res = await h.call<ExposureWire>('GET', `/v1/campaigns/${c.id}/exposure`, { key: 'read' });
          assert.equal(res.status, 200, JSON.stringify(res.body));
          assert.deepEqual(sum(res.body.by_merchant), live(res.body), `read ${n} by merchant`);
          assert.deepEqual(sum(res.body.by_product_kind), live(res.body), `read ${n} by product kind`);
          return res.body;
        };
        let reads = 0;
        while (seeding) {
          await read(++reads);
          // An in-memory store answers without leaving the microtask queue: let the batches run.
          await new Promise(setImmediate);
        }
        await seeded;
        assert.ok(reads > 1, 'read while the redemptions were committing');
        assert.equal(
          live(await read(++reads)).count,
          4000,
          'every redemption is live at the end (holds and confirmed)',
        );
        await assertInvariants(h.store);
      } finally {
        await seeded.catch(() => undefined);
        await h.engine.close();
        await store.close();
      }
    });
  });
}

exposureTests('sqlite', async () => new SqliteStore({ path: ':memory:' }), false);

const db = await createTestDatabase();
after(() => db?.drop());
exposureTests(
  'postgres',
  async () => {
    if (!db) return null;
    await (await freshPostgresStore(db)).close();
    return new PostgresStore({ url: db.url });
  },
  db ? false : pg_unavailable_message,
);
