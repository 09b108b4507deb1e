import { limits } from '../config/limits.ts';
import type { Velocity } from '../domain/campaign.ts';
import { assert, Rejection } from '../domain/errors.ts';
import {
  attemptBuckets,
  attemptLockout,
  checkAttempts,
  checkVelocity,
  type VelocityBucket,
  type VelocitySubject,
  velocityBuckets,
  windowStartMs,
} from '../domain/velocity.ts';
import type { CampaignCache } from './campaign-cache.ts';
import type { Clock } from './clock.ts';
import { type CounterKey, type Counters, CountersUnavailable, MemoryCounters } from './counters.ts';

/** The places a redemption took in its velocity windows; given back if the engine refuses it. */
export interface VelocityTicket {
  buckets: VelocityBucket[];
  /** The take's name in shared counters, so that it is given back at most once. */
  token?: string;
}

const counters_retry_after_s = 2;

/** Adds `delta` to `key`'s count (a count of zero is no entry); returns the new count. */
function addCount(counts: Map<string, number>, key: string, delta: 1 | -1): number {
  const n = (counts.get(key) ?? 0) + delta;
  if (n <= 0) counts.delete(key);
  else counts.set(key, n);
  return n;
}

/** A take waiting for a place; it waits on each of its full buckets and is woken once. */
interface PlaceWaiter {
  woken: boolean;
  wake: () => void;
}

function wakeWaiter(w: PlaceWaiter): void {
  if (w.woken) return;
  w.woken = true;
  w.wake();
}

/**
 * When each in-process counter store last counted a failed code lookup. Only Guards count
 * failures, and every Guards on the same counters records here, so a store with no failure
 * since the lockout window began holds only zeros for it.
 */
const lastFailureMs = new WeakMap<Counters, number>();

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
 * lockout falls back to this node's own counts: it guards every redemption, so an outage
 * must not stop campaigns that set no velocity, nor open them to unbounded guessing.
 */
export class Guards {
  /**
   * Failed lookups are also counted here when the shared counters are remote (Redis): while
   * those cannot be reached or written, the lockout goes on with what this node counted
   * (failures before the outage included), per node instead of cluster-wide, rather than
   * stopping. See failureCounts.
   */
  private readonly localFailures: MemoryCounters | null;

  constructor(
    readonly counters: Counters,
    private readonly campaigns: CampaignCache,
    private readonly clock: Clock,
  ) {
    this.localFailures = counters.kind === 'memory' ? null : new MemoryCounters(clock, limits.local_failure_keys_max);
  }

  /**
   * This node's code lookups by failure-window key: joined (admitted or deciding), and running
   * (admitted); and who waits for a running one to settle.
   */
  private readonly lookupsInFlight = new Map<string, number>();
  private readonly lookupsRunning = new Map<string, number>();
  /** Lookups waiting for one of this key's running lookups to settle (a settling lookup wakes its keys' waiters only). */
  private readonly lookupWaiters = new Map<string, Array<() => void>>();
  /** This node's velocity places taken by redemptions the engine has not decided yet, by bucket key. */
  private readonly held = new Map<string, { places: number; given_back: number }>();
  /** Takes refused while this node held the last places of their full buckets, waiting for one to settle. */
  private readonly placeWaiters = new Map<string, PlaceWaiter[]>();

  /**
   * Refuses a subject locked out for wrong codes, before any lookup. Answers null (nothing to
   * wait for) when in-process counters have counted no failure since the lockout window began:
   * every count in it is then zero, so no subject can be locked out.
   */
  checkAttempts(subject: VelocitySubject): Promise<void> | null {
    const now_ms = this.clock.now();
    if (this.counters.kind === 'memory') {
      const last_ms = lastFailureMs.get(this.counters) ?? Number.NEGATIVE_INFINITY;
      if (last_ms < windowStartMs(now_ms, attemptLockout.window_ms)) return null;
    }
    return this.countAttempts(subject, now_ms);
  }

  private async countAttempts(subject: VelocitySubject, now_ms: number): Promise<void> {
    const buckets = attemptBuckets(subject, now_ms);
    const refusal = checkAttempts(buckets, await this.failureCounts(buckets), now_ms);
    if (refusal) throw refusal;
  }

  /**
   * Failed lookups counted in these windows: the higher of the shared count and this node's own
   * (which alone decides while the shared counters cannot be read). With healthy shared counters
   * this node's failures are a part of their count; the maximum still counts them when Redis
   * reads but refuses writes (out of memory, a read-only replica) or has lost them (a restart).
   */
  private async failureCounts(buckets: readonly CounterKey[]): Promise<number[]> {
    const local = this.localFailures === null ? null : await this.localFailures.get(buckets);
    try {
      const shared = await this.counters.get(buckets);
      return local === null ? shared : shared.map((n, i) => Math.max(n, local[i] ?? 0));
    } catch (err) {
      if (!(err instanceof CountersUnavailable) || local === null) throw err;
      return local;
    }
  }

