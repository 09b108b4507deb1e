import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyRequest } from 'fastify';
import { limits } from '../config/limits.ts';
import { idempotencyKeyReused, Rejection } from '../domain/errors.ts';
import { canonicalJson } from '../engine/audit.ts';
import { Lru } from '../engine/detection/lru.ts';
import type { Actor } from '../engine/engine.ts';
import type { IdempotencyRecord, Store } from '../store/port.ts';
import { keyOf } from './auth.ts';
import { classify } from './errors.ts';
import { type Claim, HeldClaim, isClaim } from './idempotency-claim.ts';
import { ReplySeal } from './reply-seal.ts';
import { waitAtMost } from './wait-at-most.ts';

const header_chars_max = 255;
const printable = /^[\x21-\x7E]+$/;

/** The client's Idempotency-Key, if any; a malformed one is a 400. */
export function idempotencyKeyOf(request: FastifyRequest): string | undefined {
  const raw = request.headers['idempotency-key'];
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || raw.length > header_chars_max || !printable.test(raw)) {
    throw new Rejection(
      'invalid_request',
      `Idempotency-Key must be 1-${header_chars_max} printable characters`,
      'Idempotency-Key',
    );
  }
  return raw;
}

/** sha256 of method, route, path params and canonical body: "the same request". */
export function requestFingerprint(request: FastifyRequest): string {
  const route = request.routeOptions.url ?? request.url;
  const text = `${request.method} ${route} ${canonicalJson(request.params ?? {})} ${canonicalJson(request.body ?? null)}`;
  return createHash('sha256').update(text).digest('hex');
}

/** Who is calling, with the Idempotency-Key namespaced by API key id so clients never collide. */
export function actorOf(request: FastifyRequest): Actor {
  const key = keyOf(request);
  const idem = idempotencyKeyOf(request);
  if (idem === undefined) return { actor: key.id };
  return { actor: key.id, idem: { key: `${key.id}:${idem}`, fingerprint: requestFingerprint(request) } };
}

export interface HttpReply<T = unknown> {
  status: number;
  body: T;
}

type StoredReply = { http: HttpReply } | { sealed: string };

/** A request with this key is being answered, here or on another node. */
function inUse(): Rejection {
  return new Rejection(
    'idempotency_key_reused',
    'a request with this Idempotency-Key is still in progress; retry later',
    'Idempotency-Key',
    1,
  );
}

/**
 * A refusal the work itself gave (a wrong state, an unknown id, a rule) is the request's answer:
 * stored, so the same key replays it and another request under the key is 409, as with an answer
 * that succeeded. Not stored, so a retry runs again (as Stripe does): a 400 (the client fixes the
 * body and retries with its key), a 429 or 503 (retry later), and any failure that is not a refusal.
 */
function replayableRefusal(err: unknown): HttpReply | null {
  if (!(err instanceof Rejection)) return null;
  const { status, body } = classify(err);
  if (status === 400 || status === 429 || status >= 500) return null;
  return { status, body };
}

const claim_poll_ms = 25;
/** Claims this node watches for staleness (see StoredReplies.abandoned); past this, the oldest is forgotten. */
const watched_claims_max = 10_000;
/** How long a request waits for its answer to be stored before it answers anyway (the store keeps being tried). */
const answer_store_wait_ms = 1_000;

export interface ClaimTiming {
  /** How long a retry waits for the first request with its key before a 409 (real time). */
  wait_ms: number;
  /**
   * A claim this node has seen unchanged for this long (by a monotonic clock) belongs to a request
   * whose node died: a retry takes it over. A working node renews its claim every quarter of it.
   */
  stale_ms: number;
}

/**
 * Idempotency for endpoints the engine does not cover (validations, lint, API keys, incidents,
 * webhooks): the first answer is stored and replayed. The key is claimed in the store before the
 * work starts, so a retry, on this node or another, waits for the first answer (up to
 * timing.wait_ms, then 409 with Retry-After) rather than acting again.
 */
export class StoredReplies {
  /**
   * Claims of other requests this node has waited on: the claim as stored, since when it has been
   * seen unchanged, and when it was last seen (elapsed()).
   */
  private readonly watched = new Lru<string, { claim: string; since_ms: number; last_ms: number }>(watched_claims_max);
  /** Answers still being stored after their request answered (see record); shutdown waits for them. */
  private readonly settling = new Set<Promise<boolean>>();
  private seal: ReplySeal | null = null;

  constructor(
    private readonly store: Store,
    /** Wall-clock time, stored with records (their 24 h expiry). */
    private readonly now: () => number,
    private readonly timing: ClaimTiming = {
      wait_ms: limits.idempotency_claim_wait_ms,
      stale_ms: limits.idempotency_claim_stale_ms,
    },
    /** Monotonic time for staleness: a wall clock stepped forward must not make a live claim look dead. */
    private readonly elapsed: () => number = () => performance.now(),
  ) {}

