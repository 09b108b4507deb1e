import type { FastifyInstance } from 'fastify';
import { actorOf } from '../idempotency.ts';
import { ClaimCreate, CouponView } from '../redemption-schemas.ts';
import { errorResponses, IdempotencyHeaders } from '../schemas.ts';
import type { TypeBoxProvider } from '../validator.ts';
import { couponView } from '../views.ts';
import type { RouteDeps } from './deps.ts';

export async function claimRoutes(base: FastifyInstance, deps: RouteDeps): Promise<void> {
  const app = base.withTypeProvider<TypeBoxProvider>();
  app.post(
    '/v1/claims',
    {
      config: { scopes: ['checkout'] },
      schema: {
        tags: ['coupons'],
        summary: 'Claim a coupon of a claim-mode campaign for a user',
        headers: IdempotencyHeaders,
        body: ClaimCreate,
        response: { 201: CouponView, ...errorResponses },
      },
    },
    async (request, reply) => {
      const coupon = await deps.engine.claim(request.body, actorOf(request));
      return reply.code(201).send(couponView(coupon));
    },
  );
}
