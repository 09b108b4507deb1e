import { describeStore } from '../../src/store/contract/describe-store.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';

describeStore('sqlite', async () => new SqliteStore({ path: ':memory:' }));
