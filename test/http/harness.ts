import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { ManualClock } from '../../src/engine/clock.ts';
import { Engine, type EngineOptions } from '../../src/engine/engine.ts';
import { verifyStore } from '../../src/engine/verify.ts';
import { createApiKey, type Scope } from '../../src/http/api-keys.ts';
import { type AppOptions, buildApp } from '../../src/http/app.ts';
import type { CampaignWire, CouponWire } from '../../src/http/views.ts';
import type { Store } from '../../src/store/port.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';

export const t0 = Date.parse('2026-01-01T00:00:00Z');
export const day_ms = 24 * 60 * 60_000;

export function iso(ms: number): string {
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}

export interface TestKey {
  id: string;
  secret: string;
}

export type KeyName = 'admin' | 'admin2' | 'approver' | 'checkout' | 'read';

export interface Answer<T = unknown> {
  status: number;
  /** The parsed JSON (typed as the caller expects it; errors are checked with assertError). */
  body: T;
  headers: Record<string, string | string[] | number | undefined>;
}

export type ErrorWire = { error: { code: string; message: string; param?: string } };
export type ListWire<T> = { data: T[]; has_more: boolean };

export interface CallOptions {
  key?: KeyName | null;
  body?: unknown;
  /** Raw payload (string), sent as is with Content-Type: application/json unless headers say otherwise. */
  raw?: string;
  headers?: Record<string, string>;
  idem?: string;
}

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';

export interface HttpHarness {
  store: Store;
  engine: Engine;
  clock: ManualClock;
  app: FastifyInstance;
  keys: Record<KeyName, TestKey>;
  call<T = unknown>(method: Method, url: string, opts?: CallOptions): Promise<Answer<T>>;
}

export const scopesOf: Record<KeyName, Scope[]> = {
  admin: ['admin'],
  admin2: ['admin'],
  approver: ['approver'],
  checkout: ['checkout'],
  read: ['read'],
};

export async function httpHarness(
  engineOpts: EngineOptions = {},
  appOpts: Partial<AppOptions> = {},
  store: Store = new SqliteStore({ path: ':memory:' }),
): Promise<HttpHarness> {
  const clock = new ManualClock(t0 + 60_000);
  const engine = await Engine.open(store, { clock, ...engineOpts });
  const app = buildApp({ engine, ...appOpts });
  const keys = {} as Record<KeyName, TestKey>;
  for (const name of Object.keys(scopesOf) as KeyName[]) {
    const { record, secret } = await createApiKey(store, engine.ids, clock.now(), {
      name,
      scopes: scopesOf[name],
      actor: null,
    });
    keys[name] = { id: record.id, secret };
  }
  const call = async <T = unknown>(method: Method, url: string, opts: CallOptions = {}): Promise<Answer<T>> => {
    const keyName = opts.key === undefined ? 'admin' : opts.key;
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (keyName !== null) headers.authorization = `Bearer ${keys[keyName].secret}`;
    if (opts.idem !== undefined) headers['idempotency-key'] = opts.idem;
    let payload: string | undefined;
    if (opts.raw !== undefined) payload = opts.raw;
    else if (opts.body !== undefined) payload = JSON.stringify(opts.body);
    if (payload !== undefined) headers['content-type'] ??= 'application/json';
    const res = await app.inject({ method, url, headers, ...(payload !== undefined ? { payload } : {}) });
    const type = String(res.headers['content-type'] ?? '');
    const body = (type.includes('json') ? res.json() : res.body) as T;
    return { status: res.statusCode, body, headers: res.headers };
  };
  return { store, engine, clock, app, keys, call };
}

/** A campaign body that lints clean: modest fixed discount, real minimum spend, capped, one per user. */
export function campaignBody(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'spring',
    currency: 'CNY',
    discount: { type: 'fixed', amount_minor: 1000 },
    min_spend_minor: 5000,
    product_kinds: ['merchandise'],
    merchant_ids: null,
    audience: { type: 'public' },
    starts_at: iso(t0),
    ends_at: iso(t0 + 30 * day_ms),
    coupon_ttl_s: 7 * 24 * 3600,
    budget_minor: 100_000,
    max_redemptions: 100,
    per_user_limit: 1,
    per_merchant_limit: null,
    code_mode: 'claim',
    auto_pause: true,
    velocity: null,
    ...over,
  };
}

let orders_made = 0;

/** An order body; each call without an id is a new order (a campaign discounts an order once). */
export function orderBody(over: Record<string, unknown> = {}): Record<string, unknown> {
  orders_made += 1;
  const id = `o${orders_made}`;
  return { id, merchant_id: 'm1', amount_minor: 10_000, currency: 'CNY', product_kind: 'merchandise', ...over };
}

/** Creates (admin), submits (admin) and if needed approves (approver) a campaign; returns its view. */
export async function activeCampaign(h: HttpHarness, over: Record<string, unknown> = {}): Promise<CampaignWire> {
  const created = await h.call<CampaignWire>('POST', '/v1/campaigns', { body: campaignBody(over) });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const submitted = await h.call<CampaignWire>('POST', `/v1/campaigns/${created.body.id}/submit`);
  assert.equal(submitted.status, 200, JSON.stringify(submitted.body));
  if (submitted.body.status === 'active') return submitted.body;
  const approved = await h.call<CampaignWire>('POST', `/v1/campaigns/${created.body.id}/approve`, { key: 'approver' });
  assert.equal(approved.status, 200, JSON.stringify(approved.body));
  return approved.body;
}

/** Claims a coupon for a user; returns its wire view. */
export async function claim(h: HttpHarness, campaign_id: string, user_id: string): Promise<CouponWire> {
  const res = await h.call<CouponWire>('POST', '/v1/claims', { key: 'checkout', body: { campaign_id, user_id } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

/** Asserts an error answer: status, code, and the API.md error shape (no stack). */
export function assertError(res: Answer<unknown>, status: number, code: string, param?: string): void {
  const text = JSON.stringify(res.body);
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status} ${text}`);
  const body = res.body as ErrorWire;
  assert.deepEqual(Object.keys(body), ['error'], text);
  assert.equal(body.error.code, code, text);
  assert.equal(typeof body.error.message, 'string');
  for (const k of Object.keys(body.error)) assert.ok(['code', 'message', 'param'].includes(k), `unexpected ${k}`);
  assert.ok(!text.includes('    at ') && !text.includes('.ts:'), 'no stack trace in a body');
  if (param !== undefined) assert.equal(body.error.param, param, text);
}

/** Every DESIGN.md invariant holds for everything in the store. */
export async function assertInvariants(store: Store): Promise<void> {
  const report = await verifyStore(store);
  assert.deepEqual(report.violations, [], 'invariant violations');
  assert.equal(report.ok, true);
}
