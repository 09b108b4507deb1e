import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { revokeApiKey } from '../api-key-lifecycle.ts';
import type { Scope } from '../api-keys.ts';
import { forgetCachedKey, keyOf } from '../auth.ts';
import { ApiScope, errorResponses, IdempotencyHeaders, IdParams } from '../schemas.ts';
import { formatNullableTimestamp, formatTimestamp } from '../time.ts';
import type { TypeBoxProvider } from '../validator.ts';
import type { RouteDeps } from './deps.ts';

/** A key as it can be shown after creation: never its secret or its hash. */
export const ApiKeyView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  scopes: Type.Array(ApiScope),
  created_at: Type.String(),
  revoked_at: Type.Union([Type.String(), Type.Null()]),
});

/** `POST /v1/api-keys/{id}/revoke` (admin): the key stops working at once on this node. */
export async function apiKeyRevokeRoutes(base: FastifyInstance, deps: RouteDeps): Promise<void> {
  const app = base.withTypeProvider<TypeBoxProvider>();
  const { engine } = deps;
  app.post(
    '/v1/api-keys/:id/revoke',
    {
      schema: {
        tags: ['keys'],
        summary: 'Revoke an API key (admin); requests with it are 401 from then on',
        headers: IdempotencyHeaders,
        params: IdParams,
        response: { 200: ApiKeyView, ...errorResponses },
      },
    },
    async (request, reply) => {
      const actor = keyOf(request).id;
      const answer = await deps.replies.once(request, async () => {
        const k = await revokeApiKey(engine.store, request.params.id, engine.now(), actor);
        forgetCachedKey(engine.store, k.hash);
        const body = {
          id: k.id,
          name: k.name,
          scopes: k.scopes as Scope[],
          created_at: formatTimestamp(k.created_at_ms),
          revoked_at: formatNullableTimestamp(k.revoked_at_ms),
        };
        return { status: 200, body };
      });
      return reply.code(answer.status).send(answer.body);
    },
  );
}
