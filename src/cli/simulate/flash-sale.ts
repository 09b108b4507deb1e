import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CampaignSpec } from '../../domain/campaign.ts';
import { Rejection } from '../../domain/errors.ts';
import type { Alert } from '../../domain/incident.ts';
import { ManualClock } from '../../engine/clock.ts';
import { Detection } from '../../engine/detection/detection.ts';
import { Engine } from '../../engine/engine.ts';
import { verifyStore } from '../../engine/verify.ts';
import type { Store } from '../../store/port.ts';
import { SqliteStore } from '../../store/sqlite/sqlite-store.ts';
import { prng, share } from './prng.ts';

/** The sale opens at midnight on day 10 of an 11-day campaign (a Singles' Day shape). */
const sale_at_ms = Date.parse('2026-11-11T00:00:00Z');
const day_ms = 86_400_000;
const discount_cap_minor = 3000;
const steps_per_second = 10;

export interface FlashSaleOptions {
  /** Ordinary traffic before the sale (the detector needs 60 s to warm up). */
  quiet_s: number;
  quiet_per_s: number;
  /** Peak rate as a multiple of the quiet rate. */
  peak_multiplier: number;
  /** Seconds from the quiet rate to the peak: a flash sale ramps in seconds, not minutes. */
  ramp_s: number;
  /** Seconds at the peak. */
  peak_s: number;
  merchants: number;
  seed: number;
  onProgress?: (done_s: number, total_s: number) => void;
}

export const flashSaleDefaults: Omit<FlashSaleOptions, 'onProgress'> = {
  quiet_s: 180,
  quiet_per_s: 10,
  peak_multiplier: 30,
  ramp_s: 10,
  peak_s: 180,
  merchants: 300,
  seed: 20_261_111,
};

export interface FlashSaleResult {
  sent: number;
  accepted: number;
  refused: Record<string, number>;
  peak_per_s: number;
  alerts: Array<
    Pick<Alert, 'kind' | 'merchant_id' | 'subject' | 'action' | 'observed' | 'baseline'> & { at_s: number }
  >;
  paused: boolean;
  /** Seconds after the sale opened when the detector paused it, or null. */
  paused_at_s: number | null;
  budget_minor: number;
  spent_minor: number;
  /** Sum of the discounts the engine answered for accepted redemptions: must equal spent_minor. */
  discounts_minor: number;
  /** Redemptions sent and accepted per simulated second, for the report's chart. */
  sent_per_s: number[];
  accepted_per_s: number[];
  invariants_ok: boolean;
}

/** Requests per second at second `s` of the run (quiet, a steep ramp, the peak, then back to quiet). */
function plannedRate(o: FlashSaleOptions, s: number): number {
  const peak = o.quiet_per_s * o.peak_multiplier;
  const t = s - o.quiet_s;
  if (t < 0) return o.quiet_per_s;
  if (t < o.ramp_s) return o.quiet_per_s + ((peak - o.quiet_per_s) * (t + 1)) / o.ramp_s;
  if (t < o.ramp_s + o.peak_s) return peak;
  return o.quiet_per_s;
}

function totalSeconds(o: FlashSaleOptions): number {
  return o.quiet_s + o.ramp_s + o.peak_s + 30;
}

/** A popular public shared code: 10% off merchandise, capped at 30 yuan, one per user, at every merchant. */
function saleSpec(o: FlashSaleOptions): CampaignSpec {
  let planned = 0;
  for (let s = 0; s < totalSeconds(o); s++) planned += plannedRate(o, s) * 1.2;
  return {
    name: 'Singles Day flash sale',
    currency: 'CNY',
    discount: { type: 'percent', percent_bp: 1000, max_discount_minor: discount_cap_minor },
    min_spend_minor: 10_000,
    product_kinds: ['merchandise'],
    merchant_ids: null,
    audience: { type: 'public' },
    // Budget burn is judged against an even spend over this window. A campaign made for the sale
    // alone (window = the sale day) that spends over half its budget in the first tenth of it is
    // paused by budget_burn: give a sale campaign its whole season, or a budget with headroom.
    starts_at_ms: sale_at_ms - 10 * day_ms,
    ends_at_ms: sale_at_ms + day_ms,
    coupon_ttl_s: null,
    // Sized from the forecast with room to spare: this scenario is about detection, not the budget.
    budget_minor: Math.ceil(planned) * discount_cap_minor * 2,
    max_redemptions: null,
    per_user_limit: 1,
    per_merchant_limit: null,
    code_mode: 'shared_code',
    code: 'DOUBLE11',
    auto_pause: true,
    velocity: { per_user_per_minute: 5, per_device_per_minute: 5, per_ip_per_minute: 60 },
  };
}

