import { prng } from '../../src/cli/simulate/prng.ts';
import type { ManualClock } from '../../src/engine/clock.ts';

/** One redemption attempt: 'ok', or the rejection code it got. */
export type RedeemAttempt = (merchant_id: string, seq: number) => Promise<string>;

export interface TrafficOptions {
  clock: ManualClock;
  redeem: RedeemAttempt;
  /** Called at the end of every simulated second (the detector's tick). */
  tick: (now_ms: number) => Promise<unknown>;
  seed: number;
  merchants?: number;
  /** Sub-steps per second; the attempts of one sub-step run concurrently. */
  steps_per_second?: number;
}

export interface SecondResult {
  ok: number;
  burst_ok: number;
  refused: Map<string, number>;
}

/**
 * Simulated checkout traffic against a real engine: merchants of uneven size (weight
 * 1/sqrt(rank)), each second split into sub-steps whose attempts run concurrently.
 */
export class Traffic {
  readonly rand: () => number;
  private readonly cumulative: number[] = [];
  private seq = 0;
  second_index = 0;
  readonly totals = { ok: 0, burst_ok: 0, attempts: 0 };

  constructor(readonly opts: TrafficOptions) {
    this.rand = prng(opts.seed);
    let sum = 0;
    for (let i = 0; i < (opts.merchants ?? 50); i++) {
      sum += 1 / Math.sqrt(i + 1);
      this.cumulative.push(sum);
    }
  }

  pickMerchant(): string {
    const total = this.cumulative[this.cumulative.length - 1] ?? 1;
    const u = this.rand() * total;
    return `m${this.cumulative.findIndex((c) => c >= u)}`;
  }

  /** 5-20 ordinary redemptions in a second: the quiet traffic. */
  quietCount(): number {
    return 5 + Math.floor(this.rand() * 16);
  }

  /** One simulated second: `normal` attempts at random merchants plus `burst` at `burst_merchant`. */
  async second(normal: number, burst = 0, burst_merchant = 'm7'): Promise<SecondResult> {
    const steps = this.opts.steps_per_second ?? 10;
    const start_ms = this.opts.clock.now() - (this.opts.clock.now() % 1000) + 1000;
    const out: SecondResult = { ok: 0, burst_ok: 0, refused: new Map() };
    for (let step = 0; step < steps; step++) {
      this.opts.clock.set(start_ms + Math.floor((step * 1000) / steps));
      const n = share(normal, step, steps);
      const b = share(burst, step, steps);
      const attempts = [
        ...Array.from({ length: n }, () => ({ merchant: this.pickMerchant(), burst: false })),
        ...Array.from({ length: b }, () => ({ merchant: burst_merchant, burst: true })),
      ];
      const results = await Promise.all(attempts.map((a) => this.opts.redeem(a.merchant, this.seq++)));
      results.forEach((code, i) => {
        if (code !== 'ok') out.refused.set(code, (out.refused.get(code) ?? 0) + 1);
        else if (attempts[i]?.burst) out.burst_ok++;
        else out.ok++;
      });
      this.totals.attempts += attempts.length;
    }
    this.opts.clock.set(start_ms + 999);
    await this.opts.tick(start_ms + 999);
    this.totals.ok += out.ok + out.burst_ok;
    this.totals.burst_ok += out.burst_ok;
    this.second_index++;
    return out;
  }

  async quiet(seconds: number): Promise<void> {
    for (let s = 0; s < seconds; s++) await this.second(this.quietCount());
  }
}

/** The part of `total` that falls in sub-step `step` of `steps`, so the parts add up exactly. */
function share(total: number, step: number, steps: number): number {
  return Math.floor(((step + 1) * total) / steps) - Math.floor((step * total) / steps);
}
