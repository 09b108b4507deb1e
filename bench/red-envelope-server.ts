// The server of the red-envelope HTTP benchmark, in its own process: one envelope on a durable SQLite
// file, the engine's batch size from BENCH_BATCH (1 for the one-transaction-per-grab baseline).
import { Engine } from '../src/engine/engine.ts';
import { createApiKey } from '../src/http/api-keys.ts';
import { buildApp } from '../src/http/app.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';

const count = Number(process.env.BENCH_PACKETS ?? 20_000);
const store = new SqliteStore({ path: process.env.BENCH_DB ?? '', synchronous: 'FULL', background_checkpoint: true });
const engine = await Engine.open(store, {
  batch_commands_max: Number(process.env.BENCH_BATCH ?? 1024),
  wantsEvent: () => false,
});
const c = await engine.envelopes.create(
  {
    currency: 'CNY',
    total_minor: count * 888,
    count,
    min_amount_minor: 1,
    expires_at_ms: Date.now() + 3_600_000,
    coupon: { min_spend_minor: 0, product_kinds: ['merchandise'], coupon_ttl_s: 86_400 },
  },
  { actor: 'bench' },
);
// Its total is above the approval threshold: a second key approves it, as in production.
if (c.status === 'pending_approval') await engine.campaignAction(c.id, 'approve', { actor: 'bench-approver' });
const { secret } = await createApiKey(store, engine.ids, Date.now(), {
  name: 'bench',
  scopes: ['checkout'],
  actor: null,
});
const app = buildApp({ engine });
const url = await app.listen({ port: 0, host: '127.0.0.1' });
process.once('SIGTERM', () => {
  void (async () => {
    await app.close();
    await engine.close();
    await store.close();
    process.exit(0);
  })();
});
process.stdout.write(`${JSON.stringify({ envelope_id: c.red_envelope?.id, key: secret })}\nserving on ${url}\n`);
