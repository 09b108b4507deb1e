import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CampaignSpec } from '../../domain/campaign.ts';
import { codeCheckChars, codeLength, codeRandomChars } from '../../domain/codes.ts';
import type { Coupon } from '../../domain/coupon.ts';
import { assert, Rejection } from '../../domain/errors.ts';
import { ManualClock } from '../../engine/clock.ts';
import { Engine, type RedeemInput } from '../../engine/engine.ts';
import { verifyStore } from '../../engine/verify.ts';
import { SqliteStore } from '../../store/sqlite/sqlite-store.ts';
import { Guesser } from './brute-force-guesser.ts';
import { prng, share } from './prng.ts';

const t0 = Date.parse('2026-03-01T00:00:00Z');
const day_ms = 86_400_000;
const discount_minor = 2000;
const steps_per_second = 10;

export interface BruteForceOptions {
  /** Unique codes minted by the engine for the campaign. */
  codes: number;
  /** Code holders who redeem their own code during the attack; one in ten mistypes it first. */
  legit: number;
  /** Guesses over all attacker groups, and how many a simulated second. */
  guesses: number;
  guesses_per_s: number;
  seed: number;
  onProgress?: (done: number, total: number) => void;
}

export const bruteForceDefaults: Omit<BruteForceOptions, 'onProgress'> = {
  codes: 10_000,
  legit: 2_000,
  guesses: 150_000,
  guesses_per_s: 1_500,
  seed: 20_260_301,
};

export type GroupName = 'few' | 'distributed' | 'sybil';

export interface GroupStats {
  description: string;
  /** Accounts that could be locked out (sybil identities guess once each, so none can). */
  identities: number;
  guesses: number;
  /** Guesses the engine looked up and answered coupon_not_found. */
  not_found: number;
  refused_locked_out: number;
  hits: number;
  locked_out: number;
  /**
   * Most guesses one identity had answered (not refused by the lockout) before its first 429. Guesses in
   * flight together all pass the lockout check before any of them has failed, so an account that sends k
   * at once gets up to k answered, not failures_max (the few attackers here send about 17 at once).
   */
  answered_before_lockout_max: number | null;
}

export interface BruteForceResult {
  codes: number;
  guesses: number;
  hits: number;
  /** Code-shaped guesses refused by the keyed check part without a store read. */
  rejected_by_check: number;
  /** Guesses that cost a store read: not code-shaped (looked up as a shared code) or past the check by chance. */
  store_lookups: number;
  /** Code-shaped guesses whose check part matched by chance (about 1 in 32,768), so they were looked up. */
  passed_check: number;
  refused_locked_out: number;
  attackers: number;
  locked_out_attackers: number;
  answered_before_lockout_max: number | null;
  /** A random guess names one of N codes with probability N / 32^16 (random part and check part both right). */
  expected_hits: number;
  legit_ok: number;
  legit_total: number;
  legit_typos: number;
  legit_refused: Record<string, number>;
  loss_minor: number;
  groups: Record<GroupName, GroupStats>;
  /** Loss (minor) after each simulated second, for the report's chart. */
  loss_over_time: number[];
  invariants_ok: boolean;
}

/** The store, counting which codes reached a lookup: a guess the check part refuses never gets here. */
class CountingStore extends SqliteStore {
  readonly looked_up = new Set<string>();
  override findCouponByCode(code: string): Promise<Coupon | null> {
    this.looked_up.add(code);
    return super.findCouponByCode(code);
  }
}

function campaignSpec(o: BruteForceOptions): CampaignSpec {
  return {
    name: 'loyalty codes',
    currency: 'CNY',
    discount: { type: 'fixed', amount_minor: discount_minor },
    min_spend_minor: 5000,
    product_kinds: ['merchandise'],
    merchant_ids: null,
    audience: { type: 'public' },
    starts_at_ms: t0 - day_ms,
    ends_at_ms: t0 + 30 * day_ms,
    coupon_ttl_s: null,
    budget_minor: o.codes * discount_minor,
    max_redemptions: o.codes,
    per_user_limit: 1,
    per_merchant_limit: null,
    code_mode: 'unique_codes',
    code: null,
    auto_pause: true,
    velocity: null,
  };
}

interface Identity {
  user_id: string;
  device_id: string;
  /** null: a new IP from the pool for every guess. */
  ip: string | null;
  answered: number;
  locked: boolean;
}

