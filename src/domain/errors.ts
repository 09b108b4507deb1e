/** Every expected outcome that is not a success has one of these codes (API.md error table). */
export type RejectionCode =
  | 'invalid_request'
  | 'unauthenticated'
  | 'forbidden'
  | 'approval_self_forbidden'
  | 'not_found'
  | 'coupon_not_found'
  | 'coupon_already_redeemed'
  | 'idempotency_key_reused'
  | 'invalid_state'
  | 'already_grabbed'
  | 'payload_too_large'
  | 'coupon_expired'
  | 'coupon_revoked'
  | 'campaign_not_started'
  | 'campaign_ended'
  | 'campaign_not_active'
  | 'campaign_paused'
  | 'campaign_revoked'
  | 'coupon_not_eligible_user'
  | 'min_spend_not_met'
  | 'product_kind_not_eligible'
  | 'merchant_not_eligible'
  | 'currency_mismatch'
  | 'budget_exhausted'
  | 'usage_limit_reached'
  | 'per_user_limit_reached'
  | 'per_merchant_limit_reached'
  | 'campaign_lint_failed'
  | 'red_envelope_empty'
  | 'red_envelope_expired'
  | 'rate_limited'
  | 'too_many_attempts'
  | 'internal_error'
  | 'store_unavailable'
  | 'overloaded';

/**
 * An expected, typed refusal. Never a bug: bugs are assertion failures. It carries no stack
 * trace: nobody reads one, and capturing it cost more than the rest of a refused request
 * (a flood of guesses or of requests past the budget is made of these).
 */
export class Rejection extends Error {
  readonly code: RejectionCode;
  readonly param?: string;
  /** Seconds a client should wait before retrying (429 / 503). */
  readonly retry_after_s?: number;

  constructor(code: RejectionCode, message: string, param?: string, retry_after_s?: number) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      super(message);
    } finally {
      Error.stackTraceLimit = limit;
    }
    this.name = 'Rejection';
    this.code = code;
    if (param !== undefined) this.param = param;
    if (retry_after_s !== undefined) this.retry_after_s = retry_after_s;
  }
}

/**
 * An Idempotency-Key already used with another request (method, path or body). It names the
 * header, as the refusal of a key whose first request is still in progress does: a client tells
 * the two apart by the message, not by where the fault is.
 */
export function idempotencyKeyReused(): Rejection {
  return new Rejection(
    'idempotency_key_reused',
    'this Idempotency-Key was used with another request',
    'Idempotency-Key',
  );
}

/** A broken invariant: a bug. Crash loudly rather than move money wrongly. */
export class InvariantViolation extends Error {
  constructor(message: string) {
    super(`invariant violated: ${message}`);
    this.name = 'InvariantViolation';
  }
}

export function assert(condition: unknown, message = 'assertion failed'): asserts condition {
  if (!condition) throw new InvariantViolation(message);
}

/** What was thrown, as an Error (a thrown non-Error becomes one with its text). */
export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
