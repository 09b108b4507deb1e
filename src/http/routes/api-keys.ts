import type { FastifyInstance } from 'fastify';
import { createApiKey } from '../api-keys.ts';
import { keyOf } from '../auth.ts';
import { ApiKeyCreate, ApiKeyCreatedView, errorResponses, IdempotencyHeaders } from '../schemas.ts';
import { formatTimestamp } from '../time.ts';
import type { TypeBoxProvider } from '../validator.ts';
import type { RouteDeps } from './deps.ts';

export async function apiKeyRoutes(base: FastifyInstance, deps: RouteDeps): Promise<void> {
  const app = base.withTypeProvider<TypeBoxProvider>();
  const { engine } = deps;
  app.post(
    '/v1/api-keys',
    {
      schema: {
        tags: ['keys'],
        summary: 'Create an API key (admin); the key is shown only in this answer',
        headers: IdempotencyHeaders,
        body: ApiKeyCreate,
        response: { 201: ApiKeyCreatedView, ...errorResponses },
      },
    },
    async (request, reply) => {
      const actor = keyOf(request).id;
      const answer = await deps.replies.once(
        request,
        async () => {
          const { record, secret } = await createApiKey(engine.store, engine.ids, engine.now(), {
            name: request.body.name,
            scopes: request.body.scopes,
            actor,
          });
          const body = {
            id: record.id,
            key: secret,
            name: record.name,
            scopes: request.body.scopes,
            created_at: formatTimestamp(record.created_at_ms),
          };
          return { status: 201, body };
        },
        { secret: true },
      );
      return reply.code(answer.status).send(answer.body);
    },
  );
}
