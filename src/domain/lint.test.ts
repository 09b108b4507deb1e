import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Campaign, type CampaignSpec, zeroCounters } from './campaign.ts';
import {
  formatMoney,
  hasErrors,
  hasWarnings,
  type LintContext,
  lintCampaign,
  lintRules,
  lintThresholds,
} from './lint.ts';

const day_ms = 86_400_000;
const now_ms = Date.UTC(2019, 0, 1);
const ctx: LintContext = { now_ms };

/** A campaign no rule objects to; each test changes one thing. */
function safeSpec(over: Partial<CampaignSpec> = {}): CampaignSpec {
  return {
    name: 'Spring sale',
    currency: 'CNY',
    discount: { type: 'fixed', amount_minor: 2000 },
    min_spend_minor: 10_000,
    product_kinds: ['merchandise'],
    merchant_ids: null,
    audience: { type: 'allowlist', user_ids: ['u1', 'u2'] },
    starts_at_ms: now_ms,
    ends_at_ms: now_ms + 14 * day_ms,
    coupon_ttl_s: 86_400,
    budget_minor: 1_000_000,
    max_redemptions: 500,
    per_user_limit: 1,
    per_merchant_limit: null,
    code_mode: 'claim',
    code: null,
    auto_pause: true,
    velocity: { per_user_per_minute: 10 },
    ...over,
  };
}

function campaign(over: Partial<Campaign> = {}): Campaign {
  return {
    ...safeSpec(),
    ...zeroCounters,
    id: 'cmp_1',
    status: 'active',
    status_reason: null,
    created_at_ms: now_ms - 30 * day_ms,
    updated_at_ms: now_ms - 30 * day_ms,
    created_by: 'key_a',
    changed_by: 'key_a',
    approved_by: 'key_b',
    lint: [],
    audit_seq: 0,
    audit_head: '',
    ...over,
  };
}

function rulesFired(spec: CampaignSpec, context: LintContext = ctx): string[] {
  return lintCampaign(spec, context).map((f) => f.rule);
}

/** Asserts `rule` fires for `bad` (with its declared severity) and not for `good`. */
function bothWays(rule: string, bad: CampaignSpec, good: CampaignSpec, context: LintContext = ctx): void {
  const finding = lintCampaign(bad, context).find((f) => f.rule === rule);
  assert.ok(finding, `${rule} should fire`);
  assert.equal(finding.severity, lintRules.find((r) => r.id === rule)?.severity);
  assert.ok(finding.message.length > 10 && finding.message.endsWith('.'), finding.message);
  assert.ok(!rulesFired(good, context).includes(rule), `${rule} should not fire`);
}

