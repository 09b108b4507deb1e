import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { Store } from '../../src/store/port.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { createTestDatabase, freshPostgresStore, pg_unavailable_message } from '../support/pg.ts';
import { httpHarness } from './harness.ts';

const db = await createTestDatabase();
after(() => db?.drop());

const stores: Array<[string, () => Promise<Store> | null]> = [
  ['SQLite', () => Promise.resolve(new SqliteStore({ path: ':memory:' }))],
  ['PostgreSQL', () => (db ? freshPostgresStore(db) : null)],
];

for (const [name, open] of stores) {
  const opening = open();
  test(`concurrent rotations of one key leave exactly one live key of its name, the one answered (${name})`, {
    skip: opening === null ? pg_unavailable_message : false,
  }, async () => {
    const h = await httpHarness({}, {}, (await opening) ?? undefined);
    for (let round = 0; round < 5; round++) {
      const made = await h.call<{ id: string }>('POST', '/v1/api-keys', {
        body: { name: `till ${round}`, scopes: ['checkout'] },
      });
      assert.equal(made.status, 201);
      const answers = await Promise.all(
        Array.from({ length: 6 }, () =>
          h.call<{ id?: string; key?: string }>('POST', `/v1/api-keys/${made.body.id}/rotate`),
        ),
      );
      const won = answers.filter((a) => a.status === 201);
      assert.equal(won.length, 1, JSON.stringify(answers.map((a) => a.status)));
      assert.ok(answers.every((a) => a.status === 201 || a.status === 409));
      const live = (await h.store.listApiKeys()).filter((k) => k.name === `till ${round}` && k.revoked_at_ms === null);
      assert.deepEqual(
        live.map((k) => k.id),
        [won[0]?.body.id],
        'no live key whose secret nobody was given',
      );
    }
    await h.engine.close();
    await h.store.close();
  });
}
