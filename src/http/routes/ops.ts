import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxProvider } from '../validator.ts';
import type { RouteDeps } from './deps.ts';

export interface OpsDeps extends RouteDeps {
  openapi: () => unknown;
}

/**
 * Operational endpoints: health and the OpenAPI document need no key; Prometheus metrics need a
 * read (or admin) key, since they show every campaign's budget and the traffic by route.
 */
export async function opsRoutes(base: FastifyInstance, deps: OpsDeps): Promise<void> {
  const app = base.withTypeProvider<TypeBoxProvider>();
  app.get(
    '/healthz',
    {
      schema: {
        tags: ['ops'],
        summary: 'Liveness',
        security: [],
        response: { 200: Type.Object({ ok: Type.Boolean() }) },
      },
    },
    async () => ({ ok: true }),
  );
  app.get(
    '/metrics',
    { schema: { hide: true }, config: { scopes: ['read'], key_required: true } },
    async (_request, reply) => {
      const text = await deps.metrics.text();
      return reply.type(deps.metrics.contentType).send(text);
    },
  );
  app.get('/openapi.json', { schema: { hide: true } }, async () => deps.openapi());
}
