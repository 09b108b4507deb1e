// One "node" of the cluster benchmark: its own process, engine and connection pool,
// firing confirmed redemptions at one hot campaign for a fixed time, then printing its count.
import { Engine } from '../src/engine/engine.ts';
import { PostgresStore } from '../src/store/postgres/postgres-store.ts';

const url = process.env.BENCH_PG_URL ?? '';
const code = process.env.BENCH_CODE ?? '';
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const node = Number(process.env.BENCH_NODE ?? 0);
const store = new PostgresStore({ url, pool_connections_max: 8 });
const engine = await Engine.open(store, { wantsEvent: () => false });
const route = await engine.codes.route({ code });
let ok = 0;
let refused = 0;
let i = 0;
const until = Date.now() + seconds * 1000;
const worker = async () => {
  while (Date.now() < until) {
    const n = i++;
    try {
      await engine.redeem(
        {
          user_id: `n${node}u${n % 10_000}`,
          coupon_id: route.coupon_id,
          order: {
            id: `n${node}o${n}`,
            merchant_id: `m${n % 50}`,
            amount_minor: 5000,
            currency: 'CNY',
            product_kind: 'merchandise',
          },
          confirm: true,
        },
        { actor: `bench-node-${node}` },
      );
      ok++;
    } catch {
      refused++;
    }
  }
};
await Promise.all(Array.from({ length: 1024 }, worker));
await engine.close();
await store.close();
process.stdout.write(`${JSON.stringify({ ok, refused })}\n`);
