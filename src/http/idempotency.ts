import { createHash, randomBytes } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { limits } from '../config/limits.ts';
import { Rejection } from '../domain/errors.ts';
import { canonicalJson } from '../engine/audit.ts';
import type { Actor } from '../engine/engine.ts';
import type { IdempotencyRecord, Store } from '../store/port.ts';
import { keyOf } from './auth.ts';
import { ReplySeal } from './reply-seal.ts';

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

function reused(): Rejection {
  return new Rejection('idempotency_key_reused', 'this Idempotency-Key was used with another request');
}

/** A request with this key is being answered, here or on another node. */
function inUse(): Rejection {
  return new Rejection(
    'idempotency_key_reused',
    'a request with this Idempotency-Key is still in progress; retry later',
    'Idempotency-Key',
    1,
  );
}

const claim_poll_ms = 25;
/** Claims this node watches for staleness (see StoredReplies.abandoned); past this, the oldest is forgotten. */
const watched_claims_max = 10_000;
/** Attempts to store a finished answer in place of its claim before giving up. */
const store_answer_attempts = 3;

export interface ClaimTiming {
  /** How long a retry waits for the first request with its key before a 409 (real time). */
  wait_ms: number;
  /**
   * A claim this node has seen unchanged for this long (its own clock) belongs to a request whose
   * node died: a retry takes it over. A working node renews its claim every quarter of it.
   */
  stale_ms: number;
}

/** A pending record: whose request it is, and how often it has been renewed. */
type Claim = { pending: string; beat: number };

function isClaim(result: unknown): result is Claim {
  return typeof result === 'object' && result !== null && typeof (result as Claim).pending === 'string';
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Idempotency for endpoints the engine does not cover (validations, API keys, incidents,
 * webhooks): the first answer is stored and replayed. The key is claimed in the store before
 * the work starts, so a retry on another node waits for the first answer rather than acting
 * again; concurrent retries in this process queue behind the first.
 */
export class StoredReplies {
  private readonly inflight = new Map<string, Promise<HttpReply>>();
  /** Claims of other requests this node has waited on: the claim as stored, and since when (this node's clock). */
  private readonly watched = new Map<string, { claim: string; since_ms: number }>();
  private seal: ReplySeal | null = null;

  constructor(
    private readonly store: Store,
    private readonly now: () => number,
    private readonly timing: ClaimTiming = {
      wait_ms: limits.idempotency_claim_wait_ms,
      stale_ms: limits.idempotency_claim_stale_ms,
    },
  ) {}

  async once<T>(
    request: FastifyRequest,
    produce: () => Promise<HttpReply<T>>,
    opts: { secret?: boolean } = {},
  ): Promise<HttpReply<T>> {
    const client_key = idempotencyKeyOf(request);
    if (client_key === undefined) return produce();
    const key = `${keyOf(request).id}:${client_key}`;
    const fingerprint = requestFingerprint(request);
    // Same-key requests queue behind each other here, so the second one replays the first.
    const prior = this.inflight.get(key) ?? Promise.resolve();
    const work = prior.catch(() => undefined).then(() => this.answer(key, fingerprint, produce, opts.secret === true));
    this.inflight.set(key, work);
    try {
      // A stored reply is what this route produced for this fingerprint, so it has the route's shape.
      return (await work) as HttpReply<T>;
    } finally {
      if (this.inflight.get(key) === work) this.inflight.delete(key);
    }
  }

  private async answer(key: string, fingerprint: string, produce: () => Promise<HttpReply>, secret: boolean) {
    // A sealed answer needs the seal's key: read it before acting, so the answer can be stored.
    if (secret) await this.sealer();
    const deadline_ms = performance.now() + this.timing.wait_ms;
    for (;;) {
      const claim: Claim = { pending: randomBytes(12).toString('base64url'), beat: 0 };
      const rec = await this.store.putIdempotency({ key, fingerprint, result: claim, created_at_ms: this.now() });
      if (rec.fingerprint !== fingerprint) throw reused();
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
   * True once this node has seen the same claim, unrenewed, for timing.stale_ms by its own clock.
   * Judged here rather than from the claim's created_at_ms, which another node's clock wrote: a
   * node whose clock runs ahead would otherwise take over a live claim at once.
   */
  private abandoned(key: string, claim: Claim): boolean {
    const seen = JSON.stringify(claim);
    const now_ms = this.now();
    const prior = this.watched.get(key);
    if (prior?.claim === seen) return now_ms - prior.since_ms >= this.timing.stale_ms;
    this.watched.delete(key);
    this.watched.set(key, { claim: seen, since_ms: now_ms });
    const oldest = this.watched.keys().next();
    if (this.watched.size > watched_claims_max && !oldest.done) this.watched.delete(oldest.value);
    return false;
  }

  /** Does the work under this request's claim, then stores its answer in the claim's place. */
  private async record(key: string, claim: Claim, produce: () => Promise<HttpReply>, secret: boolean) {
    // While the work runs (an incident over a large scope can take minutes), the claim is renewed:
    // each renewal changes it (beat + 1), so watchers see a live claim, and a takeover's
    // compare-and-swap fails if a renewal came first. Renewals run one at a time, and the last
    // has finished before the answer replaces the claim.
    let current = claim;
    let renewals: Promise<void> = Promise.resolve();
    const renew = setInterval(() => {
      renewals = renewals.then(async () => {
        const next: Claim = { pending: current.pending, beat: current.beat + 1 };
        const swapped = await this.store
          .swapIdempotency(key, current, { result: next, created_at_ms: this.now() })
          .catch(() => false);
        if (swapped) current = next;
      });
    }, this.timing.stale_ms / 4);
    renew.unref();
    let reply: HttpReply;
    try {
      reply = await produce();
    } catch (err) {
      clearInterval(renew);
      await renewals;
      // Nothing is stored for a failed request: release the key so that a retry runs again.
      await this.store.swapIdempotency(key, current, null).catch(() => false);
      throw err;
    }
    clearInterval(renew);
    await renewals;
    const result: StoredReply = secret ? { sealed: (await this.sealer()).seal(reply) } : { http: reply };
    for (let attempt = 1; attempt <= store_answer_attempts; attempt++) {
      // false: the claim was taken over (this node looked dead); the taker's answer stands.
      const stored = await this.store
        .swapIdempotency(key, current, { result, created_at_ms: this.now() })
        .then(() => true)
        .catch(() => false);
      if (stored) break;
      await sleep(claim_poll_ms * attempt);
    }
    // The work is done, so this request gets its answer even if it could not be stored; retries
    // then find the claim, unrenewed, until it goes stale and is taken over.
    return reply;
  }

  private async replay(rec: IdempotencyRecord, fingerprint: string): Promise<HttpReply> {
    if (rec.fingerprint !== fingerprint) throw reused();
    const result = rec.result as Partial<{ http: HttpReply; sealed: string }> | null;
    if (result?.http) return result.http;
    if (typeof result?.sealed === 'string') return (await this.sealer()).open(result.sealed) as HttpReply;
    throw reused();
  }

  private async sealer(): Promise<ReplySeal> {
    if (!this.seal) {
      const key_hex = await this.store.getOrCreateSecret('reply_seal_key', () => randomBytes(32).toString('hex'));
      this.seal = new ReplySeal(key_hex);
    }
    return this.seal;
  }
}
