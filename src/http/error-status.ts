import type { RejectionCode } from '../domain/errors.ts';

/**
 * The one place that knows HTTP statuses (API.md error table). A Record, so a new
 * RejectionCode without a status does not compile.
 */
export const statusByCode: Record<RejectionCode, number> = {
  invalid_request: 400,
  unauthenticated: 401,
  forbidden: 403,
  approval_self_forbidden: 403,
  not_found: 404,
  coupon_not_found: 404,
  coupon_already_redeemed: 409,
  idempotency_key_reused: 409,
  invalid_state: 409,
  already_grabbed: 409,
  payload_too_large: 413,
  coupon_expired: 422,
  coupon_revoked: 422,
  campaign_not_started: 422,
  campaign_ended: 422,
  campaign_not_active: 422,
  campaign_paused: 422,
  campaign_revoked: 422,
  coupon_not_eligible_user: 422,
  min_spend_not_met: 422,
  product_kind_not_eligible: 422,
  merchant_not_eligible: 422,
  currency_mismatch: 422,
  budget_exhausted: 422,
  usage_limit_reached: 422,
  per_user_limit_reached: 422,
  per_merchant_limit_reached: 422,
  campaign_lint_failed: 422,
  red_envelope_empty: 422,
  red_envelope_expired: 422,
  rate_limited: 429,
  too_many_attempts: 429,
  internal_error: 500,
  store_unavailable: 503,
  overloaded: 503,
};

/** Statuses whose answers must tell the client when to come back. */
export function needsRetryAfter(status: number): boolean {
  return status === 429 || status === 503;
}
