import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { prng } from '../../cli/simulate/prng.ts';
import { InvariantViolation } from '../errors.ts';
import type { BudgetSnapshot } from './burn.ts';
import { type DetectorConfig, defaultDetectorConfig } from './config.ts';
import { type Alarm, CampaignDetector, type RedemptionObservation } from './detector.ts';

const seed = Number(process.env.DETECT_SEED ?? 20_190_120);
console.log(`detector simulation seed: ${seed}`);

const t0_ms = Date.UTC(2019, 0, 20);
const day_ms = 24 * 3600 * 1000;
const merchant_count = 50;
const quiet_s = 600;

/** Simulated traffic: merchants of uneven size (weight 1/sqrt(rank)), fresh devices, a large pool of IPs. */
class Traffic {
  readonly rand: () => number;
  readonly alarms: Alarm[] = [];
  private readonly cumulative: number[] = [];
  private device_seq = 0;
  spent_minor = 0;

  constructor(
    readonly detector: CampaignDetector,
    rng_seed: number,
    readonly budget_minor = 1e12,
  ) {
    this.rand = prng(rng_seed);
    let sum = 0;
    for (let i = 0; i < merchant_count; i++) {
      sum += 1 / Math.sqrt(i + 1);
      this.cumulative.push(sum);
    }
  }

  pickMerchant(): string {
    const total = this.cumulative[this.cumulative.length - 1] ?? 1;
    const u = this.rand() * total;
    const index = this.cumulative.findIndex((c) => c >= u);
    return `m${index}`;
  }

  normal(now_ms: number, cash_equivalent = this.rand() < 0.03): RedemptionObservation {
    const ip = `10.0.${Math.floor(this.rand() * 40)}.${Math.floor(this.rand() * 250)}`;
    const kind = cash_equivalent ? 'phone_top_up' : 'merchandise';
    const device_id = `d${this.device_seq++}`;
    return {
      now_ms,
      merchant_id: this.pickMerchant(),
      device_id,
      ip,
      discount_minor: 1000,
      product_kind: kind,
      cash_equivalent,
    };
  }

  /** Feeds events spread evenly over second s; returns the alarms of that second. */
  second(s: number, events: ((now_ms: number) => RedemptionObservation)[]): Alarm[] {
    const start_ms = t0_ms + s * 1000;
    const raised: Alarm[] = [];
    events.forEach((make, i) => {
      const event = make(start_ms + Math.floor((i * 1000) / events.length));
      this.spent_minor += event.discount_minor;
      raised.push(...this.detector.observe(event));
    });
    raised.push(...this.detector.tick(start_ms + 999, this.budget()));
    this.alarms.push(...raised);
    return raised;
  }

  budget(): BudgetSnapshot {
    const { budget_minor, spent_minor } = this;
    return { budget_minor, spent_minor, starts_at_ms: t0_ms, ends_at_ms: t0_ms + 30 * day_ms };
  }

  /** 5-20 redemptions a second, uniformly: the quiet period every scenario starts with. */
  quiet(from_s: number, to_s: number): void {
    for (let s = from_s; s < to_s; s++) {
      const n = 5 + Math.floor(this.rand() * 16);
      this.second(
        s,
        Array.from({ length: n }, () => (now_ms: number) => this.normal(now_ms)),
      );
    }
  }

  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.rand() * (i + 1));
      [items[i], items[j]] = [items[j] as T, items[i] as T];
    }
    return items;
  }
}

