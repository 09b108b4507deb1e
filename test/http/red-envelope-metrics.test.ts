import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import type { Campaign } from '../../src/domain/campaign.ts';
import { RedEnvelopeMetrics } from '../../src/http/red-envelope-metrics.ts';

/** An envelope's backing campaign, as onCommit hands it over: only the envelope's figures matter here. */
function envelope(id: string, total_minor: number, grabbed_minor: number, refunded_minor = 0): Campaign {
  return { red_envelope: { id, total_minor, grabbed_minor, refunded_minor } } as unknown as Campaign;
}

async function shown(registry: Registry): Promise<Map<string, number>> {
  const metric = await registry.getSingleMetric('vouchsafe_red_envelope_remaining_minor')?.get();
  return new Map((metric?.values ?? []).map((v) => [String(v.labels.envelope_id), v.value]));
}

test('remaining gauges are bounded: finished envelopes make room, oldest first; live ones never do', async () => {
  const registry = new Registry();
  const commits: ((c: Campaign) => void)[] = [];
  const metrics = new RedEnvelopeMetrics(
    registry,
    { onCommit: (f: (c: Campaign) => void) => commits.push(f) } as never,
    3,
  );
  const commit = (c: Campaign) => {
    for (const f of commits) f(c);
  };
  commit(envelope('env_a', 1_000, 400));
  commit(envelope('env_b', 1_000, 0));
  commit(envelope('env_c', 500, 200));
  assert.deepEqual(
    await shown(registry),
    new Map([
      ['env_a', 600],
      ['env_b', 1_000],
      ['env_c', 300],
    ]),
  );
  // All three live: a fourth gets no series rather than taking a live one's.
  commit(envelope('env_d', 100, 0));
  assert.equal((await shown(registry)).has('env_d'), false);
  // env_c is exhausted, then env_a refunded after expiry: both finished, env_c first.
  commit(envelope('env_c', 500, 500));
  commit(envelope('env_a', 1_000, 400, 600));
  assert.deepEqual(
    await shown(registry),
    new Map([
      ['env_a', 0],
      ['env_b', 1_000],
      ['env_c', 0],
    ]),
  );
  commit(envelope('env_d', 100, 10));
  assert.deepEqual(
    await shown(registry),
    new Map([
      ['env_a', 0],
      ['env_b', 1_000],
      ['env_d', 90],
    ]),
  );
  commit(envelope('env_e', 100, 0));
  assert.deepEqual(
    await shown(registry),
    new Map([
      ['env_b', 1_000],
      ['env_d', 90],
      ['env_e', 100],
    ]),
  );
  // env_a's coupons still redeem, so its campaign commits again: it stays out, and env_e (finished
  // since) keeps its 0.
  commit(envelope('env_e', 100, 100));
  commit(envelope('env_a', 1_000, 400, 600));
  assert.deepEqual(
    await shown(registry),
    new Map([
      ['env_b', 1_000],
      ['env_d', 90],
      ['env_e', 0],
    ]),
  );
  // A replay of a dropped envelope's creation answer brings back no figure of its past.
  metrics.observeCreated(envelope('env_c', 500, 0));
  assert.equal((await shown(registry)).has('env_c'), false);
});
