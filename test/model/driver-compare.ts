import assert from 'node:assert/strict';
import type { Answer } from '../http/harness.ts';
import type { Expect } from './reference-types.ts';

export type Json = Record<string, unknown>;

/** A model coupon's server id and code; `code_only`: a unique (bearer) code, which only its code may name. */
export interface BoundCoupon {
  id: string;
  code: string;
  code_only: boolean;
}

/** What the comparison needs of a sequence: id bindings, first answers, and the trace for messages. */
export interface Bindings {
  coupons: Map<string, BoundCoupon>;
  redemptions: Map<string, string>;
  incidentIds: Map<string, string>;
  /** What the server answered first under each recorded (API key, Idempotency-Key). */
  first: Map<string, Answer<Json>>;
  trace: string[];
}

/** How often each kind of answer came up (printed by the tests, to show what the sequences reach). */
export const answerStats = new Map<string, number>();

export function tally(e: Expect, url: string): void {
  const route = url.split('/')[2] ?? '';
  let detail: string = e.kind;
  if (e.kind === 'error') detail = e.code;
  else if (e.kind === 'validation') detail = e.reason ?? 'valid';
  else if (e.kind === 'redemption') detail = e.redemption.status;
  const what = `${route}:${detail}`;
  answerStats.set(what, (answerStats.get(what) ?? 0) + 1);
}

function fail(b: Bindings, what: string, expect: Expect, res: Answer<Json>): never {
  const tail = b.trace.slice(-12).join('\n  ');
  assert.fail(
    `${what}\n expected ${JSON.stringify(expect)}\n got ${res.status} ${JSON.stringify(res.body)}\n trace:\n  ${tail}`,
  );
}

/** Binds a model ref to the server id it got, or checks it is the one bound before. */
function bind(map: Map<string, string>, ref: string, id: unknown): boolean {
  const bound = map.get(ref);
  if (bound === undefined) map.set(ref, String(id));
  return bound === undefined || bound === id;
}

/** Compares one answer with the model's expectation; binds new ids. */
export function compare(b: Bindings, e: Expect, res: Answer<Json>): void {
  const check = (ok: boolean, what: string) => {
    if (!ok) fail(b, what, e, res);
  };
  const body = res.body;
  switch (e.kind) {
    case 'error': {
      const code = (body.error as { code?: string } | undefined)?.code;
      check(res.status === e.status && code === e.code, 'error answer');
      if (e.status === 429 || e.status === 503) check(res.headers['retry-after'] !== undefined, 'Retry-After');
      return;
    }
    case 'replay': {
      const first = b.first.get(e.key);
      check(first !== undefined, 'a first answer was kept');
      check(
        res.status === first?.status && JSON.stringify(body) === JSON.stringify(first?.body),
        'replay of the first answer',
      );
      return;
    }
    case 'coupon': {
      check(res.status === 201 && body.status === 'active' && body.user_id === e.coupon.user_id, 'claim');
      check(Date.parse(String(body.expires_at)) === e.coupon.expires_at_ms, 'coupon expires_at');
      check(![...b.coupons.values()].some((c) => c.id === body.id), 'a new coupon id');
      b.coupons.set(e.coupon.ref, { id: String(body.id), code: String(body.code), code_only: false });
      return;
    }
    case 'redemption': {
      const r = e.redemption;
      const hold = body.hold_expires_at === null ? null : Date.parse(String(body.hold_expires_at));
      check(
        res.status === e.status && body.status === r.status && body.discount_minor === r.discount_minor,
        'redemption',
      );
      check(hold === r.hold_expires_at_ms, 'hold_expires_at');
      check(b.coupons.get(r.coupon)?.id === body.coupon_id, 'redemption coupon');
      check(bind(b.redemptions, r.ref, body.id), 'redemption id');
      return;
    }
    case 'validation': {
      const reason = (body.reason as { code?: string } | null)?.code ?? null;
      check(
        res.status === 200 && body.valid === e.valid && body.discount_minor === e.discount_minor && reason === e.reason,
        'validation',
      );
      return;
    }
    case 'campaign': {
      const budget = body.budget as Record<string, number>;
      const counts = body.counts as Record<string, number>;
      check(res.status === 200 && body.status === e.status && body.budget_minor === e.budget_minor, 'campaign status');
      check(budget.reserved_minor === e.reserved_minor && budget.spent_minor === e.spent_minor, 'campaign budget');
      check(budget.available_minor === (body.budget_minor as number) - e.reserved_minor - e.spent_minor, 'available');
      check(counts.claimed === e.claimed && counts.redeemed === e.redeemed, 'campaign counts');
      return;
    }
    case 'incident': {
      const report = body.report as Record<string, number> | null;
      check(res.status === 201 && body.status === 'open', 'incident opened');
      check(report?.frozen_count === e.frozen_count && report.frozen_minor === e.frozen_minor, 'incident frozen');
      const released = [report?.released_holds_count, report?.released_holds_minor];
      check(released[0] === e.released_holds_count && released[1] === e.released_holds_minor, 'incident released');
      check(report?.revoked_coupons === e.revoked_coupons && report.paused_campaigns === e.paused, 'incident report');
      check(bind(b.incidentIds, e.ref, body.id), 'incident id');
      return;
    }
    case 'grab': {
      const coupon = (body.coupon ?? {}) as Json;
      const amount = body.amount_minor as number;
      check(res.status === 201 && amount >= e.amount_min && amount <= e.amount_max, 'grab amount within a fair split');
      check(
        coupon.user_id === e.coupon.user_id && coupon.status === 'active' && coupon.value_minor === amount,
        'grabbed coupon',
      );
      check(Date.parse(String(coupon.expires_at)) === e.coupon.expires_at_ms, 'grabbed coupon expires_at');
      check(![...b.coupons.values()].some((c) => c.id === coupon.id), 'a new coupon id');
      b.coupons.set(e.coupon.ref, { id: String(coupon.id), code: String(coupon.code), code_only: false });
      return;
    }
    case 'resolved': {
      const resolved = body.resolved as Record<string, number> | null;
      check(res.status === 200 && body.status === 'resolved', 'incident resolved');
      check(resolved?.count === e.count && resolved.discount_minor === e.discount_minor, 'incident resolution');
      return;
    }
  }
}
