import type { SoakClient } from './soak-client.ts';

/** Keys and campaigns the workload uses. */
export interface SoakSetup {
  admin: string;
  checkout: string;
  /** A shared code with a large budget, one that is paused and resumed, and one whose small budget runs out. */
  shared: string;
  toggled: { id: string; code: string };
  scarce: string;
  /** A claim-mode campaign: claim, then redeem the claimed code. */
  claims: string;
}

function campaignBody(name: string, over: Record<string, unknown>): Record<string, unknown> {
  const now = Date.now();
  return {
    name,
    currency: 'CNY',
    discount: { type: 'fixed', amount_minor: 100 },
    min_spend_minor: 1000,
    product_kinds: ['merchandise'],
    audience: { type: 'public' },
    starts_at: new Date(now - 60_000).toISOString(),
    ends_at: new Date(now + 30 * 86_400_000).toISOString(),
    budget_minor: 1_000_000_000,
    max_redemptions: null,
    per_user_limit: null,
    code_mode: 'shared_code',
    auto_pause: false,
    ...over,
  };
}

async function launch(c: SoakClient, admin: string, approver: string, body: Record<string, unknown>): Promise<string> {
  const created = await c.call('setup', admin, 'POST', '/v1/campaigns', body);
  if (created?.status !== 201) throw new Error(`create campaign: ${JSON.stringify(created?.body)}`);
  const id = String(created.body.id);
  const submitted = await c.call('setup', admin, 'POST', `/v1/campaigns/${id}/submit`, {});
  if (submitted?.body.status === 'active') return id;
  const approved = await c.call('setup', approver, 'POST', `/v1/campaigns/${id}/approve`, {});
  if (approved?.body.status !== 'active') throw new Error(`approve: ${JSON.stringify(approved?.body)}`);
  return id;
}

export async function setUp(c: SoakClient, admin: string): Promise<SoakSetup> {
  const key = async (name: string, scopes: string[]) => {
    const k = await c.call('setup', admin, 'POST', '/v1/api-keys', { name, scopes });
    if (k?.status !== 201) throw new Error(`api key: ${JSON.stringify(k?.body)}`);
    return String(k.body.key);
  };
  // Campaigns are made by a key the admin key mints and approved by another it mints: a key the
  // admin key mints may not approve the admin key's own campaigns (maker-checker follows key lineage).
  const maker = await key('soak-maker', ['admin']);
  const approver = await key('soak-approver', ['approver']);
  const checkout = await key('soak-checkout', ['checkout']);
  const tag = Date.now().toString(36).toUpperCase();
  const shared = `SOAKA${tag}`;
  const toggledCode = `SOAKC${tag}`;
  const scarce = `SOAKD${tag}`;
  await launch(c, maker, approver, campaignBody('soak shared', { code: shared }));
  const toggled = await launch(c, maker, approver, campaignBody('soak toggled', { code: toggledCode }));
  await launch(c, maker, approver, campaignBody('soak scarce', { code: scarce, budget_minor: 50_000 }));
  const claims = await launch(
    c,
    maker,
    approver,
    campaignBody('soak claims', {
      code_mode: 'claim',
      per_user_limit: 1,
      discount: { type: 'percent', percent_bp: 1000, max_discount_minor: 500 },
    }),
  );
  return { admin, checkout, shared, toggled: { id: toggled, code: toggledCode }, scarce, claims };
}

/** Redemptions a worker can still move: holds to confirm or release, confirmations to reverse. */
interface Pools {
  reserved: string[];
  confirmed: string[];
}

const pool_max = 5_000;

function keep(pool: string[], id: string): void {
  if (pool.length >= pool_max) pool.shift();
  pool.push(id);
}

function take(pool: string[], rnd: () => number): string | undefined {
  if (pool.length === 0) return undefined;
  const i = Math.floor(rnd() * pool.length);
  const [id] = pool.splice(i, 1);
  return id;
}

