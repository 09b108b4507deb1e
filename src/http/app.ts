import { fastifySwagger } from '@fastify/swagger';
import { fastifySwaggerUi } from '@fastify/swagger-ui';
import { type FastifyBaseLogger, type FastifyInstance, fastify, LogController } from 'fastify';
import { limits } from '../config/limits.ts';
import type { Engine } from '../engine/engine.ts';
import { authHook } from './auth.ts';
import { installErrorHandling, sendError } from './errors.ts';
import { StoredReplies } from './idempotency.ts';
import { HttpMetrics } from './metrics.ts';
import { requestIdOf } from './request-id.ts';
import { apiKeyRoutes } from './routes/api-keys.ts';
import { campaignRoutes } from './routes/campaigns.ts';
import { claimRoutes } from './routes/claims.ts';
import type { RouteDeps } from './routes/deps.ts';
import { opsRoutes } from './routes/ops.ts';
import { redemptionRoutes } from './routes/redemptions.ts';
import { validationRoutes } from './routes/validations.ts';
import { typeBoxValidatorCompiler } from './validator.ts';

export interface AppOptions {
  engine: Engine;
  /** A pino logger (see logger.ts); none: silent. */
  logger?: FastifyBaseLogger;
  /** Trust X-Forwarded-For from a proxy in front (request.ip). */
  trust_proxy?: boolean;
  /** Node process metrics (event loop, memory, GC) on /metrics. */
  process_metrics?: boolean;
}

const openapi = {
  openapi: {
    openapi: '3.1.0',
    info: { title: 'Vouchsafe', version: '1', description: 'A coupon engine that cannot leak money. See API.md.' },
    components: { securitySchemes: { bearer: { type: 'http' as const, scheme: 'bearer' } } },
    security: [{ bearer: [] }],
  },
};

function baseInstance(opts: AppOptions): FastifyInstance {
  return fastify({
    ...(opts.logger ? { loggerInstance: opts.logger } : { logger: false }),
    bodyLimit: limits.body_bytes_max,
    genReqId: requestIdOf,
    requestIdHeader: false,
    logController: new LogController({ requestIdLogLabel: 'request_id' }),
    trustProxy: opts.trust_proxy ?? false,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    frameworkErrors: (err, request, reply) => {
      sendError(request, reply, err);
    },
  });
}

/** The HTTP app over one engine. Routes get the engine as a plugin option, never a global. */
export function buildApp(opts: AppOptions): FastifyInstance {
  const app = baseInstance(opts);
  const metrics = new HttpMetrics(opts.engine, { process_metrics: opts.process_metrics ?? false });
  const deps: RouteDeps = {
    engine: opts.engine,
    metrics,
    replies: new StoredReplies(opts.engine.store, () => opts.engine.now()),
  };
  app.decorateRequest('api_key', null);
  app.setValidatorCompiler(typeBoxValidatorCompiler);
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  installErrorHandling(app);
  app.addHook('onRequest', authHook(opts.engine.store));
  app.addHook('preValidation', async (request) => {
    if (request.method === 'POST' && request.body === undefined) request.body = {};
  });
  // While closing, answers end their connection, so keep-alive clients do not hold shutdown open.
  let draining = false;
  app.addHook('preClose', async () => {
    draining = true;
  });
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
    if (draining) reply.header('connection', 'close');
    if (request.url.startsWith('/v1/')) reply.header('cache-control', 'no-store');
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.is404 ? 'unmatched' : (request.routeOptions.url ?? 'unmatched');
    metrics.observeRequest(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
  });
  app.register(fastifySwagger, openapi);
  app.register(fastifySwaggerUi, { routePrefix: '/docs' });
  app.register(opsRoutes, { ...deps, openapi: () => app.swagger() });
  app.register(campaignRoutes, deps);
  app.register(claimRoutes, deps);
  app.register(validationRoutes, deps);
  app.register(redemptionRoutes, deps);
  app.register(apiKeyRoutes, deps);
  return app;
}
