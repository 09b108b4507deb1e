import type { Campaign, CampaignSpec } from './campaign.ts';
import { minorDigits } from './currency.ts';
import { largestDiscountMinor } from './discount/discount.ts';
import { isCashEquivalent } from './product-kinds.ts';

export type LintSeverity = 'error' | 'warning' | 'info';

export interface LintFinding {
  rule: string;
  severity: LintSeverity;
  message: string;
}

export interface LintContext {
  now_ms: number;
  /** The campaign as it was before this change, when the spec is an edit. */
  previous?: Campaign;
}

const day_ms = 24 * 60 * 60 * 1000;

/** Every threshold lint uses, in one place so a review can see and tune them. */
export const lintThresholds = {
  /** A discount at or above this is "large": 5000 minor units is 50.00 CNY. */
  high_value_minor: 5000,
  /** A discount at or above this share of the minimum spend makes qualifying orders nearly free. */
  discount_share_of_min_spend_bp_max: 8000,
  /** Long windows outlive the plan they were made for; 90 days is a season. */
  window_ms_max: 90 * day_ms,
} as const;

/** A rule's check returns the message to show, or null when the rule does not fire. */
export interface LintRule {
  id: string;
  severity: LintSeverity;
  check(spec: CampaignSpec, ctx: LintContext): string | null;
}

/** Money in the currency's own units for messages: 10000 CNY minor units reads "100.00 CNY". */
export function formatMoney(amount_minor: number, currency: string): string {
  const digits = minorDigits(currency);
  // Whole and fraction apart: dividing as a float rounds amounts near 2^53 to a neighbouring minor unit.
  const unit = 10 ** digits;
  const abs = Math.abs(amount_minor);
  const rest = abs % unit;
  const fraction = digits === 0 ? '' : `.${String(rest).padStart(digits, '0')}`;
  return `${amount_minor < 0 ? '-' : ''}${(abs - rest) / unit}${fraction} ${currency}`;
}

/** Each amount the discount can give with the smallest order that gets it (tiers raise the minimum). */
function discountSteps(spec: CampaignSpec): { amount_minor: number; min_spend_minor: number }[] {
  const d = spec.discount;
  if (d.type === 'fixed') return [{ amount_minor: d.amount_minor, min_spend_minor: spec.min_spend_minor }];
  if (d.type === 'percent') return [];
  return d.tiers.map((t) => ({
    amount_minor: t.amount_minor,
    min_spend_minor: Math.max(spec.min_spend_minor, t.min_spend_minor),
  }));
}

const windowInverted: LintRule = {
  id: 'window_inverted',
  severity: 'error',
  check: (spec) => (spec.ends_at_ms <= spec.starts_at_ms ? 'The campaign ends before it starts.' : null),
};

const windowAlreadyEnded: LintRule = {
  id: 'window_already_ended',
  severity: 'error',
  check: (spec, ctx) => (spec.ends_at_ms <= ctx.now_ms ? 'The campaign window has already ended.' : null),
};

/** Whether the discount can take anything off any order (a zero one is a typo, not a promotion). */
function givesSomething(d: CampaignSpec['discount']): boolean {
  if (d.type === 'fixed') return d.amount_minor > 0;
  if (d.type === 'percent') return d.percent_bp > 0 && d.max_discount_minor !== 0;
  return d.tiers.some((t) => t.amount_minor > 0);
}

const discountGivesNothing: LintRule = {
  id: 'discount_gives_nothing',
  severity: 'error',
  check: (spec) => (givesSomething(spec.discount) ? null : 'The discount takes nothing off any order.'),
};

const budgetBelowOneDiscount: LintRule = {
  id: 'budget_below_one_discount',
  severity: 'error',
  check: (spec) => {
    const largest_minor = largestDiscountMinor(spec.discount);
    if (largest_minor === null || spec.budget_minor >= largest_minor) return null;
    return `The budget (${formatMoney(spec.budget_minor, spec.currency)}) is smaller than a single discount (${formatMoney(largest_minor, spec.currency)}).`;
  },
};

const noMinSpendLargeDiscount: LintRule = {
  id: 'no_min_spend_large_discount',
  severity: 'warning',
  check: (spec) => {
    const step = discountSteps(spec).find(
      (s) => s.min_spend_minor === 0 && s.amount_minor >= lintThresholds.high_value_minor,
    );
    if (step === undefined) return null;
    return `${formatMoney(step.amount_minor, spec.currency)} off with no minimum spend: any small order becomes free. Set a minimum spend.`;
  },
};

