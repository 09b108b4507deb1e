import { type Static, Type } from '@sinclair/typebox';
import type { CampaignPatch } from '../domain/campaign-change.ts';
import { audienceOf, discountOf, velocityOf } from './campaign-input.ts';
import { CampaignCreate } from './campaign-schemas.ts';
import { productKindsOf } from './product-kind-input.ts';
import { parseTimestampMs } from './time.ts';

/** Every field of a create, each optional: absent fields stay as they are. */
export const CampaignUpdate = Type.Partial(CampaignCreate, {
  additionalProperties: false,
  description:
    'Changes a campaign (fields as in create; absent ones stay). currency and code_mode cannot change; budget_minor not below reserved + spent; a risky change to a live campaign needs approval again.',
});

type UpdateInput = Static<typeof CampaignUpdate>;

/** The wire's partial campaign to the domain's patch (ms times, explicit nulls kept). */
export function campaignPatchOf(input: UpdateInput): CampaignPatch {
  const patch: CampaignPatch = {};
  if (input.name !== undefined) patch.name = input.name;
  if (input.currency !== undefined) patch.currency = input.currency;
  if (input.discount !== undefined) patch.discount = discountOf(input.discount);
  if (input.min_spend_minor !== undefined) patch.min_spend_minor = input.min_spend_minor;
  if (input.product_kinds !== undefined) patch.product_kinds = productKindsOf(input.product_kinds, 'product_kinds');
  if (input.merchant_ids !== undefined) {
    patch.merchant_ids = input.merchant_ids === null ? null : [...new Set(input.merchant_ids)];
  }
  if (input.audience !== undefined) patch.audience = audienceOf(input.audience);
  if (input.starts_at !== undefined) patch.starts_at_ms = parseTimestampMs(input.starts_at, 'starts_at');
  if (input.ends_at !== undefined) patch.ends_at_ms = parseTimestampMs(input.ends_at, 'ends_at');
  if (input.coupon_ttl_s !== undefined) patch.coupon_ttl_s = input.coupon_ttl_s;
  if (input.budget_minor !== undefined) patch.budget_minor = input.budget_minor;
  if (input.max_redemptions !== undefined) patch.max_redemptions = input.max_redemptions;
  if (input.per_user_limit !== undefined) patch.per_user_limit = input.per_user_limit;
  if (input.per_merchant_limit !== undefined) patch.per_merchant_limit = input.per_merchant_limit;
  if (input.code_mode !== undefined) patch.code_mode = input.code_mode;
  if (input.code !== undefined) patch.code = input.code;
  if (input.auto_pause !== undefined) patch.auto_pause = input.auto_pause;
  if (input.velocity !== undefined) patch.velocity = velocityOf(input.velocity);
  return patch;
}
