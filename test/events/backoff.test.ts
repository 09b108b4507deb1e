import assert from 'node:assert/strict';
import { test } from 'node:test';
import { limits } from '../../src/config/limits.ts';
import { defaultRetryPolicy, natsRetryPolicy, type RetryPolicy, retryDelayMs } from '../../src/events/backoff.ts';

/** The shortest time a delivery can go on being retried under `policy` (every jitter at its least). */
function shortestSpanMs(policy: RetryPolicy): number {
  let total = 0;
  for (let attempt = 1; ; attempt++) {
    const delay = retryDelayMs(attempt, policy, 0);
    if (delay === null) return total;
    total += delay;
  }
}

test('webhooks give up after about an hour of backoff; NATS deliveries only once the events retention has passed', () => {
  const webhooks = shortestSpanMs(defaultRetryPolicy);
  assert.ok(webhooks > 30 * 60_000 && webhooks < 3 * 3_600_000, `webhooks retried for ${webhooks} ms`);
  const nats = natsRetryPolicy(defaultRetryPolicy);
  assert.ok(shortestSpanMs(nats) >= limits.event_retention_ms, `NATS retried for ${shortestSpanMs(nats)} ms`);
  // Never more often than the webhooks' backoff: the same delays while they last, then the cap's.
  for (let attempt = 1; attempt < defaultRetryPolicy.attempts_max; attempt++) {
    assert.equal(retryDelayMs(attempt, nats, 0.5), retryDelayMs(attempt, defaultRetryPolicy, 0.5));
  }
  assert.equal(retryDelayMs(200, nats, 0.5), Math.floor(defaultRetryPolicy.cap_ms * 0.75));
  assert.ok(
    shortestSpanMs(natsRetryPolicy({ attempts_max: 4, base_ms: 1_000, cap_ms: 10_000 })) >= limits.event_retention_ms,
  );
});