function identity(user_id: string, device_id: string, ip: string | null): Identity {
  return { user_id, device_id, ip, answered: 0, locked: false };
}

function emptyGroup(description: string, identities: number): GroupStats {
  const counts = { guesses: 0, not_found: 0, refused_locked_out: 0, hits: 0, locked_out: 0 };
  return { description, identities, ...counts, answered_before_lockout_max: null };
}

/** Legitimate holders and three attacker groups against one unique_codes campaign on a fresh store. */
export async function runBruteForce(o: BruteForceOptions): Promise<BruteForceResult> {
  const dir = mkdtempSync(join(tmpdir(), 'vs-sim-'));
  const store = new CountingStore({ path: join(dir, 'sim.db'), synchronous: 'OFF' });
  const clock = new ManualClock(t0 - 60_000);
  const engine = await Engine.open(store, { clock, approval_threshold_minor: 1_000_000, wantsEvent: () => false });
  try {
    const c = await engine.createCampaign(campaignSpec(o), { actor: 'key_marketing' });
    const submitted = await engine.campaignAction(c.id, 'submit', { actor: 'key_marketing' });
    if (submitted.status === 'pending_approval') await engine.campaignAction(c.id, 'approve', { actor: 'key_manager' });
    const { codes } = await engine.generateCodes(c.id, o.codes, { actor: 'key_marketing' });
    const run = new Attack(o, engine, codes);
    await run.play(clock);
    return run.result(store, (await verifyStore(store)).ok);
  } finally {
    await engine.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One run's traffic and tallies. */
class Attack {
  private readonly rand: () => number;
  private readonly guesser: Guesser;
  /** The attackers hold one real code (the last, which no holder redeems here) and walk its neighbours. */
  private readonly own: string;
  private readonly legit_total: number;
  private readonly few = Array.from({ length: 3 }, (_, i) => identity(`atk${i}`, `atk-dev${i}`, `203.0.113.${i + 1}`));
  private readonly accounts = Array.from({ length: 50 }, (_, i) => identity(`bot${i}`, `bot-dev${i}`, null));
  readonly groups: Record<GroupName, GroupStats> = {
    few: emptyGroup('3 attackers, each one account, device and IP', 3),
    distributed: emptyGroup('50 accounts with their own devices, rotating over 2,000 IPs', 50),
    sybil: emptyGroup('a fresh account, device and IP for every guess (lockout cannot apply)', 0),
  };
  /** The code of every guess that was answered (not refused by the lockout). */
  private readonly answered_codes: string[] = [];
  private readonly legit_refused: Record<string, number> = {};
  private readonly loss_over_time: number[] = [];
  private sent = 0;
  private seq = 0;
  private sybil_seq = 0;
  private legit_next = 0;
  private legit_ok = 0;
  private legit_typos = 0;
  private loss_minor = 0;

  constructor(
    private readonly o: BruteForceOptions,
    private readonly engine: Engine,
    private readonly codes: string[],
  ) {
    this.rand = prng(o.seed);
    this.guesser = new Guesser(this.rand);
    this.own = codes[codes.length - 1] ?? this.guesser.random();
    this.legit_total = Math.min(o.legit, codes.length - 1);
  }

  /** Each simulated second in sub-steps; the requests of one sub-step are in flight together. */
  async play(clock: ManualClock): Promise<void> {
    const seconds = Math.max(1, Math.ceil(this.o.guesses / this.o.guesses_per_s));
    for (let s = 0; s < seconds; s++) {
      const per_s = Math.min(this.o.guesses_per_s, this.o.guesses - this.sent);
      const legit_per_s = share(this.legit_total, s, seconds);
      for (let step = 0; step < steps_per_second; step++) {
        clock.set(t0 + s * 1000 + Math.floor((step * 1000) / steps_per_second));
        const work: Promise<void>[] = [];
        const k = share(per_s, step, steps_per_second);
        for (let j = 0; j < k; j++) work.push(this.guessFrom(this.sent + j));
        for (let j = 0; j < share(legit_per_s, step, steps_per_second); j++) work.push(this.legit(this.legit_next++));
        await Promise.all(work);
        this.sent += k;
      }
      this.loss_over_time.push(this.loss_minor);
      this.o.onProgress?.(this.sent, this.o.guesses);
    }
  }

  /** A third of the guesses from each group; each group's share goes round its identities. */
  private guessFrom(n: number): Promise<void> {
    const turn = Math.floor(n / 3);
    if (n % 3 === 0) return this.guess(this.groups.few, this.few[turn % this.few.length]);
    if (n % 3 === 1) return this.guess(this.groups.distributed, this.accounts[turn % this.accounts.length]);
    const k = this.sybil_seq++;
    const ip = `100.${64 + (k % 64)}.${(k >> 6) % 256}.${(k >> 14) % 256}`;
    return this.guess(this.groups.sybil, identity(`syb${k}`, `syb-dev${k}`, ip));
  }

  private async guess(g: GroupStats, id: Identity | undefined): Promise<void> {
    assert(id !== undefined, 'every guess has an identity');
    const code = this.guesser.next(this.own);
    const ip = id.ip ?? `198.18.${Math.floor(this.rand() * 8)}.${Math.floor(this.rand() * 250)}`;
    g.guesses++;
    const r = await this.redeem({ user_id: id.user_id, code, device_id: id.device_id, ip });
    if (r.outcome === 'too_many_attempts') {
      g.refused_locked_out++;
      if (!id.locked) {
        id.locked = true;
        g.locked_out++;
        g.answered_before_lockout_max = Math.max(g.answered_before_lockout_max ?? 0, id.answered);
      }
      return;
    }
    if (!id.locked) id.answered++;
    this.answered_codes.push(code);
    if (r.outcome === 'coupon_not_found') g.not_found++;
    else g.hits++;
    this.loss_minor += r.minor;
  }

  /** Holder i redeems code i from their own device and IP; one in ten mistypes a symbol first. */
  private async legit(i: number): Promise<void> {
    const code = this.codes[i] ?? '';
    const who = {
      user_id: `holder${i}`,
      device_id: `holder-dev${i}`,
      ip: `10.${i % 250}.${Math.floor(i / 250) % 250}.9`,
    };
    if (i % 10 === 3) {
      this.legit_typos++;
      await this.redeem({ ...who, code: this.guesser.neighbour(code) });
    }
    const r = await this.redeem({ ...who, code });
    if (r.outcome === 'ok') this.legit_ok++;
    else this.legit_refused[r.outcome] = (this.legit_refused[r.outcome] ?? 0) + 1;
  }

  private async redeem(who: Omit<RedeemInput, 'order' | 'confirm'>): Promise<{ outcome: string; minor: number }> {
    const n = this.seq++;
    const order = {
      id: `o${n}`,
      merchant_id: `m${n % 97}`,
      amount_minor: 8000,
      currency: 'CNY',
      product_kind: 'merchandise',
    };
    try {
      const r = await this.engine.redeem({ ...who, order, confirm: true }, { actor: 'key_checkout' });
      return { outcome: 'ok', minor: r.discount_minor };
    } catch (e) {
      if (!(e instanceof Rejection)) throw e;
      return { outcome: e.code, minor: 0 };
    }
  }

  result(store: CountingStore, invariants_ok: boolean): BruteForceResult {
    const all = Object.values(this.groups);
    const lockable = [...this.few, ...this.accounts];
    const sum = (f: (g: GroupStats) => number) => all.reduce((n, g) => n + f(g), 0);
    const answered = this.answered_codes;
    const shaped = (c: string) => c.length === codeLength;
    const before = all.map((g) => g.answered_before_lockout_max).filter((x): x is number => x !== null);
    return {
      codes: this.codes.length,
      guesses: this.sent,
      hits: sum((g) => g.hits),
      rejected_by_check: answered.filter((c) => shaped(c) && !store.looked_up.has(c)).length,
      store_lookups: answered.filter((c) => store.looked_up.has(c)).length,
      passed_check: answered.filter((c) => shaped(c) && store.looked_up.has(c)).length,
      refused_locked_out: sum((g) => g.refused_locked_out),
      attackers: lockable.length,
      locked_out_attackers: lockable.filter((a) => a.locked).length,
      answered_before_lockout_max: before.length === 0 ? null : Math.max(...before),
      expected_hits: (this.sent * this.codes.length) / 2 ** (5 * (codeRandomChars + codeCheckChars)),
      legit_ok: this.legit_ok,
      legit_total: this.legit_total,
      legit_typos: this.legit_typos,
      legit_refused: this.legit_refused,
      loss_minor: this.loss_minor,
      groups: this.groups,
      loss_over_time: this.loss_over_time,
      invariants_ok,
    };
  }
}