  async once<T>(
    request: FastifyRequest,
    produce: () => Promise<HttpReply<T>>,
    opts: { secret?: boolean } = {},
  ): Promise<HttpReply<T>> {
    const client_key = idempotencyKeyOf(request);
    if (client_key === undefined) return produce();
    const key = `${keyOf(request).id}:${client_key}`;
    // A stored reply is what this route produced for this fingerprint, so it has the route's shape.
    return (await this.answer(key, requestFingerprint(request), produce, opts.secret === true)) as HttpReply<T>;
  }

  private async answer(key: string, fingerprint: string, produce: () => Promise<HttpReply>, secret: boolean) {
    const deadline_ms = performance.now() + this.timing.wait_ms;
    // A sealed answer needs the seal's key: read it before acting, so the answer can be stored.
    if (secret) await this.sealer();
    for (;;) {
      const claim: Claim = { pending: randomBytes(12).toString('base64url'), beat: 0 };
      const rec = await this.store.putIdempotency({ key, fingerprint, result: claim, created_at_ms: this.now() });
      if (rec.fingerprint !== fingerprint) throw idempotencyKeyReused();
      if (!isClaim(rec.result)) {
        this.watched.delete(key);
        return this.replay(rec, fingerprint);
      }
      if (rec.result.pending === claim.pending) return this.record(key, claim, produce, secret);
      if (
        this.abandoned(key, rec.result) &&
        (await this.store.swapIdempotency(key, rec.result, { result: claim, created_at_ms: this.now() }))
      ) {
        this.watched.delete(key);
        return this.record(key, claim, produce, secret);
      }
      if (performance.now() >= deadline_ms) throw inUse();
      await sleep(claim_poll_ms);
    }
  }

  /**
   * True once this node has watched the same claim, unrenewed, for timing.stale_ms. Judged here, by
   * this node's monotonic clock, rather than from the claim's created_at_ms, which another node's
   * wall clock wrote: a node whose clock runs ahead would otherwise take over a live claim at once.
   * Watching means sightings at most half the stale time apart: across a longer gap (no retry came,
   * or the store was down and the holder could not renew) the claim is watched afresh, so a holder
   * cut off by an outage is not taken for dead the moment the store is back.
   */
  private abandoned(key: string, claim: Claim): boolean {
    const seen = JSON.stringify(claim);
    const now_ms = this.elapsed();
    const prior = this.watched.peek(key);
    if (prior?.claim === seen && now_ms - prior.last_ms <= this.timing.stale_ms / 2) {
      prior.last_ms = now_ms;
      return now_ms - prior.since_ms >= this.timing.stale_ms;
    }
    this.watched.set(key, { claim: seen, since_ms: now_ms, last_ms: now_ms });
    return false;
  }

  /**
   * Does the work under this request's claim (renewed meanwhile, so watchers see it live), then
   * stores the answer in its place, or releases the key when the work failed. If the store fails
   * then, the request answers after answer_store_wait_ms all the same and the claim, still renewed,
   * keeps being settled in the background for up to half the stale time.
   */
  private async record(key: string, claim: Claim, produce: () => Promise<HttpReply>, secret: boolean) {
    const held = new HeldClaim(this.store, key, claim, this.now, this.timing.stale_ms / 4);
    const give_up_ms = this.timing.stale_ms / 2;
    let reply: HttpReply;
    try {
      reply = await produce();
    } catch (err) {
      // A refusal is the answer, replayed like any other (and the key stays this request's);
      // anything else is not stored: the key is released so that a retry runs again.
      const refusal = replayableRefusal(err);
      await this.settleWithin(held.settle(refusal ? { http: refusal } : null, give_up_ms));
      throw err;
    }
    let result: StoredReply;
    try {
      result = secret ? { sealed: (await this.sealer()).seal(reply) } : { http: reply };
    } catch {
      // An answer that cannot be stored (the work is done): the claim is left to go stale.
      held.abandon();
      return reply;
    }
    await this.settleWithin(held.settle(result, give_up_ms));
    return reply;
  }

  /** Waits for the answers still being stored, at most `max_ms` (shutdown, before the store closes). */
  async drain(max_ms: number): Promise<void> {
    if (this.settling.size > 0) await waitAtMost(Promise.all(this.settling), max_ms);
  }

  /** Waits for a settle at most answer_store_wait_ms; it goes on in the background after that. */
  private async settleWithin(settling: Promise<boolean>): Promise<void> {
    const tracked = settling.catch(() => false);
    this.settling.add(tracked);
    void tracked.then(() => this.settling.delete(tracked));
    await waitAtMost(tracked, answer_store_wait_ms);
  }

  private async replay(rec: IdempotencyRecord, fingerprint: string): Promise<HttpReply> {
    if (rec.fingerprint !== fingerprint) throw idempotencyKeyReused();
    const result = rec.result as Partial<{ http: HttpReply; sealed: string }> | null;
    if (result?.http) return result.http;
    if (typeof result?.sealed === 'string') return (await this.sealer()).open(result.sealed) as HttpReply;
    throw idempotencyKeyReused();
  }

  private async sealer(): Promise<ReplySeal> {
    if (!this.seal) {
      const key_hex = await this.store.getOrCreateSecret('reply_seal_key', () => randomBytes(32).toString('hex'));
      this.seal = new ReplySeal(key_hex);
    }
    return this.seal;
  }
}
