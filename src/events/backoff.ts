import { limits } from '../config/limits.ts';

export interface RetryPolicy {
  attempts_max: number;
  base_ms: number;
  cap_ms: number;
}

export const defaultRetryPolicy: RetryPolicy = {
  attempts_max: limits.webhook_attempts_max,
  base_ms: limits.webhook_backoff_base_ms,
  cap_ms: limits.webhook_backoff_cap_ms,
};

/**
 * Delay before attempt `attempt + 1` after `attempt` failures: base * 2^(attempt-1), capped,
 * with "equal jitter" (half fixed, half random) so that receivers coming back are not hit
 * by every node at once. `random` is in [0, 1). Null: no attempts left.
 */
export function retryDelayMs(attempt: number, policy: RetryPolicy, random: number): number | null {
  if (attempt >= policy.attempts_max) return null;
  const exp_ms = Math.min(policy.cap_ms, policy.base_ms * 2 ** Math.max(0, attempt - 1));
  return Math.floor(exp_ms / 2 + (exp_ms / 2) * random);
}

/**
 * NATS deliveries back off as `webhooks` does, with enough attempts to span the event retention
 * (outbox rows and settled deliveries are pruned after it): each delay is at least half the cap,
 * so that many attempts cannot end sooner.
 */
export function natsRetryPolicy(webhooks: RetryPolicy, retention_ms = limits.event_retention_ms): RetryPolicy {
  const steps_to_cap = Math.ceil(Math.log2(Math.max(1, webhooks.cap_ms / webhooks.base_ms))) + 1;
  return { ...webhooks, attempts_max: steps_to_cap + Math.ceil(retention_ms / (webhooks.cap_ms / 2)) };
}