describe('CampaignDetector acceptance', () => {
  test('quiet traffic for 10 minutes raises nothing', () => {
    const traffic = new Traffic(new CampaignDetector(), seed);
    traffic.quiet(0, quiet_s);
    assert.deepEqual(traffic.alarms, []);
  });

  test('a burst at one merchant alarms within 1,000 burst redemptions', () => {
    const traffic = new Traffic(new CampaignDetector(), seed);
    traffic.quiet(0, quiet_s);
    assert.deepEqual(traffic.alarms, []);
    let burst_count = 0;
    let alarmed_at: number | null = null;
    let first_any_at: number | null = null;
    for (let s = quiet_s; s < quiet_s + 30 && alarmed_at === null; s++) {
      const n = 5 + Math.floor(traffic.rand() * 16);
      const normal = Array.from({ length: n }, () => (now_ms: number) => ({ ...traffic.normal(now_ms), burst: false }));
      const burst = Array.from({ length: 300 }, (_, i) => (now_ms: number) => ({
        ...traffic.normal(now_ms),
        merchant_id: 'm7',
        device_id: `bot-${s}-${i}`,
        burst: true,
      }));
      for (const make of traffic.shuffle([...normal, ...burst])) {
        const event = make(t0_ms + s * 1000);
        if (event.burst) burst_count++;
        const alarms = traffic.detector.observe(event);
        if (alarms.length > 0 && first_any_at === null) first_any_at = burst_count;
        if (alarms.some((a) => a.kind === 'merchant_spike' && a.merchant_id === 'm7')) {
          alarmed_at = burst_count;
          break;
        }
      }
    }
    console.log(`burst: first alarm after ${first_any_at} burst redemptions; merchant_spike after ${alarmed_at}`);
    assert.ok(alarmed_at !== null && alarmed_at <= 1000, `merchant_spike after ${alarmed_at} burst redemptions`);
  });

  test('a smooth ramp to the same rate, spread over the merchants, raises nothing', () => {
    const traffic = new Traffic(new CampaignDetector(), seed);
    traffic.quiet(0, quiet_s);
    // Doubling every 2 minutes for 12 minutes: 12.5/s -> 800/s total, the biggest merchant ending near 60/s.
    for (let s = quiet_s; s < quiet_s + 720; s++) {
      const rate = 12.5 * 2 ** ((s - quiet_s) / 120);
      const n = Math.round(rate * (0.8 + 0.4 * traffic.rand()));
      traffic.second(
        s,
        Array.from({ length: n }, () => (now_ms: number) => traffic.normal(now_ms)),
      );
    }
    assert.deepEqual(traffic.alarms, []);
  });
});

const kinds = (alarms: Alarm[]): string[] => [...new Set(alarms.map((a) => a.kind))];

describe('CampaignDetector: a flash sale is not a leak', () => {
  /** 30x the quiet rate within 10 seconds, every merchant in its usual proportion, for three minutes. */
  function flashSale(traffic: Traffic, from_s: number, extra: (s: number) => RedemptionObservation[] = () => []) {
    for (let s = from_s; s < from_s + 190; s++) {
      const rate = 12.5 * Math.min(30, 1 + (29 * (s - from_s + 1)) / 10);
      const n = Math.round(rate * (0.8 + 0.4 * traffic.rand()));
      const sale = Array.from({ length: n }, () => (now_ms: number) => traffic.normal(now_ms, false));
      const more = extra(s).map((e) => (now_ms: number) => ({ ...e, now_ms }));
      traffic.second(s, traffic.shuffle([...sale, ...more]));
    }
  }

  test('a 30x sale over every merchant raises the campaign rate_spike only, no merchant_spike', () => {
    const traffic = new Traffic(new CampaignDetector(), seed);
    traffic.quiet(0, quiet_s);
    flashSale(traffic, quiet_s);
    assert.ok(traffic.alarms.length >= 1, 'the surge itself is reported');
    assert.deepEqual(kinds(traffic.alarms), ['rate_spike']);
  });

  test('a burst at one shop during the sale is still its own merchant_spike', () => {
    const traffic = new Traffic(new CampaignDetector(), seed);
    traffic.quiet(0, quiet_s);
    const leak_from_s = quiet_s + 60;
    let leaked = 0;
    let alarmed_after: number | null = null;
    flashSale(traffic, quiet_s, (s) => {
      if (s < leak_from_s) return [];
      if (alarmed_after === null && traffic.alarms.some((a) => a.kind === 'merchant_spike')) alarmed_after = leaked;
      leaked += 300;
      return Array.from({ length: 300 }, () => ({ ...traffic.normal(0, false), merchant_id: 'shop_leak' }));
    });
    const spikes = traffic.alarms.filter((a) => a.kind === 'merchant_spike');
    assert.deepEqual([...new Set(spikes.map((a) => a.merchant_id))], ['shop_leak']);
    assert.ok(alarmed_after !== null && alarmed_after <= 1000, `merchant_spike after ${alarmed_after} leaked`);
  });

  test('a campaign at one merchant has no share to jump: its surge is the rate_spike alone', () => {
    const traffic = new Traffic(new CampaignDetector(), seed);
    for (let s = 0; s < quiet_s; s++) {
      const n = 5 + Math.floor(traffic.rand() * 16);
      traffic.second(
        s,
        Array.from({ length: n }, () => (now_ms: number) => ({ ...traffic.normal(now_ms, false), merchant_id: 'm0' })),
      );
    }
    for (let s = quiet_s; s < quiet_s + 30; s++) {
      traffic.second(
        s,
        Array.from({ length: 300 }, () => (now_ms: number) => ({
          ...traffic.normal(now_ms, false),
          merchant_id: 'm0',
        })),
      );
    }
    assert.deepEqual(kinds(traffic.alarms), ['rate_spike']);
  });
});

