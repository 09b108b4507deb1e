import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { limits } from '../config/limits.ts';
import { Rejection } from '../domain/errors.ts';
import type { Clock } from '../engine/clock.ts';
import { MemoryCounters } from '../engine/counters.ts';
import { needsKey } from './auth.ts';

export interface HardeningOptions {
  clock: Clock;
  /** Authenticated requests (body read) being served at once before new ones are shed with 503 overloaded. */
  inflight_max?: number;
  /** Failed authentications per IP and window before the IP is refused with 429. */
  auth_failures_max?: number;
  /** A caller not refused for its address's failed authentications (a key this node found valid). */
  trusted?: (request: FastifyRequest) => boolean;
}

/**
 * Headers for the API's JSON answers: nothing may sniff, frame or embed them, and no
 * referrer leaks. A header a route already set (the console's helmet CSP, Swagger UI's) stays.
 * No CORS header is ever added: browsers on other origins cannot call the API.
 */
const apiHeaders: ReadonlyArray<readonly [string, string]> = [
  ['x-content-type-options', 'nosniff'],
  ['x-frame-options', 'DENY'],
  ['referrer-policy', 'no-referrer'],
  ['cross-origin-resource-policy', 'same-origin'],
  ['cross-origin-opener-policy', 'same-origin'],
  ['strict-transport-security', 'max-age=15552000; includeSubDomains'],
];

/** JSON and plain text never run scripts or load anything; HTML pages (console, docs) bring their own policy. */
const dataPolicy = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/** What node:http's parser may refuse before any route runs, as Node answers each (its clientError default). */
const clientErrorAnswers: Record<string, { status: number; message: string }> = {
  HPE_HEADER_OVERFLOW: {
    status: 431,
    message: 'The request headers are larger than the server accepts (16 KiB in all).',
  },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, message: 'The request did not arrive in time.' },
};

/**
 * Fastify's clientErrorHandler: a request node:http could not parse (a malformed request line,
 * both Content-Length and Transfer-Encoding, headers over 16 KiB) never reaches a route, so it is
 * answered here, in the API's error shape with the API's headers, and the connection closed.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const { status, message } = clientErrorAnswers[err.code ?? ''] ?? {
    status: 400,
    message: 'The request is not valid HTTP/1.1.',
  };
  const body = JSON.stringify({ error: { code: 'invalid_request', message } });
  const head = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
    'connection: close',
    'content-type: application/json; charset=utf-8',
    `content-length: ${Buffer.byteLength(body)}`,
    ...apiHeaders.map(([name, value]) => `${name}: ${value}`),
    `content-security-policy: ${dataPolicy}`,
  ];
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
}

function setSecurityHeaders(reply: FastifyReply): void {
  for (const [name, value] of apiHeaders) if (!reply.hasHeader(name)) reply.header(name, value);
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
 * Load shedding in front of the engine's own bounded queue: a request counts from the moment it
 * is authenticated and its body read (preValidation) until its response is finished or its
 * client is gone (a response emits 'close' exactly once, either way). Requests still arriving,
 * unmatched or needing no key never count: announcing bodies and never sending them fills nothing
 * (the request timeouts in app.ts end those), and /healthz answers however busy the engine is.
 * Shed requests are not logged one by one, which would add work when there is none to spare
 * (/metrics counts them by status): one warning each time shedding starts.
 */
/**
 * An admin pressing the kill switch (a pause, a revoke, the emergency stop, opening an incident): a
 * flood of checkouts is when it is pressed, so the call is neither counted nor shed. Only those
 * routes, and only admin keys (the routes' own scope), so the limit still bounds everything else.
 */
function pressesKillSwitch(request: FastifyRequest): boolean {
  return request.routeOptions.config.kill_switch === true && (request.api_key?.scopes.includes('admin') ?? false);
}

function limitInflight(app: FastifyInstance, inflight_max: number): void {
  let inflight = 0;
  let shedding = false;
  const finished = () => {
    inflight--;
  };
  app.addHook('preValidation', (request, reply, done) => {
    if (request.api_key === null || pressesKillSwitch(request)) return done();
    if (inflight >= inflight_max) {
      if (!shedding) app.log.warn({ inflight_max }, 'overloaded: shedding requests with 503 until some finish');
      shedding = true;
      return done(new Rejection('overloaded', 'too many requests in progress; retry shortly', undefined, 1));
    }
    shedding = false;
    inflight++;
    reply.raw.on('close', finished);
    done();
  });
}

/**
 * Refuses an IP that keeps presenting wrong keys (429 rate_limited, Retry-After until its
 * window resets). Counts 401 answers per IP in fixed windows; memory is bounded by
 * MemoryCounters' key cap. Behind a proxy, set trust_proxy so the client's IP is counted.
 * These counters are this app's alone, so while no 401 has been counted in the current
 * window every count in it is zero and a request needs no lookup.
 */
function limitAuthFailures(
  app: FastifyInstance,
  clock: Clock,
  failures_max: number,
  trusted: (request: FastifyRequest) => boolean,
): void {
  const counters = new MemoryCounters(clock, limits.auth_failure_ips_max);
  let last_failure_ms = Number.NEGATIVE_INFINITY;
  app.addHook('onRequest', (request, _reply, done) => {
    if (!needsKey(request)) return done();
    const w = authWindowKey(request.ip, clock.now());
    if (last_failure_ms < w.resets_at_ms - w.window_ms) return done();
    counters.get([w]).then(([failures = 0]) => {
      if (failures < failures_max || trusted(request)) return done();
      const retry_after_s = Math.max(1, Math.ceil((w.resets_at_ms - clock.now()) / 1000));
      done(
        new Rejection('rate_limited', 'too many failed authentications from this address', undefined, retry_after_s),
      );
    }, done);
  });
  app.addHook('onResponse', (request, reply, done) => {
    if (reply.statusCode !== 401) return done();
    const now_ms = clock.now();
    last_failure_ms = Math.max(last_failure_ms, now_ms);
    counters.incr([authWindowKey(request.ip, now_ms)]).then(() => done(), done);
  });
}

/** Security headers, edge load shedding and failed-auth limiting; install before the auth hook. */
export function installHardening(app: FastifyInstance, opts: HardeningOptions): void {
  limitInflight(app, opts.inflight_max ?? limits.http_inflight_max);
  limitAuthFailures(
    app,
    opts.clock,
    opts.auth_failures_max ?? limits.auth_failures_per_window_max,
    opts.trusted ?? (() => false),
  );
  app.addHook('onSend', (_request, reply, payload, done) => {
    setSecurityHeaders(reply);
    done(null, payload);
  });
}