describe('lintCampaign', () => {
  test('a careful campaign has no findings', () => {
    assert.deepEqual(lintCampaign(safeSpec(), ctx), []);
  });

  test('rule ids are unique and snake_case', () => {
    const ids = lintRules.map((r) => r.id);
    assert.equal(new Set(ids).size, ids.length);
    for (const id of ids) assert.match(id, /^[a-z]+(_[a-z]+)*$/);
  });

  test('the 2019 coupon gets several warnings and is held for approval', () => {
    const spec = safeSpec({
      name: 'TV show guests',
      discount: { type: 'fixed', amount_minor: 10_000 },
      min_spend_minor: 0,
      product_kinds: ['merchandise', 'phone_top_up', 'virtual'],
      audience: { type: 'public' },
      starts_at_ms: Date.UTC(2019, 0, 1),
      ends_at_ms: Date.UTC(2019, 0, 19),
      budget_minor: 5_000_000,
      per_user_limit: null,
    });
    const findings = lintCampaign(spec, ctx);
    const warnings = findings.filter((f) => f.severity === 'warning').map((f) => f.rule);
    for (const rule of [
      'no_min_spend_large_discount',
      'cash_equivalent_eligible',
      'public_high_value',
      'no_per_user_limit',
    ]) {
      assert.ok(warnings.includes(rule), `missing ${rule}`);
    }
    assert.equal(hasWarnings(findings), true);
    assert.equal(hasErrors(findings), false);
    assert.match(findings.find((f) => f.rule === 'no_min_spend_large_discount')?.message ?? '', /100\.00 CNY/);
    assert.match(findings.find((f) => f.rule === 'cash_equivalent_eligible')?.message ?? '', /phone_top_up/);
  });

  test('window_inverted (error)', () => {
    bothWays(
      'window_inverted',
      safeSpec({ ends_at_ms: now_ms + day_ms, starts_at_ms: now_ms + 2 * day_ms }),
      safeSpec(),
    );
    assert.ok(
      rulesFired(safeSpec({ ends_at_ms: now_ms + day_ms, starts_at_ms: now_ms + day_ms })).includes('window_inverted'),
    );
  });

  test('window_already_ended (error)', () => {
    const ended = safeSpec({ starts_at_ms: now_ms - 10 * day_ms, ends_at_ms: now_ms });
    bothWays('window_already_ended', ended, safeSpec({ starts_at_ms: now_ms - 10 * day_ms, ends_at_ms: now_ms + 1 }));
  });

  test('discount_gives_nothing (error)', () => {
    bothWays(
      'discount_gives_nothing',
      safeSpec({ discount: { type: 'fixed', amount_minor: 0 } }),
      safeSpec({ discount: { type: 'fixed', amount_minor: 1 } }),
    );
    bothWays(
      'discount_gives_nothing',
      safeSpec({ discount: { type: 'percent', percent_bp: 0, max_discount_minor: null } }),
      safeSpec({ discount: { type: 'percent', percent_bp: 1, max_discount_minor: null } }),
    );
    bothWays(
      'discount_gives_nothing',
      safeSpec({ discount: { type: 'percent', percent_bp: 1000, max_discount_minor: 0 } }),
      safeSpec({ discount: { type: 'percent', percent_bp: 1000, max_discount_minor: 1 } }),
    );
    const tiers = (a: number, b: number): CampaignSpec['discount'] => ({
      type: 'tiered',
      tiers: [
        { min_spend_minor: 10_000, amount_minor: a },
        { min_spend_minor: 20_000, amount_minor: b },
      ],
    });
    bothWays('discount_gives_nothing', safeSpec({ discount: tiers(0, 0) }), safeSpec({ discount: tiers(0, 500) }));
    assert.ok(hasErrors(lintCampaign(safeSpec({ discount: { type: 'fixed', amount_minor: 0 } }), ctx)));
  });

  test('budget_below_one_discount (error)', () => {
    bothWays('budget_below_one_discount', safeSpec({ budget_minor: 1999 }), safeSpec({ budget_minor: 2000 }));
    const capped = { type: 'percent', percent_bp: 1000, max_discount_minor: 3000 } as const;
    bothWays(
      'budget_below_one_discount',
      safeSpec({ discount: capped, budget_minor: 2999 }),
      safeSpec({ discount: capped, budget_minor: 3000 }),
    );
  });

  test('no_min_spend_large_discount (warning)', () => {
    const large = lintThresholds.high_value_minor;
    bothWays(
      'no_min_spend_large_discount',
      safeSpec({ min_spend_minor: 0, discount: { type: 'fixed', amount_minor: large } }),
      safeSpec({ min_spend_minor: 0, discount: { type: 'fixed', amount_minor: large - 1 } }),
    );
    bothWays(
      'no_min_spend_large_discount',
      safeSpec({
        min_spend_minor: 0,
        discount: { type: 'tiered', tiers: [{ min_spend_minor: 0, amount_minor: large }] },
      }),
      safeSpec({
        min_spend_minor: 0,
        discount: { type: 'tiered', tiers: [{ min_spend_minor: 50_000, amount_minor: large }] },
      }),
    );
  });

  test('discount_near_min_spend (warning)', () => {
    bothWays(
      'discount_near_min_spend',
      safeSpec({ min_spend_minor: 10_000, discount: { type: 'fixed', amount_minor: 8000 } }),
      safeSpec({ min_spend_minor: 10_000, discount: { type: 'fixed', amount_minor: 7999 } }),
    );
    bothWays(
      'discount_near_min_spend',
      safeSpec({ min_spend_minor: 3000, discount: { type: 'fixed', amount_minor: 4000 } }),
      safeSpec({ min_spend_minor: 0, discount: { type: 'fixed', amount_minor: 100 } }),
    );
    bothWays(
      'discount_near_min_spend',
      safeSpec({ discount: { type: 'tiered', tiers: [{ min_spend_minor: 20_000, amount_minor: 19_000 }] } }),
      safeSpec({ discount: { type: 'tiered', tiers: [{ min_spend_minor: 20_000, amount_minor: 3000 }] } }),
    );
    bothWays(
      'discount_near_min_spend',
      safeSpec({ discount: { type: 'percent', percent_bp: 9000, max_discount_minor: 2000 } }),
      safeSpec({ discount: { type: 'percent', percent_bp: 5000, max_discount_minor: 2000 } }),
    );
  });

  test('cash_equivalent_eligible (warning)', () => {
    bothWays(
      'cash_equivalent_eligible',
      safeSpec({ product_kinds: ['merchandise', 'gift_card'] }),
      safeSpec({ product_kinds: ['merchandise', 'virtual', 'food'] }),
    );
  });

  test('cash_equivalent_eligible fires however the kind is written, and names it as written', () => {
    for (const kind of [
      'GIFT_CARD',
      'Gift-Card',
      'gift card',
      'giftcard',
      'Mobile Top Up',
      'mobile_top_up',
      'airtime',
    ]) {
      const findings = lintCampaign(safeSpec({ product_kinds: ['merchandise', kind] }), ctx);
      const finding = findings.find((f) => f.rule === 'cash_equivalent_eligible');
      assert.equal(finding?.severity, 'warning', kind);
      assert.ok(finding?.message.includes(kind), finding?.message);
      assert.equal(hasWarnings(findings), true);
    }
  });

  test('public_high_value (warning)', () => {
    const large = lintThresholds.high_value_minor;
    const pub = { type: 'public' } as const;
    bothWays(
      'public_high_value',
      safeSpec({ audience: pub, discount: { type: 'fixed', amount_minor: large } }),
      safeSpec({ audience: pub, discount: { type: 'fixed', amount_minor: large - 1 } }),
    );
    bothWays(
      'public_high_value',
      safeSpec({ audience: pub, discount: { type: 'percent', percent_bp: 1000, max_discount_minor: null } }),
      safeSpec({ discount: { type: 'fixed', amount_minor: large } }),
    );
  });

  test('no_per_user_limit (warning)', () => {
    bothWays('no_per_user_limit', safeSpec({ per_user_limit: null }), safeSpec({ per_user_limit: 3 }));
  });

  test('window_too_long (warning)', () => {
    const max_ms = lintThresholds.window_ms_max;
    bothWays(
      'window_too_long',
      safeSpec({ ends_at_ms: now_ms + max_ms + 1 }),
      safeSpec({ ends_at_ms: now_ms + max_ms }),
    );
  });

  test('extends_ended_campaign (warning)', () => {
    const later = safeSpec({ ends_at_ms: now_ms + 30 * day_ms });
    const fires = (previous: Campaign, spec = later): boolean =>
      rulesFired(spec, { now_ms, previous }).includes('extends_ended_campaign');
    const ended = campaign({ status: 'ended', ends_at_ms: now_ms + 14 * day_ms });
    const lapsed = campaign({ status: 'paused', starts_at_ms: now_ms - 20 * day_ms, ends_at_ms: now_ms - day_ms });
    const running = campaign({ ends_at_ms: now_ms + 14 * day_ms });
    const finding = lintCampaign(later, { now_ms, previous: ended }).find((f) => f.rule === 'extends_ended_campaign');
    assert.equal(finding?.severity, 'warning');
    assert.ok(fires(ended), 'status ended, end moved later');
    assert.ok(fires(lapsed), 'end date passed, end moved later');
    assert.ok(fires(campaign({ status: 'revoked' })), 'revoked, end moved later');
    assert.ok(!fires(running), 'extending a running campaign is ordinary');
    assert.ok(!fires(ended, safeSpec({ ends_at_ms: now_ms + 14 * day_ms })), 'editing an ended one without extending');
    assert.ok(!rulesFired(later, ctx).includes('extends_ended_campaign'), 'no previous: a new campaign');
  });

  test('extends_ended_campaign fires for an ended campaign even at the same end date moved later by 1 ms', () => {
    const previous = campaign({ status: 'ended', ends_at_ms: now_ms + day_ms });
    const findings = rulesFired(safeSpec({ ends_at_ms: now_ms + day_ms + 1 }), { now_ms, previous });
    assert.ok(findings.includes('extends_ended_campaign'));
    assert.ok(
      !rulesFired(safeSpec({ ends_at_ms: now_ms + day_ms }), { now_ms, previous }).includes('extends_ended_campaign'),
    );
  });

  test('uncapped_percent_no_max_redemptions (info)', () => {
    const uncapped = { type: 'percent', percent_bp: 1500, max_discount_minor: null } as const;
    bothWays(
      'uncapped_percent_no_max_redemptions',
      safeSpec({ discount: uncapped, max_redemptions: null }),
      safeSpec({ discount: uncapped, max_redemptions: 100 }),
    );
    bothWays(
      'uncapped_percent_no_max_redemptions',
      safeSpec({ discount: uncapped, max_redemptions: null }),
      safeSpec({ discount: { ...uncapped, max_discount_minor: 3000 }, max_redemptions: null }),
    );
    const findings = lintCampaign(safeSpec({ discount: uncapped, max_redemptions: null }), ctx);
    assert.equal(hasWarnings(findings), false, 'info never holds a campaign');
    assert.equal(hasErrors(findings), false);
  });

  test('errors come before warnings', () => {
    const spec = safeSpec({ per_user_limit: null, budget_minor: 1, ends_at_ms: now_ms });
    const severities = lintCampaign(spec, ctx).map((f) => f.severity);
    assert.deepEqual(severities, ['error', 'error', 'error', 'warning']);
  });
});

