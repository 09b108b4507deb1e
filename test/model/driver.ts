import assert from 'node:assert/strict';
import type { Answer, HttpHarness, KeyName } from '../http/harness.ts';
import { iso } from '../http/harness.ts';
import { type Bindings, compare, type Json, tally } from './driver-compare.ts';
import { ipOf, type Request, type RequestContext, requestOf } from './driver-requests.ts';
import { RefModel } from './reference.ts';
import { RefEnvelope } from './reference-envelope.ts';
import { RefIncidents } from './reference-incidents.ts';
import type { Expect, RefSpec } from './reference-types.ts';
import type { CampaignConfig, Step } from './steps.ts';

export { answerStats } from './driver-compare.ts';

interface Sent {
  key: KeyName;
  url: string;
  body: Json;
  idem: string | null;
  /** Asks the model again (a retry re-sends the same request and expects what the model says now). */
  expect: () => Expect;
}

/** One sequence: the server side (harness, campaign, id bindings) beside its reference model. */
export interface Sequence extends RequestContext, Bindings {
  h: HttpHarness;
  sent: Sent[];
}

const hold_ms_default = 15 * 60_000;

function specOf(cfg: CampaignConfig, run: number, now_ms: number): RefSpec {
  const starts_at_ms = Math.floor((now_ms + cfg.start_offset_ms) / 1000) * 1000;
  return {
    currency: 'CNY',
    discount: cfg.discount,
    min_spend_minor: cfg.min_spend_minor,
    product_kinds: cfg.product_kinds,
    merchant_ids: cfg.merchant_ids,
    allowlist: cfg.allowlist === null ? null : cfg.allowlist.map((n) => `s${run}u${n}`),
    starts_at_ms,
    ends_at_ms: starts_at_ms + cfg.duration_ms,
    coupon_ttl_s: cfg.coupon_ttl_s,
    budget_minor: cfg.budget_minor,
    max_redemptions: cfg.max_redemptions,
    per_user_limit: cfg.per_user_limit,
    per_merchant_limit: cfg.per_merchant_limit,
    code_mode: cfg.mode,
    per_user_per_minute: cfg.per_user_per_minute,
    hold_ms: hold_ms_default,
  };
}

function campaignBody(spec: RefSpec, run: number): Json {
  return {
    name: `model ${run}`,
    currency: spec.currency,
    discount: spec.discount,
    min_spend_minor: spec.min_spend_minor,
    product_kinds: spec.product_kinds,
    merchant_ids: spec.merchant_ids,
    audience: spec.allowlist === null ? { type: 'public' } : { type: 'allowlist', user_ids: spec.allowlist },
    starts_at: iso(spec.starts_at_ms),
    ends_at: iso(spec.ends_at_ms),
    coupon_ttl_s: spec.coupon_ttl_s,
    budget_minor: spec.budget_minor,
    max_redemptions: spec.max_redemptions,
    per_user_limit: spec.per_user_limit,
    per_merchant_limit: spec.per_merchant_limit,
    code_mode: spec.code_mode,
    ...(spec.code_mode === 'shared_code' ? { code: `SHARE${run}` } : {}),
    auto_pause: false,
    velocity: spec.per_user_per_minute === null ? null : { per_user_per_minute: spec.per_user_per_minute },
  };
}

async function must(h: HttpHarness, key: KeyName, url: string, body: Json, status: number): Promise<Json> {
  const res = await h.call<Json>('POST', url, { key, body });
  assert.equal(res.status, status, `${url}: ${JSON.stringify(res.body)}`);
  return res.body;
}

/** Creates a red envelope; the model's spec is its backing campaign as the API shows it. */
async function startEnvelope(h: HttpHarness, cfg: CampaignConfig, run: number): Promise<Sequence> {
  const now_ms = h.clock.now();
  const { count, min_amount_minor, coupon_ttl_s } = cfg.envelope;
  const total_minor = Math.max(cfg.budget_minor, count * min_amount_minor);
  const expires_at_ms = Math.floor((now_ms + cfg.duration_ms) / 1000) * 1000;
  const coupon = { min_spend_minor: cfg.min_spend_minor, product_kinds: cfg.product_kinds, coupon_ttl_s };
  const body = { currency: 'CNY', total_minor, count, min_amount_minor, expires_at: iso(expires_at_ms), coupon };
  const env = await must(h, 'admin', '/v1/red-envelopes', body, 201);
  // A risky envelope (lint warning, total above the threshold) waits for a second key, as a campaign does.
  if (env.campaign_status !== 'active') {
    await must(h, 'approver', `/v1/campaigns/${String(env.campaign_id)}/approve`, {}, 200);
  }
  const c = (await h.call<Json>('GET', `/v1/campaigns/${String(env.campaign_id)}`, { key: 'read' })).body;
  const spec: RefSpec = {
    ...specOf(cfg, run, now_ms),
    discount: c.discount as RefSpec['discount'],
    merchant_ids: null,
    allowlist: null,
    starts_at_ms: Date.parse(String(c.starts_at)),
    ends_at_ms: Date.parse(String(c.ends_at)),
    coupon_ttl_s,
    budget_minor: total_minor,
    max_redemptions: count,
    per_user_limit: 1,
    per_merchant_limit: null,
    per_user_per_minute: null,
  };
  const s = sequenceOf(h, run, String(env.campaign_id), new RefModel(spec, now_ms, ipOf(run)));
  s.envelope = {
    id: String(env.id),
    model: new RefEnvelope(s.model, { total_minor, count, min_amount_minor, expires_at_ms, coupon_ttl_s }),
  };
  return s;
}

