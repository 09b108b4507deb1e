import type { Campaign, CampaignSpec } from './campaign.ts';
import { largestDiscountMinor } from './discount/discount.ts';

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

/** Campaign lint: pure rules, each with an id, a severity and a message a marketer understands. */
export function lintCampaign(spec: CampaignSpec, ctx: LintContext): LintFinding[] {
  const findings: LintFinding[] = [];
  if (spec.ends_at_ms <= spec.starts_at_ms) {
    findings.push({ rule: 'window_inverted', severity: 'error', message: 'The campaign ends before it starts.' });
  }
  if (spec.ends_at_ms <= ctx.now_ms) {
    findings.push({ rule: 'window_already_ended', severity: 'error', message: 'The campaign window has already ended.' });
  }
  const largest_minor = largestDiscountMinor(spec.discount);
  if (largest_minor !== null && spec.budget_minor < largest_minor) {
    findings.push({
      rule: 'budget_below_one_discount',
      severity: 'error',
      message: 'The budget is smaller than a single discount.',
    });
  }
  return findings;
}

export function hasErrors(findings: readonly LintFinding[]): boolean {
  return findings.some((f) => f.severity === 'error');
}

export function hasWarnings(findings: readonly LintFinding[]): boolean {
  return findings.some((f) => f.severity === 'warning');
}
