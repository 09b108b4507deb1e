import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { activeCampaign, assertInvariants, httpHarness } from '../http/harness.ts';
import { type Slowness, slowStore } from './slow-store.ts';

const queue_commands_max = 300;
const wave = 2000;

function body(i: number) {
  return {
    user_id: `u${i}`,
    code: 'SLOW',
    confirm: true,
    order: { id: `o${i}`, merchant_id: 'm1', amount_minor: 5000, currency: 'CNY', product_kind: 'merchandise' },
  };
}

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Heap in use after a full collection, so the numbers compare wave to wave. */
function heapMiB(): number {
  gc();
  return process.memoryUsage().heapUsed / 1024 / 1024;
}

test('a slow store: the bounded queue sheds load with 503 overloaded + Retry-After, and memory stays bounded', async () => {
  const slowness: Slowness = { batch_ms: 0, read_ms: 0 };
  const store = slowStore(new SqliteStore({ path: ':memory:' }), slowness);
  const h = await httpHarness({ queue_commands_max, batch_commands_max: 64 }, {}, store);
  await activeCampaign(h, {
    code_mode: 'shared_code',
    code: 'SLOW',
    budget_minor: 100_000_000,
    max_redemptions: null,
    per_user_limit: null,
    min_spend_minor: 1000,
    discount: { type: 'fixed', amount_minor: 100 },
  });
  slowness.batch_ms = 150;

  let pending_max = 0;
  const sampler = setInterval(() => {
    pending_max = Math.max(pending_max, h.engine.pending);
  }, 5);
  const answers = new Map<string, number>();
  let missing_retry_after = 0;
  const heaps: number[] = [];
  try {
    for (let w = 0; w < 3; w++) {
      const replies = await Promise.all(
        Array.from({ length: wave }, (_, i) =>
          h.call<{ error?: { code: string } }>('POST', '/v1/redemptions', {
            key: 'checkout',
            body: body(w * wave + i),
          }),
        ),
      );
      for (const r of replies) {
        const label = r.status === 201 ? '201' : `${r.status} ${r.body.error?.code}`;
        answers.set(label, (answers.get(label) ?? 0) + 1);
        if (r.status === 503 && !(Number(r.headers['retry-after']) >= 1)) missing_retry_after++;
      }
      heaps.push(heapMiB());
    }
  } finally {
    clearInterval(sampler);
  }
  const text = [...answers].map(([k, n]) => `${k}: ${n}`).join(', ');
  process.stdout.write(
    `# slow store: ${text}; engine.pending max ${pending_max}; heap MiB per wave ${heaps.map((x) => x.toFixed(1)).join(', ')}\n`,
  );
  for (const label of answers.keys())
    assert.ok(['201', '503 overloaded'].includes(label), `unexpected ${label}: ${text}`);
  assert.ok((answers.get('503 overloaded') ?? 0) > 0, `load was shed: ${text}`);
  assert.ok((answers.get('201') ?? 0) > 0, `work still got done: ${text}`);
  assert.equal(missing_retry_after, 0, 'every 503 carries Retry-After');
  // The queue never holds more than its bound plus the batches in flight (one per campaign).
  assert.ok(pending_max <= queue_commands_max + 64, `pending ${pending_max}`);
  // Generous, not a timing bound: three waves of 2,000 requests must not keep growing the heap.
  const first = heaps[0] ?? 0;
  const last = heaps[heaps.length - 1] ?? 0;
  assert.ok(last - first < 64, `heap grew from ${first.toFixed(1)} to ${last.toFixed(1)} MiB`);
  slowness.batch_ms = 0;
  await assertInvariants(h.store);
  const c = await h.call<{ budget: { spent_minor: number } }>('GET', '/v1/campaigns?limit=1');
  assert.equal(c.status, 200);
  await h.app.close();
  await h.engine.close();
  await h.store.close();
});
