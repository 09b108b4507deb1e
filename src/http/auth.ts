import type { FastifyContextConfig, FastifyReply, FastifyRequest } from 'fastify';
import { Rejection } from '../domain/errors.ts';
import type { ApiKeyRecord, Store } from '../store/port.ts';
import { api_key_chars_max, hashApiKey, type Scope, sameHash } from './api-keys.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated key; set for every /v1 route. */
    api_key: ApiKeyRecord | null;
    /** needsKey's answer, kept for the request's other hooks (null until first asked). */
    needs_key: boolean | null;
  }
  interface FastifyContextConfig {
    /** Scopes that may call the route besides admin; none listed: admin only. */
    scopes?: readonly Scope[];
    /** A route outside /v1 that needs a key all the same (/metrics); every /v1 route does. */
    key_required?: boolean;
    /** The kill switch (pause, revoke, emergency stop, opening an incident): an admin's call is never shed. */
    kill_switch?: boolean;
  }
}

const bearer = /^Bearer\s+(\S+)$/i;

function presentedKey(request: FastifyRequest): string {
  const header = request.headers.authorization;
  const m = typeof header === 'string' ? bearer.exec(header) : null;
  const key = m?.[1];
  if (key === undefined) throw new Rejection('unauthenticated', 'send an API key: Authorization: Bearer <key>');
  if (key.length > api_key_chars_max) throw new Rejection('unauthenticated', 'unknown API key');
  return key;
}

/**
 * Key lookups remembered for a second: a hot checkout path then costs no store read per
 * request, and a revocation (CLI or another node) takes effect within key_cache_ms.
 * An entry holds the verdict on the stored record (hash compared in constant time, not
 * revoked), reached again only by the same hash, so a cached request compares nothing more.
 */
export const key_cache_ms = 1000;
const key_cache_entries_max = 10_000;

type CacheEntry = { key: ApiKeyRecord | null; until_ms: number };
const keyCache = new WeakMap<Store, Map<string, CacheEntry>>();

/**
 * Hashes of keys this node has found valid, and not since found revoked. Only a valid key gets
 * in, so guesses cannot crowd them out; the bound is for a store with that many live keys.
 */
const validSeen = new WeakMap<Store, Set<string>>();

/**
 * Keys forgotten on this node so far, per store: a lookup that read the store before a
 * revocation here and answers after it must not put the key back in the cache.
 */
const forgotten = new WeakMap<Store, number>();

/** A key revoked through this node stops working here at once, not a cache second later. */
export function forgetCachedKey(store: Store, hash: string): void {
  forgotten.set(store, (forgotten.get(store) ?? 0) + 1);
  keyCache.get(store)?.delete(hash);
  validSeen.get(store)?.delete(hash);
}

function remember(store: Store, hash: string, valid: boolean): void {
  let seen = validSeen.get(store);
  if (!seen) {
    seen = new Set();
    validSeen.set(store, seen);
  }
  if (!valid) seen.delete(hash);
  else if (!seen.has(hash)) {
    if (seen.size >= key_cache_entries_max) seen.clear();
    seen.add(hash);
  }
}

/**
 * Whether the request presents a key this node has found valid (its last lookup said so, however
 * long ago). Such a caller is not guessing keys: the failed-authentication limit of its address
 * (hardening.ts) lets it through to be authenticated as usual, so workers sharing an address (a
 * host, a NAT, a load balancer) are not locked out by one that sends a revoked key.
 */
export function seenValidKey(store: Store, request: FastifyRequest): boolean {
  let key: string;
  try {
    key = presentedKey(request);
  } catch {
    return false;
  }
  return validSeen.get(store)?.has(hashApiKey(key)) ?? false;
}

function cacheOf(store: Store): Map<string, CacheEntry> {
  let cache = keyCache.get(store);
  if (!cache) {
    cache = new Map();
    keyCache.set(store, cache);
  }
  return cache;
}

