import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvariantViolation } from '../errors.ts';
import { defaultDetectorConfig } from './config.ts';
import { type Alarm, CampaignDetector, type RedemptionObservation } from './detector.ts';

const t0_ms = Date.UTC(2019, 0, 20);

/** A fixed stream: 10 quiet minutes, then a burst at m7 and a heavy device; the same for every detector. */
function stream(): RedemptionObservation[] {
  const events: RedemptionObservation[] = [];
  for (let s = 0; s < 660; s++) {
    const n = s < 600 ? 5 + (s % 16) : 200;
    for (let i = 0; i < n; i++) {
      events.push({
        now_ms: t0_ms + s * 1000 + Math.floor((i * 1000) / n),
        merchant_id: s < 600 ? `m${(s * 7 + i) % 50}` : 'm7',
        device_id: s >= 600 && i % 4 === 0 ? 'd-evil' : `d${s}-${i}`,
        ip: `10.0.0.${(s + i) % 200}`,
        discount_minor: 1000,
        product_kind: i % 10 === 0 ? 'phone_top_up' : 'merchandise',
        cash_equivalent: i % 10 === 0,
      });
    }
  }
  return events;
}

function feed(detector: CampaignDetector, events: RedemptionObservation[]): Alarm[] {
  return events.flatMap((event) => detector.observe(event));
}

/** A state that parses, for mutating one field at a time. */
function validState(): Record<string, unknown> {
  const detector = new CampaignDetector();
  feed(detector, stream().slice(0, 2000));
  return JSON.parse(JSON.stringify(detector.toJSON()));
}

describe('CampaignDetector toJSON / fromJSON', () => {
  test('state is plain JSON data', () => {
    const detector = new CampaignDetector();
    feed(detector, stream().slice(0, 5000));
    const state = detector.toJSON();
    assert.deepEqual(JSON.parse(JSON.stringify(state)), state);
  });

  test('a detector restored mid-stream continues exactly like the original', () => {
    const events = stream();
    const split = events.findIndex((e) => e.now_ms >= t0_ms + 300_000);
    const original = new CampaignDetector();
    assert.deepEqual(feed(original, events.slice(0, split)), []);
    const restored = CampaignDetector.fromJSON(JSON.parse(JSON.stringify(original.toJSON())));
    const rest = events.slice(split);
    const alarms = feed(original, rest);
    assert.deepEqual(feed(restored, rest), alarms);
    assert.deepEqual(restored.toJSON(), original.toJSON());
    assert.deepEqual([...new Set(alarms.map((a) => a.kind))].sort(), ['heavy_hitter', 'merchant_spike', 'rate_spike']);
  });

  test('restored cooldowns still hold: no second alarm for the same burst', () => {
    const events = stream();
    const original = new CampaignDetector();
    const split = events.findIndex((e) => e.now_ms >= t0_ms + 605_000);
    assert.ok(feed(original, events.slice(0, split)).length > 0);
    const restored = CampaignDetector.fromJSON(original.toJSON());
    const later = events.slice(split).filter((e) => e.now_ms < t0_ms + 640_000);
    assert.deepEqual(feed(restored, later), []);
  });

  test('corrupt or foreign state is refused loudly', () => {
    const corrupt: [string, (s: Record<string, unknown>) => unknown][] = [
      ['null', () => null],
      ['empty object', () => ({})],
      ['other version', (s) => ({ ...s, version: 2 })],
      [
        'NaN mean',
        (s) => ({ ...s, campaign: { baseline: { mean: null, variance: 0, samples: 0 }, cusum_s: 0, count: 0 } }),
      ],
      [
        'negative cusum',
        (s) => ({ ...s, campaign: { baseline: { mean: 1, variance: 0, samples: 1 }, cusum_s: -1, count: 0 } }),
      ],
      ['series without sketch entry', (s) => ({ ...s, merchants: { total: 0, items: [] } })],
      ['cooldown not a pair', (s) => ({ ...s, cooldowns: [['a', 1, 2]] })],
      ['negative cash sum', (s) => ({ ...s, cash: { ...(s.cash as object), long_total: -5 } })],
      ['fractional interval', (s) => ({ ...s, interval_index: 1.5 })],
      ['burn alarmed not a budget', (s) => ({ ...s, burn_alarmed: { budget_minor: 'x' } })],
    ];
    for (const [name, mutate] of corrupt) {
      assert.throws(() => CampaignDetector.fromJSON(mutate(validState())), InvariantViolation, name);
    }
  });

  test('state saved before the last budget burn was kept loads as none alarmed', () => {
    const { burn_alarmed: _, ...older } = validState();
    assert.equal(CampaignDetector.fromJSON(older).toJSON().burn_alarmed, null);
  });

  test('state bigger than the configured bounds is refused', () => {
    const state = validState();
    const small = { ...defaultDetectorConfig, merchants_max: 2 };
    assert.throws(() => CampaignDetector.fromJSON(state, small), InvariantViolation);
  });
});
