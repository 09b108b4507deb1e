import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { limits } from '../config/limits.ts';
import { Rejection } from '../domain/errors.ts';
import type { Clock } from '../engine/clock.ts';
import { MemoryCounters } from '../engine/counters.ts';

export interface HardeningOptions {
  clock: Clock;
  /** Requests being served at once before new ones are shed with 503 overloaded. */
  inflight_max?: number;
  /** Failed authentications per IP and window before the IP is refused with 429. */
  auth_failures_max?: number;
}

/**
 * Headers for the API's JSON answers: nothing may sniff, frame or embed them, and no
 * referrer leaks. A header a route already set (the console's helmet CSP, Swagger UI's) stays.
 * No CORS header is ever added: browsers on other origins cannot call the API.
 */
const apiHeaders: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
  'cross-origin-opener-policy': 'same-origin',
  'strict-transport-security': 'max-age=15552000; includeSubDomains',
};

/** JSON and plain text never run scripts or load anything; HTML pages (console, docs) bring their own policy. */
const dataPolicy = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

function setSecurityHeaders(reply: FastifyReply): void {
  for (const [name, value] of Object.entries(apiHeaders)) if (!reply.hasHeader(name)) reply.header(name, value);
  const type = String(reply.getHeader('content-type') ?? '');
  if (!reply.hasHeader('content-security-policy') && !type.startsWith('text/html')) {
    reply.header('content-security-policy', dataPolicy);
  }
}

function authWindowKey(ip: string, now_ms: number): { key: string; window_ms: number; resets_at_ms: number } {
  const window_ms = limits.auth_failure_window_ms;
  const start_ms = now_ms - (now_ms % window_ms);
  return { key: `auth:${start_ms}:${ip}`, window_ms, resets_at_ms: start_ms + window_ms };
}

/**
 * Load shedding at the edge: every request counts until its response is finished or its
 * client is gone, so a slow store cannot pile up requests without bound in front of the
 * engine's own bounded queue.
 */
function limitInflight(app: FastifyInstance, inflight_max: number): void {
  let inflight = 0;
  const counted = new WeakSet<FastifyRequest>();
  app.addHook('onRequest', async (request, reply) => {
    if (inflight >= inflight_max) {
      throw new Rejection('overloaded', 'too many requests in progress; retry shortly', undefined, 1);
    }
    inflight++;
    counted.add(request);
    reply.raw.once('close', () => {
      if (counted.delete(request)) inflight--;
    });
  });
}

/**
 * Refuses an IP that keeps presenting wrong keys (429 rate_limited, Retry-After until its
 * window resets). Counts 401 answers per IP in fixed windows; memory is bounded by
 * MemoryCounters' key cap. Behind a proxy, set trust_proxy so the client's IP is counted.
 */
function limitAuthFailures(app: FastifyInstance, clock: Clock, failures_max: number): void {
  const counters = new MemoryCounters(clock, limits.auth_failure_ips_max);
  app.addHook('onRequest', async (request) => {
    if (!request.url.startsWith('/v1/')) return;
    const w = authWindowKey(request.ip, clock.now());
    const [failures = 0] = await counters.get([w]);
    if (failures < failures_max) return;
    const retry_after_s = Math.max(1, Math.ceil((w.resets_at_ms - clock.now()) / 1000));
    throw new Rejection('rate_limited', 'too many failed authentications from this address', undefined, retry_after_s);
  });
  app.addHook('onResponse', async (request, reply) => {
    if (reply.statusCode === 401) await counters.incr([authWindowKey(request.ip, clock.now())]);
  });
}

/** Security headers, edge load shedding and failed-auth limiting; install before the auth hook. */
export function installHardening(app: FastifyInstance, opts: HardeningOptions): void {
  limitInflight(app, opts.inflight_max ?? limits.http_inflight_max);
  limitAuthFailures(app, opts.clock, opts.auth_failures_max ?? limits.auth_failures_per_window_max);
  app.addHook('onSend', async (_request, reply) => {
    setSecurityHeaders(reply);
  });
}