describe('formatMoney', () => {
  test('uses the currency exponent', () => {
    assert.equal(formatMoney(10_000, 'CNY'), '100.00 CNY');
    assert.equal(formatMoney(5000, 'JPY'), '5000 JPY');
    assert.equal(formatMoney(1, 'KWD'), '0.001 KWD');
  });

  test('is exact to the minor unit up to 2^53 - 1, where dividing as a float is not', () => {
    assert.equal(formatMoney(Number.MAX_SAFE_INTEGER, 'CNY'), '90071992547409.91 CNY');
    assert.equal(formatMoney(Number.MAX_SAFE_INTEGER - 1, 'CNY'), '90071992547409.90 CNY');
    assert.equal(formatMoney(Number.MAX_SAFE_INTEGER, 'KWD'), '9007199254740.991 KWD');
    assert.equal(formatMoney(Number.MAX_SAFE_INTEGER, 'JPY'), '9007199254740991 JPY');
    assert.equal(formatMoney(5, 'CNY'), '0.05 CNY');
    // The budget one minor unit below the discount reads below it, not as the same amount.
    const huge = { type: 'fixed', amount_minor: Number.MAX_SAFE_INTEGER } as const;
    const found = lintCampaign(safeSpec({ discount: huge, budget_minor: Number.MAX_SAFE_INTEGER - 1 }), ctx);
    assert.equal(
      found.find((f) => f.rule === 'budget_below_one_discount')?.message,
      'The budget (90071992547409.90 CNY) is smaller than a single discount (90071992547409.91 CNY).',
    );
  });

  test("is ISO 4217's exponent, not ICU's: IDR and HUF have two decimals, IQD three", () => {
    assert.equal(formatMoney(100_000, 'IDR'), '1000.00 IDR');
    assert.equal(formatMoney(100_000, 'HUF'), '1000.00 HUF');
    assert.equal(formatMoney(100_000, 'IQD'), '100.000 IQD');
    assert.equal(formatMoney(100_000, 'ISK'), '100000 ISK');
  });
});