async function alertsOf(store: Store, campaign_id: string, sale_ms: number): Promise<FlashSaleResult['alerts']> {
  const out: FlashSaleResult['alerts'] = [];
  let starting_after: string | undefined;
  for (;;) {
    const page = await store.listAlerts({ campaign_id, limit: 100, ...(starting_after ? { starting_after } : {}) });
    for (const a of page.data) {
      const { kind, merchant_id, subject, action, observed, baseline } = a;
      out.push({ kind, merchant_id, subject, action, observed, baseline, at_s: (a.created_at_ms - sale_ms) / 1000 });
    }
    if (!page.has_more || page.data.length === 0) return out.reverse();
    starting_after = page.data[page.data.length - 1]?.id;
  }
}

/** Shoppers: each a new user and device, on one of many IPs, at merchants of uneven size (weight 1/sqrt(rank)). */
class Shoppers {
  readonly rand: () => number;
  private readonly cumulative: number[] = [];
  private seq = 0;

  constructor(merchants: number, seed: number) {
    this.rand = prng(seed);
    let sum = 0;
    for (let i = 0; i < merchants; i++) {
      sum += 1 / Math.sqrt(i + 1);
      this.cumulative.push(sum);
    }
  }

  next() {
    const n = this.seq++;
    const u = this.rand() * (this.cumulative[this.cumulative.length - 1] ?? 1);
    const ip = `10.${Math.floor(this.rand() * 200)}.${Math.floor(this.rand() * 250)}.${1 + Math.floor(this.rand() * 250)}`;
    return {
      user_id: `shopper${n}`,
      device_id: `dev${n}`,
      ip,
      order: {
        id: `fs${n}`,
        merchant_id: `store${this.cumulative.findIndex((c) => c >= u)}`,
        amount_minor: 10_000 + Math.floor(this.rand() * 600) * 100,
        currency: 'CNY',
        product_kind: 'merchandise',
      },
    };
  }
}

/** Quiet traffic, then a flash sale at many times the rate, with detection running as in `serve`. */
export async function runFlashSale(o: FlashSaleOptions): Promise<FlashSaleResult> {
  const dir = mkdtempSync(join(tmpdir(), 'vs-sim-'));
  const store = new SqliteStore({ path: join(dir, 'sim.db'), synchronous: 'OFF' });
  const total_s = totalSeconds(o);
  const clock = new ManualClock(sale_at_ms - (o.quiet_s + 60) * 1000);
  const engine = await Engine.open(store, { clock, approval_threshold_minor: 1_000_000, wantsEvent: () => false });
  const detection = new Detection(engine, { timer: false }).start();
  try {
    const c = await engine.createCampaign(saleSpec(o), { actor: 'key_marketing' });
    const submitted = await engine.campaignAction(c.id, 'submit', { actor: 'key_marketing' });
    if (submitted.status === 'pending_approval') await engine.campaignAction(c.id, 'approve', { actor: 'key_manager' });
    const shoppers = new Shoppers(o.merchants, o.seed);
    const refused: Record<string, number> = {};
    const sent_per_s: number[] = [];
    const accepted_per_s: number[] = [];
    let sent = 0;
    let accepted = 0;
    let discounts_minor = 0;
    let peak_per_s = 0;
    let paused_at_s: number | null = null;
    const redeem = async (): Promise<boolean> => {
      try {
        const r = await engine.redeem(
          { ...shoppers.next(), code: 'DOUBLE11', confirm: true },
          { actor: 'key_checkout' },
        );
        discounts_minor += r.discount_minor;
        return true;
      } catch (e) {
        if (!(e instanceof Rejection)) throw e;
        refused[e.code] = (refused[e.code] ?? 0) + 1;
        return false;
      }
    };
    for (let s = 0; s < total_s; s++) {
      const start_ms = sale_at_ms + (s - o.quiet_s) * 1000;
      const n = Math.round(plannedRate(o, s) * (0.8 + 0.4 * shoppers.rand()));
      peak_per_s = Math.max(peak_per_s, n);
      let ok = 0;
      for (let step = 0; step < steps_per_second; step++) {
        clock.set(start_ms + Math.floor((step * 1000) / steps_per_second));
        const k = share(n, step, steps_per_second);
        const results = await Promise.all(Array.from({ length: k }, redeem));
        ok += results.filter(Boolean).length;
      }
      sent += n;
      accepted += ok;
      sent_per_s.push(n);
      accepted_per_s.push(ok);
      clock.set(start_ms + 999);
      await detection.tickNow();
      await detection.settled();
      if (paused_at_s === null && (await engine.getCampaign(c.id)).status === 'paused') {
        paused_at_s = s + 1 - o.quiet_s;
      }
      o.onProgress?.(s + 1, total_s);
    }
    const final = await engine.getCampaign(c.id);
    const report = await verifyStore(store);
    return {
      sent,
      accepted,
      refused,
      peak_per_s,
      alerts: await alertsOf(store, c.id, sale_at_ms),
      paused: paused_at_s !== null,
      paused_at_s,
      budget_minor: final.budget_minor,
      spent_minor: final.spent_minor,
      discounts_minor,
      sent_per_s,
      accepted_per_s,
      invariants_ok: report.ok,
    };
  } finally {
    await detection.close();
    await engine.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
