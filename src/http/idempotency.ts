import { createHash, randomBytes } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
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

/**
 * Idempotency for endpoints the engine does not cover (validations, API keys): the
 * first answer is stored and replayed. Concurrent retries in this process wait for the first.
 */
export class StoredReplies {
  private readonly inflight = new Map<string, Promise<HttpReply>>();
  private seal: ReplySeal | null = null;

  constructor(
    private readonly store: Store,
    private readonly now: () => number,
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
    const prev = await this.store.getIdempotency(key);
    if (prev) return this.replay(prev, fingerprint);
    return this.record(key, fingerprint, produce, secret);
  }

  private async record(key: string, fingerprint: string, produce: () => Promise<HttpReply>, secret: boolean) {
    const reply = await produce();
    const result: StoredReply = secret ? { sealed: (await this.sealer()).seal(reply) } : { http: reply };
    const stored = await this.store.putIdempotency({ key, fingerprint, result, created_at_ms: this.now() });
    return this.replay(stored, fingerprint);
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
