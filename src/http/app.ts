import { fastifySwagger, type SwaggerTransformObject } from '@fastify/swagger';
import { fastifySwaggerUi } from '@fastify/swagger-ui';
import {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifySchemaValidationError,
  type FastifyServerOptions,
  fastify,
  LogController,
} from 'fastify';
import type { TrustProxy } from '../config/config.ts';
import { limits } from '../config/limits.ts';
import { Rejection } from '../domain/errors.ts';
import type { Engine } from '../engine/engine.ts';
import { Webhooks } from '../events/webhooks.ts';
import { authHook, needsKey, seenValidKey } from './auth.ts';
import { consoleRoutes } from './console.ts';
import { installErrorHandling, notFoundHook, sendError } from './errors.ts';
import { answerClientError, type HardeningOptions, installHardening } from './hardening.ts';
import { StoredReplies } from './idempotency.ts';
import { HttpMetrics } from './metrics.ts';
import { optionalEmptyBodies } from './openapi-bodies.ts';
import { requestIdOf } from './request-id.ts';
import { alertRoutes } from './routes/alerts.ts';
import { apiKeyRoutes } from './routes/api-keys.ts';
import { auditRoutes } from './routes/audit.ts';
import { campaignLintRoutes } from './routes/campaign-lint.ts';
import { campaignUpdateRoutes } from './routes/campaign-update.ts';
import { campaignRoutes } from './routes/campaigns.ts';
import { claimRoutes } from './routes/claims.ts';
import type { RouteDeps } from './routes/deps.ts';
import { incidentRoutes } from './routes/incidents.ts';
import { opsRoutes } from './routes/ops.ts';
import { redEnvelopeRoutes } from './routes/red-envelopes.ts';
import { redemptionRoutes } from './routes/redemptions.ts';
import { validationRoutes } from './routes/validations.ts';
import { webhookRoutes } from './routes/webhooks.ts';
import { unstorableParam } from './storable-strings.ts';
import { typeBoxValidatorCompiler } from './validator.ts';

export interface AppOptions {
  engine: Engine;
  /** A pino logger (see logger.ts); none: silent. */
  logger?: FastifyBaseLogger;
  /** Which proxies in front may name the client through X-Forwarded-For (request.ip); default none. */
  trust_proxy?: TrustProxy;
  /** Node process metrics (event loop, memory, GC) on /metrics. */
  process_metrics?: boolean;
  /** Edge limits (in-flight requests, failed authentications); defaults from limits.ts. */
  hardening?: Omit<HardeningOptions, 'clock'>;
  /** The webhook service (events/); default: one that refuses private addresses and notifies nobody. */
  webhooks?: Webhooks;
  /** Stored JSON per page of the campaign, incident and audit lists (default limits.list_page_bytes_max). */
  page_bytes_max?: number;
  /** How long a request may take to arrive (see limits.ts); defaults from limits.ts. */
  timeouts?: HttpTimeouts;
}

export interface HttpTimeouts {
  headers_ms: number;
  request_ms: number;
  /** How often node looks for requests past their timeout. */
  check_ms: number;
}

const defaultTimeouts: HttpTimeouts = {
  headers_ms: limits.http_headers_timeout_ms,
  request_ms: limits.http_request_timeout_ms,
  check_ms: limits.http_timeout_check_ms,
};

const openapi = {
  openapi: {
    openapi: '3.1.0',
    info: { title: 'Vouchsafe', version: '1', description: 'A coupon engine that cannot leak money. See API.md.' },
    components: { securitySchemes: { bearer: { type: 'http' as const, scheme: 'bearer' } } },
    security: [{ bearer: [] }],
  },
  transformObject: ((document) =>
    'openapiObject' in document
      ? optionalEmptyBodies(document.openapiObject)
      : document.swaggerObject) satisfies SwaggerTransformObject,
};

/**
 * Swagger UI's pages at /docs: its scripts, styles and images come from this origin (it has no
 * inline script), its "Try it out" calls this origin, and no other site may frame it. Without a
 * policy the page would run whatever a script injected into it loaded, with the admin key a user
 * pasted into its Authorize dialog.
 */
