// The HTTP benchmark's "HTTP layer only" server, in its own process: the same app, hooks, logger
// and store as `vouchsafe serve`, but POST /v1/redemptions answers after its first real
// redemption with that same redemption, without queueing, deciding or committing anything.
// What it serves per second bounds what the real route could serve with an engine that cost
// nothing; it writes nothing after the first redemption, so it needs no verify.
import { join } from 'node:path';
import type { Redemption } from '../src/domain/redemption.ts';
import { Engine } from '../src/engine/engine.ts';
import { makeLogger } from '../src/http/logger.ts';
import { startServer } from '../src/http/server.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';

const data_dir = process.env.VOUCHSAFE_DATA_DIR;
if (!data_dir) throw new Error('VOUCHSAFE_DATA_DIR is required');
const store = new SqliteStore({ path: join(data_dir, 'vouchsafe.db'), background_checkpoint: true });
await store.migrate();
const engine = await Engine.open(store, { sweep: true });
const redeem = engine.redeem.bind(engine);
let first: Promise<Redemption> | null = null;
engine.redeem = (input, who) => {
  first ??= redeem(input, who);
  return first;
};
const server = await startServer({
  engine,
  port: 0,
  host: '127.0.0.1',
  logger: makeLogger(process.env.LOG_LEVEL ?? 'warn'),
  bootstrap: { data_dir, admin_key: process.env.VOUCHSAFE_ADMIN_KEY, print: () => {} },
});
process.stdout.write(`serving on ${server.url}\n`);
