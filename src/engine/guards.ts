import { limits } from '../config/limits.ts';
import type { Campaign, Velocity } from '../domain/campaign.ts';
import { assert, Rejection } from '../domain/errors.ts';
import {
  attemptBuckets,
  checkAttempts,
  checkVelocity,
  type VelocityBucket,
  type VelocitySubject,
  velocityBuckets,
} from '../domain/velocity.ts';
import type { Store } from '../store/port.ts';
import type { Clock } from './clock.ts';
import { type Counters, CountersUnavailable } from './counters.ts';

/** The places a redemption took in its velocity windows; given back if the engine refuses it. */
export interface VelocityTicket {
  buckets: VelocityBucket[];
}

const counters_retry_after_s = 2;

function countersDown(): Rejection {
  return new Rejection(
    'store_unavailable',
    'This campaign has velocity limits and the shared counter store (Redis) is unavailable, so its redemptions are refused until it is back; retry shortly.',
    undefined,
    counters_retry_after_s,
  );
}

/**
 * Abuse guards in front of the batch queue: code-guessing lockout and velocity limits.
 *
 * Velocity counts redemptions the engine accepts: a request refused by the limiter takes
 * no place (the take is atomic), and one the engine then refuses gives its place back.
 * Without the counter store, velocity-limited campaigns fail closed (503) while the
 * lockout fails open: it guards every redemption, and an outage must not stop campaigns
 * that set no velocity (guesses still face the codes' check part).
 */
export class Guards {
  private readonly velocity = new Map<string, { velocity: Velocity | null; fetched_at_ms: number }>();

  constructor(
    readonly counters: Counters,
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  /** Refuses a subject locked out for wrong codes, before any lookup. */
  async checkAttempts(subject: VelocitySubject): Promise<void> {
    const now_ms = this.clock.now();
    const buckets = attemptBuckets(subject, now_ms);
    let counts: number[];
    try {
      counts = await this.counters.get(buckets);
    } catch (err) {
      if (err instanceof CountersUnavailable) return;
      throw err;
    }
    const refusal = checkAttempts(buckets, counts, now_ms);
    if (refusal) throw refusal;
  }

  /** Awaits a code lookup; a coupon_not_found counts as a failed attempt for the subject. */
  async lookup<T>(subject: VelocitySubject, work: Promise<T>): Promise<T> {
    try {
      return await work;
    } catch (err) {
      if (err instanceof Rejection && err.code === 'coupon_not_found') await this.countFailure(subject);
      throw err;
    }
  }

  private async countFailure(subject: VelocitySubject): Promise<void> {
    try {
      await this.counters.incr(attemptBuckets(subject, this.clock.now()));
    } catch (err) {
      if (!(err instanceof CountersUnavailable)) throw err;
    }
  }

  /** Takes a place in every velocity window of the campaign, or refuses (429, or 503 without counters). */
  async admit(campaign_id: string, subject: VelocitySubject): Promise<VelocityTicket | null> {
    const { v: velocity } = this.cachedVelocity(campaign_id) ?? (await this.loadVelocity(campaign_id));
    const now_ms = this.clock.now();
    const buckets = velocityBuckets(velocity, subject, campaign_id, now_ms);
    if (buckets.length === 0) return null;
    let take: Awaited<ReturnType<Counters['take']>>;
    try {
      take = await this.counters.take(buckets);
    } catch (err) {
      if (err instanceof CountersUnavailable) throw countersDown();
      throw err;
    }
    if (take.admitted) return { buckets };
    const refusal = checkVelocity(buckets, take.counts, now_ms);
    assert(refusal !== null, 'a refused take must have a full bucket');
    throw refusal;
  }

  /** Gives places back after the engine refused the redemption; an outage keeps them taken (the safe side). */
  async giveBack(ticket: VelocityTicket): Promise<void> {
    try {
      await this.counters.giveBack(ticket.buckets);
    } catch (err) {
      if (!(err instanceof CountersUnavailable)) throw err;
    }
  }

  /** A campaign as committed by this node: its velocity applies here at once. */
  note(c: Campaign): void {
    this.remember(c.id, c.velocity);
  }

  private cachedVelocity(campaign_id: string): { v: Velocity | null } | undefined {
    const hit = this.velocity.get(campaign_id);
    if (hit === undefined || this.clock.now() - hit.fetched_at_ms >= limits.campaign_settings_ttl_ms) return undefined;
    return { v: hit.velocity };
  }

  private async loadVelocity(campaign_id: string): Promise<{ v: Velocity | null }> {
    const c = await this.store.getCampaign(campaign_id);
    const velocity = c?.velocity ?? null;
    this.remember(campaign_id, velocity);
    return { v: velocity };
  }

  private remember(campaign_id: string, velocity: Velocity | null): void {
    if (this.velocity.size >= limits.campaign_settings_cached_max) this.velocity.clear();
    this.velocity.set(campaign_id, { velocity, fetched_at_ms: this.clock.now() });
  }
}