const docsPolicy = [
  "default-src 'self'",
  "script-src 'self'",
  "script-src-attr 'none'",
  // Its bundle sets one inline style (a hash would break with each Swagger UI release); styles
  // cannot run code.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * Fastify's request lines ("incoming request", "request completed") at debug, not info: at the
 * default level the server logs its lifecycle, warnings and errors, not traffic, which
 * Prometheus counts by route and status (and a proxy in front keeps access logs). Two
 * synchronous info lines per request cost more than the checkout route itself.
 * A response that failed to go out is still logged as an error.
 */
class RequestLogController extends LogController {
  override incomingRequest(request: FastifyRequest): void {
    request.log.debug({ req: request }, 'incoming request');
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error) super.requestCompleted(error, request, reply);
    else reply.log.debug({ res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}

function baseInstance(opts: AppOptions): FastifyInstance {
  const trustProxy: FastifyServerOptions['trustProxy'] = opts.trust_proxy ?? false;
  const timeouts = opts.timeouts ?? defaultTimeouts;
  return fastify({
    ...(opts.logger ? { loggerInstance: opts.logger } : { logger: false }),
    bodyLimit: limits.body_bytes_max,
    // A request still arriving past these is answered 408 by answerClientError and its connection
    // closed. No idle timeout on the socket: a request that has arrived may wait for the engine.
    requestTimeout: timeouts.request_ms,
    http: { headersTimeout: timeouts.headers_ms, connectionsCheckingInterval: timeouts.check_ms },
    genReqId: requestIdOf,
    requestIdHeader: false,
    logController: new RequestLogController({ requestIdLogLabel: 'request_id' }),
    trustProxy,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    frameworkErrors: (err, request, reply) => {
      sendError(request, reply, err);
    },
    schemaErrorFormatter: schemaError,
    clientErrorHandler: answerClientError,
    // Requests that arrive while closing are answered by the drain hook below, in the API's error shape.
    return503OnClosing: false,
  });
}

/**
 * The error Fastify raises for a schema failure. errors.ts answers it from its `validation`
 * list; its stack is never read, and capturing one (Fastify's default) cost more than the
 * rest of a rejected request.
 */
export function schemaError(errors: FastifySchemaValidationError[], part: string): Error {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new Error(`${part}: ${errors[0]?.message ?? 'is invalid'}`);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/**
 * Whether the request announced a body that has not all arrived, as when a hook answered first
 * (404, 401, 429, 503). Its connection is then closed after the answer, rather than left to read
 * and throw away up to 1 MiB, or to wait for a body that never comes.
 */
function bodyLeftUnread(request: FastifyRequest): boolean {
  if (request.raw.complete) return false;
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** The HTTP app over one engine. Routes get the engine as a plugin option, never a global. */
export function buildApp(opts: AppOptions): FastifyInstance {
  const app = baseInstance(opts);
  const metrics = new HttpMetrics(opts.engine, { process_metrics: opts.process_metrics ?? false, log: app.log });
  const deps: RouteDeps = {
    engine: opts.engine,
    metrics,
    replies: new StoredReplies(opts.engine.store, () => opts.engine.now()),
    page_bytes_max: opts.page_bytes_max ?? limits.list_page_bytes_max,
  };
  app.decorateRequest('api_key', null);
  app.decorateRequest('needs_key', null);
  app.setValidatorCompiler(typeBoxValidatorCompiler);
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  installErrorHandling(app);
  // While closing, answers end their connection, so keep-alive clients do not hold shutdown open,
  // and a request that arrives meanwhile is shed like any other (503 overloaded, Retry-After):
  // its client retries on another node.
  let draining = false;
  app.addHook('preClose', async () => {
    draining = true;
  });
  // After the last request: answers still being stored (the store failed as they were ready) get a
  // few seconds more before the store closes, so their keys replay rather than run again.
  app.addHook('onClose', async () => {
    await deps.replies.drain(limits.idempotency_drain_ms);
  });
  app.addHook('onRequest', (_request, _reply, done) => {
    if (!draining) return done();
    done(new Rejection('overloaded', 'the server is shutting down; retry shortly', undefined, 1));
  });
  installHardening(app, {
    clock: opts.engine.clock,
    trusted: (request) => seenValidKey(opts.engine.store, request),
    ...(opts.hardening ?? {}),
  });
  app.addHook('onRequest', authHook(opts.engine.store));
  app.addHook('onRequest', notFoundHook);
  // Hooks on every request are callback hooks: an async hook costs a promise per request for nothing.
  app.addHook('preValidation', (request, _reply, done) => {
    if (request.method === 'POST' && request.body === undefined) request.body = {};
    // A NUL in a path or query parameter: refused as a body string would be (storable-strings.ts),
    // before a store is asked about it (PostgreSQL refuses the statement).
    const param = unstorableParam(request.url, request.params, request.query);
    if (param === null) return done();
    done(new Rejection('invalid_request', `${param}: parameters must not contain NUL characters`, param));
  });
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id);
    if (draining || bodyLeftUnread(request)) reply.header('connection', 'close');
    if (needsKey(request)) reply.header('cache-control', 'no-store');
    done(null, payload);
  });
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.is404 ? 'unmatched' : (request.routeOptions.url ?? 'unmatched');
    metrics.observeRequest(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
    done();
  });
  app.register(fastifySwagger, openapi);
  app.register(fastifySwaggerUi, { routePrefix: '/docs', staticCSP: docsPolicy });
  app.register(opsRoutes, { ...deps, openapi: () => app.swagger() });
  app.register(campaignRoutes, deps);
  app.register(campaignLintRoutes, deps);
  app.register(consoleRoutes, {});
  app.register(campaignUpdateRoutes, deps);
  app.register(claimRoutes, deps);
  app.register(validationRoutes, deps);
  app.register(redemptionRoutes, deps);
  app.register(redEnvelopeRoutes, deps);
  app.register(apiKeyRoutes, deps);
  app.register(alertRoutes, deps);
  app.register(incidentRoutes, deps);
  app.register(auditRoutes, deps);
  app.register(webhookRoutes, {
    ...deps,
    webhooks: opts.webhooks ?? new Webhooks(opts.engine, { allow_private: false }),
  });
  return app;
}
