import type { FastifyInstance } from 'fastify';
import { redeemInputOf } from '../redeem-input.ts';
import { RedemptionCreate, ValidationView } from '../redemption-schemas.ts';
import { errorResponses, IdempotencyHeaders } from '../schemas.ts';
import type { TypeBoxProvider } from '../validator.ts';
import type { RouteDeps } from './deps.ts';

export async function validationRoutes(base: FastifyInstance, deps: RouteDeps): Promise<void> {
  const app = base.withTypeProvider<TypeBoxProvider>();
  app.post(
    '/v1/validations',
    {
      config: { scopes: ['checkout'] },
      schema: {
        tags: ['coupons'],
        summary: 'Dry run of a redemption: would it pass, and for how much? Changes nothing.',
        headers: IdempotencyHeaders,
        body: RedemptionCreate,
        response: { 200: ValidationView, ...errorResponses },
      },
    },
    async (request, reply) => {
      const input = redeemInputOf(request.body);
      const answer = await deps.replies.once(request, async () => ({
        status: 200,
        body: await deps.engine.validate(input),
      }));
      return reply.code(answer.status).send(answer.body);
    },
  );
}
