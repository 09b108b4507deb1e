import type { CampaignCreate } from './api.ts';

/** The create form as typed: every input's raw text, converted only when sent. */
export interface FormState {
  name: string;
  currency: string;
  discount_type: 'fixed' | 'percent' | 'tiered';
  amount_minor: string;
  percent: string;
  max_discount_minor: string;
  tiers: { min_spend_minor: string; amount_minor: string }[];
  min_spend_minor: string;
  product_kinds: string[];
  audience: 'public' | 'allowlist';
  user_ids: string;
  starts_at: string;
  ends_at: string;
  coupon_ttl_s: string;
  budget_minor: string;
  max_redemptions: string;
  per_user_limit: string;
  per_merchant_limit: string;
  code_mode: 'claim' | 'unique_codes' | 'shared_code';
  code: string;
  auto_pause: boolean;
}

/** <input type="datetime-local"> text for a moment, in the browser's zone. */
export function localInput(ms: number): string {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

export function initialForm(now_ms: number, product_kinds: string[]): FormState {
  return {
    name: '',
    currency: 'CNY',
    discount_type: 'fixed',
    amount_minor: '1000',
    percent: '10',
    max_discount_minor: '',
    tiers: [{ min_spend_minor: '20000', amount_minor: '3000' }],
    min_spend_minor: '5000',
    product_kinds,
    audience: 'public',
    user_ids: '',
    starts_at: localInput(now_ms),
    ends_at: localInput(now_ms + 7 * 24 * 3600_000),
    coupon_ttl_s: '86400',
    budget_minor: '100000',
    max_redemptions: '100',
    per_user_limit: '1',
    per_merchant_limit: '',
    code_mode: 'claim',
    code: '',
    auto_pause: true,
  };
}

/** A field the browser can already tell is wrong, named as the server's `param` would name it. */
export class FormProblem extends Error {
  constructor(
    readonly param: string,
    message: string,
  ) {
    super(message);
  }
}

const integer = /^\s*\d+\s*$/;

function whole(text: string, param: string): number {
  if (!integer.test(text)) throw new FormProblem(param, `${param}: a whole number is needed`);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new FormProblem(param, `${param}: too large`);
  return n;
}

function wholeOrNull(text: string, param: string): number | null {
  return text.trim() === '' ? null : whole(text, param);
}

function timestamp(text: string, param: string): string {
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new FormProblem(param, `${param}: pick a date and time`);
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}

/** "15" or "15.25" percent to basis points, exactly (no float rounding surprises). */
function basisPoints(text: string): number {
  const m = /^\s*(\d{1,3})(?:\.(\d{1,2}))?\s*$/.exec(text);
  if (m === null) throw new FormProblem('discount.percent_bp', 'percent: a number like 15 or 12.5');
  return Number(m[1]) * 100 + Number((m[2] ?? '').padEnd(2, '0'));
}

function discountOf(f: FormState): CampaignCreate['discount'] {
  if (f.discount_type === 'fixed')
    return { type: 'fixed', amount_minor: whole(f.amount_minor, 'discount.amount_minor') };
  if (f.discount_type === 'percent') {
    return {
      type: 'percent',
      percent_bp: basisPoints(f.percent),
      max_discount_minor: wholeOrNull(f.max_discount_minor, 'discount.max_discount_minor'),
    };
  }
  return {
    type: 'tiered',
    tiers: f.tiers.map((t, i) => ({
      min_spend_minor: whole(t.min_spend_minor, `discount.tiers[${i}].min_spend_minor`),
      amount_minor: whole(t.amount_minor, `discount.tiers[${i}].amount_minor`),
    })),
  };
}

function currencyOf(text: string): string {
  const code = text.trim().toUpperCase();
  if (!/^[A-Z]{3}$/.test(code)) throw new FormProblem('currency', 'currency: a three-letter ISO 4217 code, e.g. CNY');
  return code;
}

function userIds(text: string): string[] {
  return [...new Set(text.split(/[\s,]+/).filter((s) => s.length > 0))];
}

/** The POST /v1/campaigns body, or a FormProblem for input that cannot be sent at all. */
export function bodyOf(f: FormState): CampaignCreate {
  return {
    name: f.name.trim() === '' ? 'Untitled' : f.name.trim(),
    currency: currencyOf(f.currency),
    discount: discountOf(f),
    min_spend_minor: whole(f.min_spend_minor || '0', 'min_spend_minor'),
    product_kinds: f.product_kinds,
    merchant_ids: null,
    audience: f.audience === 'public' ? { type: 'public' } : { type: 'allowlist', user_ids: userIds(f.user_ids) },
    starts_at: timestamp(f.starts_at, 'starts_at'),
    ends_at: timestamp(f.ends_at, 'ends_at'),
    coupon_ttl_s: wholeOrNull(f.coupon_ttl_s, 'coupon_ttl_s'),
    budget_minor: whole(f.budget_minor, 'budget_minor'),
    max_redemptions: wholeOrNull(f.max_redemptions, 'max_redemptions'),
    per_user_limit: wholeOrNull(f.per_user_limit, 'per_user_limit'),
    per_merchant_limit: wholeOrNull(f.per_merchant_limit, 'per_merchant_limit'),
    code_mode: f.code_mode,
    code: f.code_mode === 'shared_code' ? f.code.trim() : null,
    auto_pause: f.auto_pause,
  };
}