/** The stored record if it is this hash's and not revoked; null otherwise. */
function verified(record: ApiKeyRecord | null, hash: string): ApiKeyRecord | null {
  return record && sameHash(record.hash, hash) && record.revoked_at_ms === null ? record : null;
}

function known(key: ApiKeyRecord | null): ApiKeyRecord {
  if (key === null) throw new Rejection('unauthenticated', 'unknown or revoked API key');
  return key;
}

/**
 * Finds the key by its hash and compares the hashes in constant time; revoked keys do not count.
 * Answers at once when the key is cached, so the hot path waits for nothing.
 */
export function authenticate(store: Store, request: FastifyRequest): ApiKeyRecord | Promise<ApiKeyRecord> {
  const hash = hashApiKey(presentedKey(request));
  const cache = cacheOf(store);
  const now_ms = Date.now();
  const hit = cache.get(hash);
  if (hit && hit.until_ms > now_ms) return known(hit.key);
  const forgotten_before = forgotten.get(store) ?? 0;
  return store.findApiKeyByHash(hash).then((record) => {
    const key = verified(record, hash);
    // A key revoked here while this read was under way: this request was read before it, the next ones look again.
    if ((forgotten.get(store) ?? 0) !== forgotten_before) return known(key);
    remember(store, hash, key !== null);
    if (cache.size >= key_cache_entries_max) cache.clear();
    cache.set(hash, { key, until_ms: now_ms + key_cache_ms });
    return known(key);
  });
}

export function hasScope(key: ApiKeyRecord, allowed: readonly Scope[]): boolean {
  return key.scopes.includes('admin') || allowed.some((s) => key.scopes.includes(s));
}

/** Sets the request's key, or throws when the matched route (null: none) does not allow its scopes. */
function admit(request: FastifyRequest, route: { config: FastifyContextConfig } | null, key: ApiKeyRecord): void {
  request.api_key = key;
  if (route !== null && !hasScope(key, route.config.scopes ?? [])) {
    throw new Rejection('forbidden', 'this API key may not call this endpoint');
  }
}

/**
 * Whether the request needs a key: every /v1 route does, and a route whose config says so
 * (key_required). The matched route's pattern decides, not the URL as sent, so no spelling of it
 * (the absolute form `http://host/v1/...`, a percent-encoded `/%76%31/...`) slips past; the
 * failed-authentication limit and `cache-control: no-store` ask the same. An unmatched URL is
 * judged as sent: under /v1 it needs a key (401 before 404), anywhere else it is a 404.
 */
export function needsKey(request: FastifyRequest): boolean {
  // Asked by the limiter, auth and onSend alike: routeOptions builds a new object on every read.
  request.needs_key ??= routeNeedsKey(request);
  return request.needs_key;
}

function routeNeedsKey(request: FastifyRequest): boolean {
  if (request.is404) return request.url.startsWith('/v1/');
  const { url = '', config } = request.routeOptions;
  return url.startsWith('/v1/') || config.key_required === true;
}

/**
 * onRequest: a route that needs a key (needsKey) needs one with one of its scopes (admin always passes).
 * A callback hook, not an async one: a cached key is checked without a promise per request.
 */
export function authHook(store: Store) {
  return (request: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void): void => {
    if (!needsKey(request)) {
      done();
      return;
    }
    const route = request.is404 ? null : request.routeOptions;
    let key: ApiKeyRecord | Promise<ApiKeyRecord>;
    try {
      key = authenticate(store, request);
      if (!(key instanceof Promise)) admit(request, route, key);
    } catch (err) {
      done(err as Error);
      return;
    }
    if (key instanceof Promise) key.then((k) => admit(request, route, k)).then(() => done(), done);
    else done();
  };
}

/** The key of an authenticated route; its absence is a wiring bug. */
export function keyOf(request: FastifyRequest): ApiKeyRecord {
  const key = request.api_key;
  if (key === null) throw new Error('route reached without authentication');
  return key;
}