describe('CampaignDetector sub-detectors, both ways', () => {
  test('heavy hitters: one device and one IP taking 3 redemptions a second are named', () => {
    const traffic = new Traffic(new CampaignDetector(), seed);
    traffic.quiet(0, 120);
    for (let s = 120; s < 180; s++) {
      const n = 5 + Math.floor(traffic.rand() * 16);
      const normal = Array.from({ length: n }, () => (now_ms: number) => traffic.normal(now_ms));
      const abuse = Array.from({ length: 6 }, (_, i) => (now_ms: number) => ({
        ...traffic.normal(now_ms),
        device_id: i < 3 ? 'd-evil' : null,
        ip: i < 3 ? null : '198.51.100.9',
      }));
      traffic.second(s, traffic.shuffle([...normal, ...abuse]));
    }
    const subjects = traffic.alarms.filter((a) => a.kind === 'heavy_hitter').map((a) => a.subject);
    assert.deepEqual(subjects.sort(), ['device:d-evil', 'ip:198.51.100.9']);
    assert.deepEqual(kinds(traffic.alarms), ['heavy_hitter']);
  });

  test('heavy hitters: an IPv6 network taking a new address per redemption is named by its /64', () => {
    const traffic = new Traffic(new CampaignDetector(), seed);
    traffic.quiet(0, 120);
    let host = 0;
    for (let s = 120; s < 180; s++) {
      const n = 5 + Math.floor(traffic.rand() * 16);
      const normal = Array.from({ length: n }, () => (now_ms: number) => traffic.normal(now_ms));
      const abuse = Array.from({ length: 3 }, () => (now_ms: number) => ({
        ...traffic.normal(now_ms),
        device_id: null,
        ip: `2001:db8:1:2::${(++host).toString(16)}`,
      }));
      traffic.second(s, traffic.shuffle([...normal, ...abuse]));
    }
    const subjects = traffic.alarms.filter((a) => a.kind === 'heavy_hitter').map((a) => a.subject);
    assert.deepEqual(subjects, ['ip:2001:db8:1:2::/64']);
  });

  test('cash-equivalent share: a swing to top-ups alarms; an all-top-up campaign does not', () => {
    const traffic = new Traffic(new CampaignDetector(), seed);
    traffic.quiet(0, quiet_s);
    for (let s = quiet_s; s < quiet_s + 60; s++) {
      const normal = Array.from({ length: 12 }, () => (now_ms: number) => traffic.normal(now_ms));
      const top_ups = Array.from({ length: 12 }, () => (now_ms: number) => traffic.normal(now_ms, true));
      traffic.second(s, traffic.shuffle([...normal, ...top_ups]));
    }
    assert.deepEqual(kinds(traffic.alarms), ['cash_equivalent_share']);

    const top_up_campaign = new Traffic(new CampaignDetector(), seed);
    for (let s = 0; s < 900; s++) {
      const n = 5 + Math.floor(top_up_campaign.rand() * 16);
      top_up_campaign.second(
        s,
        Array.from({ length: n }, () => (now_ms: number) => top_up_campaign.normal(now_ms, true)),
      );
    }
    assert.deepEqual(top_up_campaign.alarms, []);
  });

  test('budget burn: three quarters of the budget in the first minutes alarms; a large budget does not', () => {
    const small = new Traffic(new CampaignDetector(), seed, 10_000_000);
    small.quiet(0, quiet_s);
    assert.deepEqual(kinds(small.alarms), ['budget_burn']);
    const [burn] = small.alarms;
    assert.ok(burn !== undefined && burn.observed > 5_000_000 && burn.baseline < 100_000, JSON.stringify(burn));
    const large = new Traffic(new CampaignDetector(), seed);
    large.quiet(0, quiet_s);
    assert.deepEqual(large.alarms, []);
  });

  test('budget burn alarms again past its cooldown only on new spending, or after a resume moved its basis', () => {
    const d = new CampaignDetector();
    const day_ms = 86_400_000;
    const burned: BudgetSnapshot = {
      budget_minor: 10_000,
      spent_minor: 9_000,
      starts_at_ms: t0_ms,
      ends_at_ms: t0_ms + 30 * day_ms,
    };
    const burns = (now_ms: number, budget: BudgetSnapshot): number =>
      d.tick(now_ms, budget).filter((a) => a.kind === 'budget_burn').length;
    const cooldown_ms = defaultDetectorConfig.alarm_cooldown_ms;
    let now_ms = t0_ms + 60_000;
    assert.equal(burns(now_ms, burned), 1);
    // Nothing new spent: the same evidence, minute after minute, for the days it stays ahead of plan.
    for (let i = 0; i < 10; i++) {
      now_ms += cooldown_ms + 1_000;
      assert.equal(burns(now_ms, burned), 0, `minute ${i}`);
    }
    // A leak that goes on is new evidence each time.
    now_ms += cooldown_ms + 1_000;
    assert.equal(burns(now_ms, { ...burned, spent_minor: 9_500 }), 1);
    assert.equal(burns(now_ms + 1_000, { ...burned, spent_minor: 9_600 }), 0, 'still within the cooldown');
    // After a resume the snapshot is the spend since it, over the rest: a fresh basis, judged afresh.
    now_ms += cooldown_ms + 1_000;
    const resumed = {
      budget_minor: 500,
      spent_minor: 400,
      starts_at_ms: now_ms - 1_000,
      ends_at_ms: burned.ends_at_ms,
    };
    assert.equal(burns(now_ms, resumed), 1);
    // And the state that remembers it travels with the detector (Redis).
    const restored = CampaignDetector.fromJSON(JSON.parse(JSON.stringify(d.toJSON())));
    assert.equal(
      restored.tick(now_ms + cooldown_ms + 1_000, resumed).filter((a) => a.kind === 'budget_burn').length,
      0,
    );
  });

  test('a sustained burst alarms once per cooldown, not once per redemption', () => {
    const traffic = new Traffic(new CampaignDetector(), seed);
    traffic.quiet(0, quiet_s);
    for (let s = quiet_s; s < quiet_s + 300; s++) {
      const burst = Array.from({ length: 300 }, () => (now_ms: number) => ({
        ...traffic.normal(now_ms),
        merchant_id: 'm7',
      }));
      traffic.second(s, burst);
    }
    const m7 = traffic.alarms.filter((a) => a.kind === 'merchant_spike' && a.merchant_id === 'm7');
    assert.ok(m7.length >= 1 && m7.length <= 300 / 60 + 1, `${m7.length} merchant_spike alarms`);
  });

  test('warm-up: a burst in the first seconds raises no rate alarm (the baseline knows nothing yet)', () => {
    const traffic = new Traffic(new CampaignDetector(), seed);
    for (let s = 0; s < 30; s++) {
      traffic.second(
        s,
        Array.from({ length: 300 }, () => (now_ms: number) => ({ ...traffic.normal(now_ms), merchant_id: 'm7' })),
      );
    }
    assert.deepEqual(traffic.alarms, []);
  });

  test('tiny counts never alarm: 8 redemptions in a second at a merchant that had none', () => {
    const traffic = new Traffic(new CampaignDetector(), seed);
    for (let s = 0; s < quiet_s; s += 10) traffic.second(s, [(now_ms) => traffic.normal(now_ms)]);
    traffic.second(
      quiet_s,
      new Array(8).fill((now_ms: number) => ({ ...traffic.normal(now_ms), merchant_id: 'm3' })),
    );
    assert.deepEqual(traffic.alarms, []);
  });
});

