import { type Campaign, type CampaignSpec, liveRedemptions, type Velocity } from './campaign.ts';
import { assert, Rejection } from './errors.ts';
import { canonicalProductKind } from './product-kinds.ts';

/** A change to a campaign: the fields to set; absent fields stay as they are. */
export type CampaignPatch = Partial<CampaignSpec>;

/** Fields fixed at creation: money already moved in this currency, and codes already handed out. */
const fixedFields = ['currency', 'code_mode', 'code'] as const satisfies readonly (keyof CampaignSpec)[];

const specFields = [
  'name',
  'currency',
  'discount',
  'min_spend_minor',
  'product_kinds',
  'merchant_ids',
  'audience',
  'starts_at_ms',
  'ends_at_ms',
  'coupon_ttl_s',
  'budget_minor',
  'max_redemptions',
  'per_user_limit',
  'per_merchant_limit',
  'code_mode',
  'code',
  'auto_pause',
  'velocity',
] as const satisfies readonly (keyof CampaignSpec)[];

const velocityFields = [
  'per_user_per_minute',
  'per_device_per_minute',
  'per_ip_per_minute',
  'per_user_per_day',
  'per_device_per_day',
  'per_ip_per_day',
] as const satisfies readonly (keyof Velocity)[];

/** Most live redemptions any one user / merchant has, from the redemption rows. */
export interface LiveMax {
  user: number;
  merchant: number;
}

/** Deep equality of plain JSON values (specs hold nothing else). */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** The spec part of a campaign. */
export function specOf(c: CampaignSpec): CampaignSpec {
  const out: Record<string, unknown> = {};
  for (const f of specFields) out[f] = c[f];
  return out as unknown as CampaignSpec;
}

export function changedFields(prev: CampaignSpec, next: CampaignSpec): (keyof CampaignSpec)[] {
  return specFields.filter((f) => !sameValue(prev[f], next[f]));
}

/** A limit is loosened when it goes away or grows (null = no limit). */
function loosened(prev: number | null | undefined, next: number | null | undefined): boolean {
  const p = prev ?? null;
  const n = next ?? null;
  return p !== null && (n === null || n > p);
}

/** True when `next` has an entry `prev` lacks; a null list means "all". */
function widened(prev: readonly string[] | null, next: readonly string[] | null): boolean {
  if (prev === null) return false;
  if (next === null) return true;
  const known = new Set(prev);
  return next.some((x) => !known.has(x));
}

function audienceWidened(prev: CampaignSpec['audience'], next: CampaignSpec['audience']): boolean {
  if (prev.type === 'public') return false;
  return next.type === 'public' || widened(prev.user_ids, next.user_ids);
}

/** The same limits (an absent limit, null or undefined, is none; no settings at all is no limits). */
export function sameVelocity(a: Velocity | null, b: Velocity | null): boolean {
  return velocityFields.every((f) => (a?.[f] ?? null) === (b?.[f] ?? null));
}

function velocityLoosened(prev: Velocity | null, next: Velocity | null): boolean {
  return velocityFields.some((f) => loosened(prev?.[f], next?.[f]));
}

/**
 * Changes that can make a campaign cost more or reach more people; on a live campaign
 * they need a second key's approval again. Tightening anything is never risky.
 */
export function riskyChanges(prev: CampaignSpec, next: CampaignSpec): (keyof CampaignSpec)[] {
  const risky: (keyof CampaignSpec)[] = [];
  const flag = (field: keyof CampaignSpec, is: boolean) => {
    if (is) risky.push(field);
  };
  flag('discount', !sameValue(prev.discount, next.discount));
  flag('min_spend_minor', next.min_spend_minor < prev.min_spend_minor);
  // In canonical form: respelling a kind stored before kinds were canonical widens nothing.
  const kinds = (list: readonly string[]) => list.map(canonicalProductKind);
  flag('product_kinds', widened(kinds(prev.product_kinds), kinds(next.product_kinds)));
  flag('merchant_ids', widened(prev.merchant_ids, next.merchant_ids));
  flag('audience', audienceWidened(prev.audience, next.audience));
  flag('starts_at_ms', next.starts_at_ms < prev.starts_at_ms);
  flag('ends_at_ms', next.ends_at_ms > prev.ends_at_ms);
  flag('coupon_ttl_s', loosened(prev.coupon_ttl_s, next.coupon_ttl_s));
  flag('budget_minor', next.budget_minor > prev.budget_minor);
  flag('max_redemptions', loosened(prev.max_redemptions, next.max_redemptions));
  flag('per_user_limit', loosened(prev.per_user_limit, next.per_user_limit));
  flag('per_merchant_limit', loosened(prev.per_merchant_limit, next.per_merchant_limit));
  flag('auto_pause', prev.auto_pause && !next.auto_pause);
  flag('velocity', velocityLoosened(prev.velocity, next.velocity));
  return risky;
}

/** A limit newly set or lowered must be checked against what already exists. */
export function tightensPerSubjectLimit(prev: CampaignSpec, patch: CampaignPatch): boolean {
  const lowered = (p: number | null, n: number | null | undefined) =>
    n !== undefined && n !== null && (p === null || n < p);
  return (
    lowered(prev.per_user_limit, patch.per_user_limit) || lowered(prev.per_merchant_limit, patch.per_merchant_limit)
  );
}

function refuse(message: string, param: string): Rejection {
  return new Rejection('invalid_request', message, param);
}

/**
 * The campaign's spec after the patch, or the first reason it may not be applied. Money
 * and counts already committed bound what a change may do: the budget never drops below
 * what is held and spent, and no limit drops below what is already live.
 */
export function applyPatch(prev: Campaign, patch: CampaignPatch, live_max: LiveMax | undefined): CampaignSpec {
  for (const f of fixedFields) {
    if (patch[f] !== undefined && !sameValue(patch[f], prev[f])) throw refuse(`${f} cannot change`, f);
  }
  const next: CampaignSpec = { ...specOf(prev) };
  for (const f of specFields) {
    if (patch[f] !== undefined) (next as unknown as Record<string, unknown>)[f] = patch[f];
  }
  const used_minor = prev.reserved_minor + prev.spent_minor;
  if (next.budget_minor < used_minor) {
    throw refuse(`budget_minor cannot go below the ${used_minor} already held or spent`, 'budget_minor');
  }
  const live = liveRedemptions(prev);
  if (next.max_redemptions !== null && next.max_redemptions < live) {
    throw refuse(`max_redemptions cannot go below the ${live} live redemptions`, 'max_redemptions');
  }
  checkPerSubject(next.per_user_limit, prev.per_user_limit, live_max?.user, 'per_user_limit', 'a user');
  checkPerSubject(
    next.per_merchant_limit,
    prev.per_merchant_limit,
    live_max?.merchant,
    'per_merchant_limit',
    'a merchant',
  );
  return next;
}

function checkPerSubject(
  next: number | null,
  prev: number | null,
  live_max: number | undefined,
  field: string,
  who: string,
): void {
  if (next === null || (prev !== null && next >= prev)) return;
  assert(live_max !== undefined, `${field}: live counts were not loaded`);
  if (next < live_max)
    throw refuse(`${field} cannot go below the ${live_max} live redemptions ${who} already has`, field);
}
