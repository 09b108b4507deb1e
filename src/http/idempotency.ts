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

export interface ClaimTiming {
  /** How long a retry waits for the first request with its key before a 409. */
  wait_ms: number;
  /** A claim not renewed for this long belongs to a request whose node died: a retry takes it over. */
  stale_ms: number;
}

type Claim = { pending: string };

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
    for (let waited = 0; ; waited += claim_poll_ms) {
      const claim: Claim = { pending: randomBytes(12).toString('base64url') };
      const rec = await this.store.putIdempotency({ key, fingerprint, result: claim, created_at_ms: this.now() });
      if (rec.fingerprint !== fingerprint) throw reused();
      if (!isClaim(rec.result)) return this.replay(rec, fingerprint);
      if (rec.result.pending === claim.pending) return this.record(key, claim, produce, secret);
      const stale = this.now() - rec.created_at_ms >= this.timing.stale_ms;
      if (stale && (await this.store.swapIdempotency(key, rec.result, { result: claim, created_at_ms: this.now() }))) {
        return this.record(key, claim, produce, secret);
      }
      if (waited >= this.timing.wait_ms) throw inUse();
      await sleep(claim_poll_ms);
    }
  }

  /** Does the work under this request's claim, then stores its answer in the claim's place. */
  private async record(key: string, claim: Claim, produce: () => Promise<HttpReply>, secret: boolean) {
    // While the work runs (an incident over a large scope can take minutes), the claim is renewed,
    // so only the claim of a node that stopped goes stale.
    const renew = setInterval(() => {
      this.store.swapIdempotency(key, claim, { result: claim, created_at_ms: this.now() }).catch(() => false);
    }, this.timing.stale_ms / 4);
    renew.unref();
    let reply: HttpReply;
    try {
      reply = await produce();
    } catch (err) {
      // Nothing is stored for a failed request: release the key so that a retry runs again.
      await this.store.swapIdempotency(key, claim, null).catch(() => false);
      throw err;
    } finally {
      clearInterval(renew);
    }
    try {
      const result: StoredReply = secret ? { sealed: (await this.sealer()).seal(reply) } : { http: reply };
      await this.store.swapIdempotency(key, claim, { result, created_at_ms: this.now() });
    } catch {
      // The work is done all the same, so this request gets its answer; retries find the claim
      // until it goes stale (timing.stale_ms) and is taken over.
    }
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