describe('CampaignDetector bounds', () => {
  test('memory stays bounded after 100,000 distinct merchants, devices and IPs', () => {
    const detector = new CampaignDetector();
    for (let i = 0; i < 100_000; i++) {
      const event = { merchant_id: `m${i}`, device_id: `d${i}`, ip: `ip${i}`, discount_minor: 100 };
      detector.observe({ ...event, now_ms: t0_ms + i * 10, product_kind: 'merchandise', cash_equivalent: false });
    }
    const sizes = detector.sizes();
    const { merchants_max, heavy_hitters, cooldowns_max } = defaultDetectorConfig;
    assert.ok(sizes.merchants <= merchants_max && sizes.merchants > 0, `merchants ${sizes.merchants}`);
    assert.ok(sizes.devices <= heavy_hitters.capacity && sizes.ips <= heavy_hitters.capacity);
    assert.ok(sizes.cooldowns <= cooldowns_max);
    assert.ok(JSON.stringify(detector.toJSON()).length < 100_000);
  });

  test('the cooldown map is bounded too, even when every subject alarms', () => {
    const config: DetectorConfig = {
      ...defaultDetectorConfig,
      merchants_max: 8,
      cooldowns_max: 3,
      heavy_hitters: { capacity: 4, half_life_s: 60, count_min: 1, share_min: 0 },
    };
    const detector = new CampaignDetector(config);
    let raised = 0;
    for (let i = 0; i < 1000; i++) {
      const event = { now_ms: t0_ms + i, merchant_id: `m${i}`, device_id: `d${i}`, ip: null, discount_minor: 1 };
      raised += detector.observe({ ...event, product_kind: 'merchandise', cash_equivalent: false }).length;
    }
    assert.equal(raised, 1000);
    assert.deepEqual(detector.sizes(), { merchants: 8, devices: 4, ips: 0, cooldowns: 3 });
  });

  test('late events from a slower node count in the open interval; bad events are refused', () => {
    const detector = new CampaignDetector();
    const event = { merchant_id: 'm1', device_id: null, ip: null, discount_minor: 100, product_kind: 'x' };
    detector.observe({ ...event, now_ms: t0_ms + 5000, cash_equivalent: false });
    assert.deepEqual(detector.observe({ ...event, now_ms: t0_ms, cash_equivalent: false }), []);
    assert.equal(detector.toJSON().campaign.count, 2);
    assert.throws(() => detector.observe({ ...event, now_ms: 1.5, cash_equivalent: false }), InvariantViolation);
    assert.throws(() => detector.observe({ ...event, now_ms: 0, discount_minor: -1, cash_equivalent: false }));
    assert.throws(() => detector.observe({ ...event, now_ms: 0, merchant_id: '', cash_equivalent: false }));
    assert.throws(() => new CampaignDetector({ ...defaultDetectorConfig, merchants_max: 0 }), InvariantViolation);
  });
});
