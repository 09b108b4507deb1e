import { after } from 'node:test';
import { describeStore } from '../../src/store/contract/describe-store.ts';
import { createTestDatabase, freshPostgresStore, pg_unavailable_message } from '../support/pg.ts';

const db = await createTestDatabase();
after(() => db?.drop());

describeStore('postgres', async () => (db ? freshPostgresStore(db) : null), {
  unavailable_message: pg_unavailable_message,
});
