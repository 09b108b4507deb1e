import { after, describe, test } from 'node:test';
import { type HttpHarness, httpHarness } from '../http/harness.ts';
import { createTestDatabase, freshPostgresStore, pg_unavailable_message } from '../support/pg.ts';
import { answerStats } from './driver.ts';
import { assertStoreClean, checkModel } from './property.ts';

const seed = Number(process.env.FC_SEED ?? Date.now() % 2_147_483_647);
const runs = Number(process.env.MODEL_PG_RUNS ?? 100);
const db = await createTestDatabase();
after(() => db?.drop());

describe('model-based test on PostgreSQL', () => {
  if (!db) {
    test.skip(pg_unavailable_message);
    return;
  }
  let h: HttpHarness | null = null;
  after(async () => {
    if (!h) return;
    await h.app.close();
    await h.engine.close();
    await h.store.close();
  });

  test(`the HTTP API agrees with the reference model on ${runs} random sequences (PostgreSQL, seed ${seed})`, async () => {
    process.stdout.write(`# model-postgres seed ${seed}\n`);
    const store = await freshPostgresStore(db);
    const harness = await httpHarness({}, {}, store);
    h = harness;
    await checkModel({ runs, seed, commands_max: 20, harness: async () => harness });
    await assertStoreClean(harness);
    const seen = [...answerStats].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k}=${n}`);
    process.stdout.write(`# answers compared: ${seen.join(' ')}\n`);
  });
});
