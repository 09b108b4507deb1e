import { after, test } from 'node:test';
import { type HttpHarness, httpHarness } from '../http/harness.ts';
import { answerStats } from './driver.ts';
import { assertStoreClean, checkModel } from './property.ts';

const seed = Number(process.env.FC_SEED ?? Date.now() % 2_147_483_647);
const runs = Number(process.env.MODEL_RUNS ?? 1000);
/** A harness serves this many sequences (each its own campaign), then is verified and replaced. */
const sequences_per_harness = 100;

let current: HttpHarness | null = null;
let served = 0;

async function retire(h: HttpHarness): Promise<void> {
  await assertStoreClean(h);
  await h.app.close();
  await h.engine.close();
  await h.store.close();
}

async function harness(): Promise<HttpHarness> {
  if (current && served >= sequences_per_harness) {
    await retire(current);
    current = null;
  }
  if (!current) {
    current = await httpHarness();
    served = 0;
  }
  served++;
  return current;
}

after(async () => {
  if (current) await retire(current);
});

test(`the HTTP API agrees with the reference model on ${runs} random sequences (SQLite, seed ${seed}; FC_SEED=${seed} replays)`, async () => {
  process.stdout.write(`# model-sqlite seed ${seed}\n`);
  await checkModel({ runs, seed, commands_max: 20, harness });
  const seen = [...answerStats].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k}=${n}`);
  process.stdout.write(`# answers compared: ${seen.join(' ')}\n`);
});