  /**
   * Runs a code lookup under the lockout, so that however many guesses a subject sends at once,
   * a node looks up at most failures_max of them in a window (counting failures only after the
   * lookups would let every guess in flight pass the check before the first failure landed).
   * A lookup is admitted when the failures counted so far plus this node's lookups for the
   * subject in flight when it joined them (itself included) stay within the limit; the failure
   * count is read after joining, so a lookup that failed before that is in the count and one
   * still in flight is in the in-flight number. Over the limit with lookups of this node still in
   * flight, it waits for them and tries again: a burst of correct codes is served, a burst of
   * guesses ends at the limit. Across nodes sharing Redis each node admits its own in-flight
   * share, so a burst sprayed over N nodes may see N x failures_max lookups before the shared
   * count locks the subject out. Without reachable shared counters this node's own count
   * decides (see localFailures).
   */
  async lookup<T>(subject: VelocitySubject, work: () => Promise<T>): Promise<T> {
    for (;;) {
      const now_ms = this.clock.now();
      const buckets = attemptBuckets(subject, now_ms);
      const joined = buckets.map((b) => addCount(this.lookupsInFlight, b.key, 1));
      let failures: number[];
      try {
        failures = await this.failureCounts(buckets);
      } catch (err) {
        this.leaveLookups(buckets);
        throw err;
      }
      const over = buckets.some((b, i) => (failures[i] ?? 0) + (joined[i] ?? 0) > b.limit);
      if (!over) return this.heldLookup(subject, buckets, work);
      this.leaveLookups(buckets);
      const locked = checkAttempts(buckets, failures, now_ms);
      if (locked) throw locked;
      // Not locked, but too many in flight: wait for a running lookup to settle, or (only other
      // lookups joining at this moment) for the next turn; the first of those is always admitted.
      const running = buckets.filter((b) => (this.lookupsRunning.get(b.key) ?? 0) > 0);
      if (running.length > 0) {
        await new Promise<void>((wake) => {
          for (const b of running) {
            const waiters = this.lookupWaiters.get(b.key);
            if (waiters) waiters.push(wake);
            else this.lookupWaiters.set(b.key, [wake]);
          }
        });
      } else {
        await new Promise<void>((next) => setImmediate(next));
      }
    }
  }

  private async heldLookup<T>(subject: VelocitySubject, buckets: VelocityBucket[], work: () => Promise<T>): Promise<T> {
    for (const b of buckets) addCount(this.lookupsRunning, b.key, 1);
    try {
      return await work();
    } catch (err) {
      if (err instanceof Rejection && err.code === 'coupon_not_found') await this.countFailure(subject);
      throw err;
    } finally {
      for (const b of buckets) addCount(this.lookupsRunning, b.key, -1);
      this.leaveLookups(buckets, true);
    }
  }

  /** Ends this lookup's count; a lookup that ran (not one refused on joining) wakes who waits. */
  private leaveLookups(buckets: readonly VelocityBucket[], ran = false): void {
    for (const b of buckets) addCount(this.lookupsInFlight, b.key, -1);
    if (!ran) return;
    // Only lookups sharing a window key with this one can be waiting on it: waking every waiter on
    // every settle made a flood of guesses from many subjects cost waiters x lookups retries.
    for (const b of buckets) {
      const waiters = this.lookupWaiters.get(b.key);
      if (!waiters) continue;
      this.lookupWaiters.delete(b.key);
      for (const wake of waiters) wake();
    }
  }

  private async countFailure(subject: VelocitySubject): Promise<void> {
    const now_ms = this.clock.now();
    if (this.counters.kind === 'memory') {
      lastFailureMs.set(this.counters, Math.max(now_ms, lastFailureMs.get(this.counters) ?? now_ms));
    }
    const buckets = attemptBuckets(subject, now_ms);
    await this.localFailures?.incr(buckets);
    try {
      await this.counters.incr(buckets);
    } catch (err) {
      if (!(err instanceof CountersUnavailable)) throw err;
    }
  }

  /**
   * The campaign's velocity settings as this node holds them (CampaignCache): at once while cached,
   * else after a store read. Only what admit counts under; the batch holds them to the locked row.
   */
  velocityOf(campaign_id: string): { v: Velocity | null } | Promise<{ v: Velocity | null }> {
    return this.cachedVelocity(campaign_id) ?? this.loadVelocity(campaign_id);
  }

  /**
   * Takes a place in every velocity window these settings set for the campaign, or refuses (429,
   * or 503 without counters). Answers at once, with nothing to wait for, when they set no limit.
   */
  admit(
    velocity: Velocity | null,
    campaign_id: string,
    subject: VelocitySubject,
  ): VelocityTicket | null | Promise<VelocityTicket | null> {
    const now_ms = this.clock.now();
    const buckets = velocityBuckets(velocity, subject, campaign_id, now_ms);
    if (buckets.length === 0) return null;
    return this.take(buckets, now_ms, (later_ms) => velocityBuckets(velocity, subject, campaign_id, later_ms));
  }