function sequenceOf(h: HttpHarness, run: number, campaign_id: string, model: RefModel): Sequence {
  return {
    h,
    run,
    campaign_id,
    model,
    incidents: new RefIncidents(model),
    envelope: null,
    coupons: new Map(),
    redemptions: new Map(),
    incidentIds: new Map(),
    first: new Map(),
    sent: [],
    trace: [],
  };
}

/** Creates and launches the sequence's campaign, and the model beside it. */
export async function startSequence(h: HttpHarness, cfg: CampaignConfig, run: number): Promise<Sequence> {
  if (cfg.mode === 'red_envelope') return startEnvelope(h, cfg, run);
  const spec = specOf(cfg, run, h.clock.now());
  const created = await must(h, 'admin', '/v1/campaigns', campaignBody(spec, run), 201);
  const id = String(created.id);
  const submitted = await must(h, 'admin', `/v1/campaigns/${id}/submit`, {}, 200);
  if (submitted.status !== 'active') await must(h, 'approver', `/v1/campaigns/${id}/approve`, {}, 200);
  const model = new RefModel(spec, h.clock.now(), ipOf(run));
  const s = sequenceOf(h, run, id, model);
  const codes: string[] = [];
  if (spec.code_mode === 'shared_code') codes.push(`SHARE${run}`);
  if (spec.code_mode === 'unique_codes') {
    const made = await must(h, 'admin', `/v1/campaigns/${id}/codes`, { count: cfg.unique_codes }, 201);
    codes.push(...(made.codes as string[]));
  }
  const unique = spec.code_mode === 'unique_codes';
  for (const code of codes) {
    const coupon = await h.store.findCouponByCode(code);
    assert.ok(coupon, `coupon for ${code}`);
    const ref = model.addCoupon(null, unique, spec.ends_at_ms);
    s.coupons.set(ref.ref, { id: coupon.id, code, code_only: unique });
  }
  return s;
}

/** Runs one step on both sides and compares the answers. */
export async function runStep(s: Sequence, step: Step): Promise<void> {
  if (step.t === 'advance') {
    s.h.clock.advance(step.ms);
    s.model.now_ms += step.ms;
    s.trace.push(`advance ${step.ms}`);
    return;
  }
  if (step.t === 'sweep') {
    await s.h.engine.releaseExpiredHolds();
    await s.h.engine.envelopes.expireEnvelopes();
    s.model.advance(0);
    s.envelope?.model.sweep();
    s.trace.push('sweep');
    return;
  }
  if (step.t === 'retry') {
    const withKey = s.sent.filter((x) => x.idem !== null);
    const again = withKey[withKey.length - 1 - (step.back % Math.max(1, withKey.length))];
    if (again) await send(s, again);
    return;
  }
  const req: Request | null = requestOf(s, step);
  if (!req) return;
  const idem = 'idem' in step && step.idem !== null ? `s${s.run}k${step.idem}` : null;
  const fingerprint = `POST ${req.url} ${JSON.stringify(req.body)}`;
  // Keys are namespaced per API key (as Stripe's per account): two keys never collide.
  const scoped = `${req.key}:${idem}`;
  const sent: Sent = { ...req, idem, expect: () => req.ask(idem === null ? null : { key: scoped, fingerprint }) };
  s.sent.push(sent);
  await send(s, sent);
}

async function send(s: Sequence, req: Sent): Promise<void> {
  const scoped = `${req.key}:${req.idem}`;
  const recordedBefore = req.idem !== null && s.model.recorded(scoped);
  const expect = req.expect();
  const res = await s.h.call<Json>('POST', req.url, {
    key: req.key,
    body: req.body,
    ...(req.idem !== null ? { idem: req.idem } : {}),
  });
  s.trace.push(`${req.url} ${JSON.stringify(req.body)} idem=${req.idem} -> ${res.status} ${JSON.stringify(res.body)}`);
  compare(s, expect, res);
  tally(expect, req.url);
  if (expect.kind === 'grab') s.envelope?.model.grabbed(expect.coupon.ref, res.body.amount_minor as number);
  if (req.idem !== null && !recordedBefore && s.model.recorded(scoped)) s.first.set(scoped, res);
}

/** The final state on both sides: the campaign, every redemption, every coupon. */
export async function finishSequence(s: Sequence): Promise<void> {
  const res: Answer<Json> = await s.h.call<Json>('GET', `/v1/campaigns/${s.campaign_id}`, { key: 'read' });
  compare(s, s.model.view(), res);
  for (const [ref, id] of s.redemptions) {
    const r = await s.h.call<Json>('GET', `/v1/redemptions/${id}`, { key: 'read' });
    const want = s.model.redemptions.get(ref);
    assert.equal(r.body.status, want?.status, `redemption ${ref} status\n  ${s.trace.join('\n  ')}`);
    assert.equal(r.body.discount_minor, want?.discount_minor, `redemption ${ref} discount`);
  }
  if (s.envelope) {
    const env = await s.h.call<Json>('GET', `/v1/red-envelopes/${s.envelope.id}`, { key: 'read' });
    const want = s.envelope.model.view();
    const got = Object.fromEntries(Object.keys(want).map((k) => [k, env.body[k]]));
    assert.deepEqual(got, want, `red envelope\n  ${s.trace.join('\n  ')}`);
  }
  for (const [ref, { id }] of s.coupons) {
    const c = await s.h.store.getCoupon(id);
    assert.equal(c?.status, s.model.coupons.get(ref)?.status, `coupon ${ref} status\n  ${s.trace.join('\n  ')}`);
  }
}