const discountNearMinSpend: LintRule = {
  id: 'discount_near_min_spend',
  severity: 'warning',
  check: (spec) => {
    const share_bp_max = lintThresholds.discount_share_of_min_spend_bp_max;
    if (spec.discount.type === 'percent') {
      const percent_bp = spec.discount.percent_bp;
      return percent_bp >= share_bp_max ? `${percent_bp / 100}% off makes orders nearly free.` : null;
    }
    const step = discountSteps(spec).find(
      (s) =>
        s.min_spend_minor > 0 && BigInt(s.amount_minor) * 10_000n >= BigInt(s.min_spend_minor) * BigInt(share_bp_max),
    );
    if (step === undefined) return null;
    const amount = formatMoney(step.amount_minor, spec.currency);
    const min_spend = formatMoney(step.min_spend_minor, spec.currency);
    return `The discount (${amount}) is close to or above the minimum spend (${min_spend}): qualifying orders are nearly free.`;
  },
};

const cashEquivalentEligible: LintRule = {
  id: 'cash_equivalent_eligible',
  severity: 'warning',
  check: (spec) => {
    const kinds = spec.product_kinds.filter(isCashEquivalent);
    if (kinds.length === 0) return null;
    return `The coupon can buy ${kinds.join(', ')}, which are as good as cash: it becomes a cash giveaway that is easy to resell.`;
  },
};

const publicHighValue: LintRule = {
  id: 'public_high_value',
  severity: 'warning',
  check: (spec) => {
    if (spec.audience.type !== 'public') return null;
    const largest_minor = largestDiscountMinor(spec.discount);
    if (largest_minor !== null && largest_minor < lintThresholds.high_value_minor) return null;
    const value =
      largest_minor === null ? 'an uncapped discount' : `up to ${formatMoney(largest_minor, spec.currency)} off`;
    return `Anyone can get this coupon and it gives ${value}. Use an allowlist audience or a smaller discount.`;
  },
};

const noPerUserLimit: LintRule = {
  id: 'no_per_user_limit',
  severity: 'warning',
  check: (spec) =>
    spec.per_user_limit === null
      ? 'One person can redeem this coupon any number of times. Set a per-user limit.'
      : null,
};

const windowTooLong: LintRule = {
  id: 'window_too_long',
  severity: 'warning',
  check: (spec) => {
    const window_ms = spec.ends_at_ms - spec.starts_at_ms;
    if (window_ms <= lintThresholds.window_ms_max) return null;
    const days = Math.ceil(window_ms / day_ms);
    return `The campaign runs for ${days} days; campaigns longer than ${lintThresholds.window_ms_max / day_ms} days tend to be forgotten while they still cost money.`;
  },
};

const extendsEndedCampaign: LintRule = {
  id: 'extends_ended_campaign',
  severity: 'warning',
  check: (spec, ctx) => {
    const prev = ctx.previous;
    if (prev === undefined || spec.ends_at_ms <= prev.ends_at_ms) return null;
    const ended = prev.status === 'ended' || prev.status === 'revoked' || prev.ends_at_ms <= ctx.now_ms;
    if (!ended) return null;
    return 'This campaign has already ended; moving its end date later brings it back to life. Create a new campaign instead, or have this change reviewed.';
  },
};

const uncappedPercentNoMaxRedemptions: LintRule = {
  id: 'uncapped_percent_no_max_redemptions',
  // Info, not warning: the budget still caps the total cost; this only says how fast it can go.
  severity: 'info',
  check: (spec) => {
    const d = spec.discount;
    if (d.type !== 'percent' || d.max_discount_minor !== null || d.percent_bp === 0) return null;
    if (spec.max_redemptions !== null) return null;
    return 'The percentage discount has no cap and the campaign has no redemption limit: a few large orders can use up the whole budget.';
  },
};

/** Errors first, so the reason a campaign cannot be submitted leads the list. */
export const lintRules: readonly LintRule[] = [
  windowInverted,
  windowAlreadyEnded,
  discountGivesNothing,
  budgetBelowOneDiscount,
  noMinSpendLargeDiscount,
  discountNearMinSpend,
  cashEquivalentEligible,
  publicHighValue,
  noPerUserLimit,
  windowTooLong,
  extendsEndedCampaign,
  uncappedPercentNoMaxRedemptions,
];

/** Campaign lint: pure rules, each with an id, a severity and a message a marketer understands. */
export function lintCampaign(spec: CampaignSpec, ctx: LintContext): LintFinding[] {
  const findings: LintFinding[] = [];
  for (const rule of lintRules) {
    const message = rule.check(spec, ctx);
    if (message !== null) findings.push({ rule: rule.id, severity: rule.severity, message });
  }
  return findings;
}

export function hasErrors(findings: readonly LintFinding[]): boolean {
  return findings.some((f) => f.severity === 'error');
}

export function hasWarnings(findings: readonly LintFinding[]): boolean {
  return findings.some((f) => f.severity === 'warning');
}