  /**
   * Takes a place in every bucket. A request refused only because this node's own redemptions in
   * flight hold the last places waits for one of them to settle and tries again: one the engine
   * refuses gives its place back, and a valid request beside it must not be told to come back
   * when the window resets. Places held by other nodes are not waited for.
   */
  private async take(
    first: VelocityBucket[],
    first_ms: number,
    bucketsAt: (now_ms: number) => VelocityBucket[],
  ): Promise<VelocityTicket> {
    let buckets = first;
    let now_ms = first_ms;
    for (;;) {
      const before = buckets.map((b) => {
        const h = this.held.get(b.key);
        return h === undefined ? undefined : { h, given_back: h.given_back };
      });
      let take: Awaited<ReturnType<Counters['take']>>;
      try {
        take = await this.counters.take(buckets);
      } catch (err) {
        if (err instanceof CountersUnavailable) throw countersDown();
        throw err;
      }
      if (take.admitted) {
        for (const b of buckets) this.hold(b.key);
        return take.token === undefined ? { buckets } : { buckets, token: take.token };
      }
      const full = buckets.flatMap((b, i) => ((take.counts[i] ?? 0) >= b.limit ? [i] : []));
      // A place of this node's given back (or its last one settled) while the take was on its way: try again.
      const settled = full.some((i) => {
        const was = before[i];
        return was !== undefined && (was.h.places === 0 || was.h.given_back !== was.given_back);
      });
      if (!settled) {
        const keys = full.map((i) => buckets[i]?.key ?? '');
        const free = keys.filter((k) => (this.held.get(k)?.places ?? 0) === 0);
        if (keys.length === 0 || free.length > 0) {
          // Nothing of this node's in flight to wait for here: nor can those waiting on these buckets.
          for (const k of free) this.wakeAll(k);
          const refusal = checkVelocity(buckets, take.counts, now_ms);
          assert(refusal !== null, 'a refused take must have a full bucket');
          throw refusal;
        }
        await new Promise<void>((resolve) => {
          const waiter = { woken: false, wake: resolve };
          for (const k of keys) {
            const waiters = this.placeWaiters.get(k);
            if (waiters) waiters.push(waiter);
            else this.placeWaiters.set(k, [waiter]);
          }
        });
      }
      now_ms = this.clock.now();
      buckets = bucketsAt(now_ms);
    }
  }

  private hold(key: string): void {
    const h = this.held.get(key);
    if (h === undefined) this.held.set(key, { places: 1, given_back: 0 });
    else h.places += 1;
  }

  /**
   * The engine has decided a redemption that took places: accepted, they stay taken; otherwise
   * (refused, failed, or answered by another request's answer) they are given back. Either way
   * this node no longer holds them in flight, and requests waiting on them try again.
   */
  settle(ticket: VelocityTicket, accepted: boolean): Promise<void> | undefined {
    if (accepted) {
      this.release(ticket, false);
      return undefined;
    }
    return this.giveBack(ticket).finally(() => this.release(ticket, true));
  }

  private release(ticket: VelocityTicket, given_back: boolean): void {
    for (const b of ticket.buckets) {
      const h = this.held.get(b.key);
      assert(h !== undefined && h.places > 0, 'a settled velocity place must be held');
      h.places -= 1;
      if (given_back) h.given_back += 1;
      if (h.places === 0) this.held.delete(b.key);
      // A place came free: one waiter tries for it (waking all would cost waiters x give-backs takes);
      // if it loses the place, it wakes the rest when none is in flight any more (see take).
      if (given_back) this.wakeOne(b.key);
      // None in flight any more and none came free: every waiter's refusal stands.
      else if (h.places === 0) this.wakeAll(b.key);
    }
  }

  private wakeOne(key: string): void {
    const waiters = this.placeWaiters.get(key);
    if (!waiters) return;
    let w = waiters.shift();
    while (w?.woken) w = waiters.shift();
    if (w) wakeWaiter(w);
    if (waiters.length === 0) this.placeWaiters.delete(key);
  }

  private wakeAll(key: string): void {
    const waiters = this.placeWaiters.get(key);
    if (!waiters) return;
    this.placeWaiters.delete(key);
    for (const w of waiters) wakeWaiter(w);
  }

  /**
   * Gives places back after the engine refused the redemption. When the counters cannot be reached
   * the places stay taken until they answer again (the safe side), then are given back (counters.ts).
   */
  private async giveBack(ticket: VelocityTicket): Promise<void> {
    try {
      await this.counters.giveBack(ticket.buckets, ticket.token);
    } catch (err) {
      if (!(err instanceof CountersUnavailable)) throw err;
    }
  }

  /** The campaign's velocity settings while cached; this node's own changes apply at once (CampaignCache). */
  private cachedVelocity(campaign_id: string): { v: Velocity | null } | undefined {
    const c = this.campaigns.fresh(campaign_id);
    return c === undefined ? undefined : { v: c.velocity };
  }

  private async loadVelocity(campaign_id: string): Promise<{ v: Velocity | null }> {
    const c = await this.campaigns.get(campaign_id);
    return { v: c?.velocity ?? null };
  }
}