function order(tag: string, amount_minor = 5000) {
  return { id: tag, merchant_id: `m${tag.length % 7}`, amount_minor, currency: 'CNY', product_kind: 'merchandise' };
}

function ipOf(rnd: () => number): string {
  return `10.${Math.floor(rnd() * 256)}.${Math.floor(rnd() * 256)}.${1 + Math.floor(rnd() * 254)}`;
}

/** One worker: a weighted mix of every checkout operation until `running()` turns false. */
export async function worker(
  c: SoakClient,
  s: SoakSetup,
  w: number,
  rnd: () => number,
  running: () => boolean,
  envelope: () => string | null,
): Promise<void> {
  const pools: Pools = { reserved: [], confirmed: [] };
  const k = s.checkout;
  const redeemed = (r: { status: number; body: Record<string, unknown> } | null) => {
    if (r?.status !== 201) return;
    keep(r.body.status === 'confirmed' ? pools.confirmed : pools.reserved, String(r.body.id));
  };
  for (let i = 0; running(); i++) {
    const tag = `w${w}i${i}`;
    const p = rnd();
    const ip = ipOf(rnd);
    if (p < 0.22) {
      const code = rnd() < 0.8 ? s.shared : s.scarce;
      redeemed(
        await c.call('redeem', k, 'POST', '/v1/redemptions', {
          user_id: `u${tag}`,
          code,
          confirm: rnd() < 0.4,
          order: order(tag),
          ip,
        }),
      );
    } else if (p < 0.36) {
      const claimed = await c.call('claim', k, 'POST', '/v1/claims', { campaign_id: s.claims, user_id: `c${tag}` });
      if (claimed?.status === 201 && rnd() < 0.8) {
        const body = { user_id: `c${tag}`, code: String(claimed.body.code), order: order(tag, 8000), ip };
        redeemed(await c.call('redeem_claimed', k, 'POST', '/v1/redemptions', body));
      }
    } else if (p < 0.5) {
      const id = take(pools.reserved, rnd);
      if (id) {
        const r = await c.call('confirm', k, 'POST', `/v1/redemptions/${id}/confirm`, {});
        if (r?.status === 200) keep(pools.confirmed, id);
      }
    } else if (p < 0.57) {
      const id = take(pools.reserved, rnd);
      if (id) await c.call('release', k, 'POST', `/v1/redemptions/${id}/release`, {});
    } else if (p < 0.64) {
      const id = take(pools.confirmed, rnd);
      if (id) await c.call('reverse', k, 'POST', `/v1/redemptions/${id}/reverse`, { restore_coupon: rnd() < 0.5 });
    } else if (p < 0.8) {
      const code = rnd() < 0.95 ? s.shared : `NOPE${tag}`;
      await c.call('validate', k, 'POST', '/v1/validations', { user_id: `v${tag}`, code, order: order(tag), ip });
    } else if (p < 0.9) {
      const body = { user_id: `t${tag}`, code: s.toggled.code, confirm: true, order: order(tag), ip };
      redeemed(await c.call('redeem_toggled', k, 'POST', '/v1/redemptions', body));
    } else {
      await grab(c, k, envelope(), tag, ip, rnd, redeemed);
    }
  }
}

async function grab(
  c: SoakClient,
  k: string,
  envelope: string | null,
  tag: string,
  ip: string,
  rnd: () => number,
  redeemed: (r: { status: number; body: Record<string, unknown> } | null) => void,
): Promise<void> {
  if (envelope === null) return;
  const g = await c.call('grab', k, 'POST', `/v1/red-envelopes/${envelope}/grab`, { user_id: `g${tag}` });
  const coupon = g?.status === 201 ? (g.body.coupon as { code?: string } | undefined) : undefined;
  if (!coupon?.code || rnd() < 0.3) return;
  const body = { user_id: `g${tag}`, code: coupon.code, confirm: rnd() < 0.5, order: order(tag, 20_000), ip };
  redeemed(await c.call('redeem_grabbed', k, 'POST', '/v1/redemptions', body));
}
